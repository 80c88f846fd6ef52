//! `list` against the plain definition (one `LIKE` query for the page, one for the count) on an
//! SQLite database larger than `WINDOW`, so every plan is taken: trigram and narrow search, the
//! counting shortcuts, in-order walks that fill the page, walks that reach the window edge and
//! fall back (matches all at the other end), and fetch-and-sort. Created-at ties make `id`
//! decide the order.

use super::*;

const USERS: i64 = 7000;

/// The plain definition: the list as it was computed before migration 0004.
async fn reference(
    db: &Db,
    f: &Filter,
    sort: &str,
    dir: &str,
    offset: i64,
    limit: i64,
) -> (i64, Vec<String>) {
    let q =
        f.q.as_deref()
            .filter(|q| !q.is_empty())
            .map(str::to_lowercase);
    let w = conditions(f, q.as_deref(), Search::Like);
    let sql = format!("SELECT COUNT(*) FROM users {}", w.sql());
    let (total,) = w
        .bind_as(sqlx::query_as::<_, (i64,)>(&sql))
        .fetch_one(db.pool())
        .await
        .expect("reference count");
    let n = w.len();
    let sql = format!(
        "SELECT id FROM users {} ORDER BY {sort} {dir}, id {dir} LIMIT ${} OFFSET ${}",
        w.sql(),
        n + 1,
        n + 2
    );
    let ids = w
        .bind_as(sqlx::query_as::<_, (String,)>(&sql))
        .bind(limit)
        .bind(offset)
        .fetch_all(db.pool())
        .await
        .expect("reference page");
    (total, ids.into_iter().map(|(id,)| id).collect())
}

/// `USERS` users through plain SQL (so the triggers of 0004 maintain the index), then updates
/// and soft deletes; groups, a role and a second tenant.
async fn seed(db: &Db) {
    let series = format!(
        "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < {USERS})"
    );
    for sql in [
        "INSERT INTO tenants (id, parent_id, code, name, created_at, updated_at) \
         VALUES ('t2', NULL, 't2', 'T2', 0, 0)"
            .to_owned(),
        "INSERT INTO roles (id, tenant_id, code, created_at, updated_at) \
         VALUES ('r1', 'default', 'R1', 0, 0)"
            .to_owned(),
        "WITH RECURSIVE g(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM g WHERE x < 9) \
         INSERT INTO org_groups (id, tenant_id, name, created_at, updated_at) \
         SELECT 'g' || x, 'default', 'G' || x, 0, 0 FROM g"
            .to_owned(),
        // created_at repeats every 3000 users: ties are broken by id
        format!(
            "{series} INSERT INTO users (id, tenant_id, username, user_type, state, nickname, \
             email, created_at, updated_at, search_text) \
             SELECT printf('u%05d', (x * 7919) % 100000), \
             CASE WHEN x % 5 = 0 THEN 't2' ELSE 'default' END, 'user' || x, \
             CASE WHEN x % 17 = 0 THEN 'ADMIN' ELSE 'MEMBER' END, \
             CASE WHEN x % 7 = 0 THEN 'inactive' ELSE 'active' END, \
             'Nick_' || (x % 50) || '%', 'U' || x || '@Example.com', 1000 + x % 3000, 0, \
             lower('user' || x || ' nick_' || (x % 50) || '% u' || x || '@example.com') FROM s"
        ),
        // the newest users, far from the oldest: ascending walks reach the window edge
        "WITH RECURSIVE l(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM l WHERE x < 300) \
         INSERT INTO users (id, tenant_id, username, created_at, updated_at, search_text) \
         SELECT 'late' || x, 'default', 'late' || x, 5000, 0, 'late' || x FROM l"
            .to_owned(),
        format!(
            "{series} INSERT INTO group_members (group_id, user_id, created_at) \
             SELECT 'g' || (x % 10), printf('u%05d', (x * 7919) % 100000), 0 FROM s"
        ),
        format!(
            "{series} INSERT INTO user_roles (user_id, role_id, created_at) \
             SELECT printf('u%05d', (x * 7919) % 100000), 'r1', 0 FROM s WHERE x % 3 = 0"
        ),
        "UPDATE users SET search_text = 'renamed ' || username \
         WHERE CAST(substr(username, 5) AS INTEGER) % 19 = 0"
            .to_owned(),
        // soft deletes keep memberships here, to show the counts do not rely on their removal
        "UPDATE users SET deleted_at = 1, state = 'inactive' \
         WHERE CAST(substr(username, 5) AS INTEGER) % 13 = 0"
            .to_owned(),
    ] {
        sqlx::query(&sql).execute(db.pool()).await.expect(&sql);
    }
}

#[tokio::test]
async fn list_matches_the_plain_definition_on_every_plan() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::connect(&format!("sqlite://{}/t.db", dir.path().display()))
        .await
        .expect("connect");
    db.migrate().await.expect("migrate");
    seed(&db).await;
    let filter = |q: Option<&str>, group: Option<&str>| Filter {
        q: q.map(str::to_owned),
        group_id: group.map(str::to_owned),
        ..Filter::default()
    };
    let mut filters = vec![
        Filter::default(),
        Filter {
            role_id: Some("r1".into()),
            ..Filter::default()
        },
        Filter {
            state: Some("inactive".into()),
            ..Filter::default()
        },
        Filter {
            user_type: Some("ADMIN".into()),
            q: Some("nick_1".into()),
            ..Filter::default()
        },
        Filter {
            tenants: Some(vec!["t2".into()]),
            q: Some("USER1".into()),
            ..Filter::default()
        },
        Filter {
            tenants: Some(vec![]),
            ..Filter::default()
        },
    ];
    for q in [
        None,
        Some("user1"),
        Some("user123"),
        Some("user6999"),
        Some("renamed"),
        Some("_4%"),
        Some("k_4"),
        Some("4%"),
        Some("%"),
        Some("9"),
        Some("99"),
        Some("zz"),
        Some("late"),
        Some("ate2"),
        Some("@EXAMPLE.COM"),
        Some(""),
    ] {
        for group in [None, Some("g3"), Some("nope")] {
            filters.push(filter(q, group));
        }
    }
    let mut checked = 0;
    for f in &filters {
        for (sort, dir) in [
            ("created_at", "DESC"),
            ("created_at", "ASC"),
            ("username", "ASC"),
        ] {
            for (offset, limit) in [(0, 20), (0, 1), (40, 20), (1990, 20), (6000, 20), (0, 1000)] {
                let want = reference(&db, f, sort, dir, offset, limit).await;
                let (total, users) = list(&db, f, sort, dir, offset, limit).await.expect("list");
                let got = (total, users.into_iter().map(|u| u.id).collect::<Vec<_>>());
                assert_eq!(got, want, "{f:?} {sort} {dir} {offset}+{limit}");
                checked += 1;
            }
        }
    }
    assert!(checked > 700);
    // the index follows later writes too
    sqlx::query("UPDATE users SET search_text = 'zzz top' WHERE username = 'user2'")
        .execute(db.pool())
        .await
        .expect("update");
    let f = filter(Some("zzz"), None);
    let (total, users) = list(&db, &f, "created_at", "DESC", 0, 20)
        .await
        .expect("list");
    assert_eq!((total, users.len()), (1, 1));
    assert_eq!(users[0].username, "user2");
}
