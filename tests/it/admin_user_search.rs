//! `GET /api/v1/users` search and filters (issue 3): whatever index answers it (SQLite FTS5
//! trigram index or LIKE fallback, PostgreSQL pg_trgm), `q` stays a case-insensitive substring of
//! username, nickname, name, realname, e-mail and phone, with `%`, `_` and `"` taken literally;
//! updated and deleted users are seen at once; totals agree with every filter combination and
//! with the pages, however the page is read (in order, or fetched and sorted).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::common::api::{Api, expect, ok};
use crate::common::{Backend, TestServer, form_encode};

matrix!(
    search_matches_substrings_literally,
    search_follows_updates_and_deletes,
    totals_agree_with_filters_and_pages,
);

async fn create(api: &Api, body: Value) -> String {
    create_full(api, body).await["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

async fn create_full(api: &Api, body: Value) -> Value {
    expect(&api.post("/api/v1/users", &body).await, 201, None)
}

/// The total and the usernames of one list request (`pairs` are query parameters).
async fn list(api: &Api, pairs: &[(&str, &str)]) -> (i64, Vec<String>) {
    let v = ok(&api
        .get(&format!("/api/v1/users?{}", form_encode(pairs)))
        .await);
    let names = v["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|u| u["username"].as_str().expect("username").to_owned())
        .collect();
    (v["total"].as_i64().expect("total"), names)
}

/// Usernames matching `q` (all of them, any order), checked against the total.
async fn search(api: &Api, q: &str) -> BTreeSet<String> {
    let (total, names) = list(api, &[("q", q), ("limit", "1000")]).await;
    assert_eq!(total, names.len() as i64, "q={q:?}");
    names.into_iter().collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

async fn search_matches_substrings_literally(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    for body in [
        json!({"username": "alice01", "password": "12345678", "nickname": "Wonder Girl",
               "name": "Alice Liddell", "email": "alice@wonder.example",
               "phone": "+44 7700 900123"}),
        json!({"username": "bob02", "password": "12345678", "nickname": "Builder",
               "name": "Robert Paulson", "realname": "张三", "email": "bob@fight.example",
               "phone": "+1 555 0100"}),
        json!({"username": "carol03", "password": "12345678", "nickname": "100%_Pure \"Quote\"",
               "name": "Carol", "email": "c_a_r_o_l@x.example", "phone": "13800138000"}),
        json!({"username": "dave04", "password": "12345678", "name": "Dave Grohl",
               "realname": "张三丰", "email": "dave@foo.example"}),
        json!({"username": "erin05", "password": "12345678", "realname": "Ünïcödé ÄRGER"}),
    ] {
        create(&api, body).await;
    }
    let cases: &[(&str, &[&str])] = &[
        // each field, also in the middle of a word
        ("lice0", &["alice01"]),
        ("onder gi", &["alice01"]),
        ("LIDDELL", &["alice01"]),
        ("obert pa", &["bob02"]),
        ("fight.exa", &["bob02"]),
        ("0100", &["bob02"]),
        ("7700 9", &["alice01"]),
        ("uilde", &["bob02"]),
        ("rol", &["carol03"]),
        // fields are joined by one space, as stored
        ("01 won", &["alice01"]),
        // case-insensitive
        ("ALICE@WONDER", &["alice01"]),
        ("bUiLdEr", &["bob02"]),
        // 1 and 2 characters (below the trigram length)
        ("x", &["alice01", "bob02", "carol03", "dave04"]),
        ("X", &["alice01", "bob02", "carol03", "dave04"]),
        ("gr", &["dave04"]),
        // non-ASCII: 1, 2 and 3 characters, and case folding beyond ASCII
        ("张", &["bob02", "dave04"]),
        ("张三", &["bob02", "dave04"]),
        ("张三丰", &["dave04"]),
        ("三丰", &["dave04"]),
        ("ärger", &["erin05"]),
        ("ÄRGER", &["erin05"]),
        ("ünï", &["erin05"]),
        // % _ " \ are plain characters
        ("%", &["carol03"]),
        ("_", &["carol03"]),
        ("0%_p", &["carol03"]),
        ("_a_", &["carol03"]),
        ("a%r", &[]),
        ("e_g", &[]),
        ("l_ddell", &[]),
        ("\"quote\"", &["carol03"]),
        ("\"q", &["carol03"]),
        ("e \"q", &["carol03"]),
        ("\"", &["carol03"]),
        ("\\", &[]),
        ("nobody", &[]),
    ];
    for (q, want) in cases {
        assert_eq!(search(&api, q).await, set(want), "q={q:?}");
    }
    // an FTS query operator inside q is not one
    for q in [
        "alice OR bob",
        "bob*",
        "NEAR(alice bob)",
        "alice AND",
        "^alice",
        "-bob",
    ] {
        assert_eq!(search(&api, q).await, set(&[]), "q={q:?}");
    }
}

async fn search_follows_updates_and_deletes(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let frank = create(
        &api,
        json!({"username": "frank06", "password": "12345678", "nickname": "Oldnick",
               "email": "frank@old.example"}),
    )
    .await;
    let other = create(
        &api,
        json!({"username": "grace07", "password": "12345678", "nickname": "Oldnick Too"}),
    )
    .await;
    assert_eq!(search(&api, "oldnick").await, set(&["frank06", "grace07"]));
    let url = format!("/api/v1/users/{frank}");
    ok(&api
        .patch(
            &url,
            &json!({"nickname": "Newname", "email": "frank@new.example"}),
        )
        .await);
    assert_eq!(search(&api, "oldnick").await, set(&["grace07"]));
    assert_eq!(search(&api, "newname").await, set(&["frank06"]));
    assert_eq!(search(&api, "ewna").await, set(&["frank06"]));
    assert_eq!(search(&api, "@old.").await, set(&[]));
    assert_eq!(search(&api, "@new.").await, set(&["frank06"]));
    assert_eq!(search(&api, "frank06").await, set(&["frank06"]));
    // deleted users are found by nothing, and their name is free again
    expect(&api.delete(&url).await, 204, None);
    for q in ["newname", "frank", "fr", "f"] {
        assert_eq!(search(&api, q).await, set(&[]), "q={q:?}");
    }
    let again = create(
        &api,
        json!({"username": "frank06", "password": "12345678", "nickname": "Reborn"}),
    )
    .await;
    assert_ne!(again, frank);
    assert_eq!(search(&api, "frank06").await, set(&["frank06"]));
    assert_eq!(search(&api, "newname").await, set(&[]));
    assert_eq!(search(&api, "reborn").await, set(&["frank06"]));
    expect(
        &api.delete(&format!("/api/v1/users/{other}")).await,
        204,
        None,
    );
    assert_eq!(search(&api, "oldnick").await, set(&[]));
    let (total, names) = list(&api, &[("limit", "1000")]).await;
    assert_eq!(
        (total, names.len()),
        (2, 2),
        "frank06 (new) and admin: {names:?}"
    );
}

/// One member of the population `totals_agree_with_filters_and_pages` builds.
struct Member {
    name: String,
    /// `(created_at, id)`: the default list order, newest first.
    key: (i64, String),
    tenant: &'static str,
    team: usize,
    in_group: bool,
    in_role: bool,
    inactive: bool,
    admin: bool,
    deleted: bool,
}

async fn totals_agree_with_filters_and_pages(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let acme = ok(&api
        .post("/api/v1/tenants", &json!({"code": "ACME", "name": "Acme"}))
        .await);
    let acme = acme["id"].as_str().expect("tenant id").to_owned();
    let group = ok(&api.post("/api/v1/groups", &json!({"name": "Ops"})).await);
    let group = group["id"].as_str().expect("group id").to_owned();
    let role = ok(&api.post("/api/v1/roles", &json!({"code": "OPS"})).await);
    let role = role["id"].as_str().expect("role id").to_owned();
    let mut people = Vec::new();
    for i in 0..30 {
        let mut m = Member {
            name: format!("member{i:02}"),
            key: (0, String::new()),
            tenant: if i % 4 == 3 { "acme" } else { "default" },
            team: i % 3,
            in_group: i % 2 == 0 && i % 4 != 3,
            in_role: i % 3 == 0 && i % 4 != 3,
            inactive: i % 5 == 0,
            admin: i % 7 == 0,
            deleted: i % 11 == 1,
        };
        let mut body = json!({"username": m.name, "password": "12345678",
            "nickname": format!("Team-{}", m.team),
            "type": if m.admin { "ADMIN" } else { "MEMBER" }});
        if m.tenant == "acme" {
            body["tenant_id"] = json!(acme);
        }
        let created = create_full(&api, body).await;
        let id = created["id"].as_str().expect("id").to_owned();
        m.key = (
            created["created_at"].as_i64().expect("created_at"),
            id.clone(),
        );
        if m.in_group {
            let r = api
                .put(&format!("/api/v1/groups/{group}/members/{id}"), &json!({}))
                .await;
            expect(&r, 204, None);
        }
        if m.in_role {
            let r = api
                .put(&format!("/api/v1/roles/{role}/members/{id}"), &json!({}))
                .await;
            expect(&r, 204, None);
        }
        if m.inactive {
            ok(&api
                .post(&format!("/api/v1/users/{id}/disable"), &json!({}))
                .await);
        }
        if m.deleted {
            expect(&api.delete(&format!("/api/v1/users/{id}")).await, 204, None);
        }
        people.push(m);
    }
    let live: Vec<&Member> = people.iter().filter(|m| !m.deleted).collect();
    type Pick = fn(&Member) -> bool;
    let cases: Vec<(Vec<(&str, String)>, Pick)> = vec![
        (vec![("q", "member".into())], |_| true),
        (vec![("q", "team-1".into())], |m| m.team == 1),
        (vec![("q", "M-2".into())], |m| m.team == 2),
        (vec![("q", "r1".into())], |m| m.name.starts_with("member1")),
        (vec![("group_id", group.clone())], |m| m.in_group),
        (vec![("role_id", role.clone())], |m| m.in_role),
        (vec![("state", "inactive".into())], |m| m.inactive),
        (
            vec![("type", "ADMIN".into()), ("q", "member".into())],
            |m| m.admin,
        ),
        (vec![("tenant_id", acme.clone())], |m| m.tenant == "acme"),
        (
            vec![("group_id", group.clone()), ("q", "team-0".into())],
            |m| m.in_group && m.team == 0,
        ),
        (
            vec![("role_id", role.clone()), ("state", "active".into())],
            |m| m.in_role && !m.inactive,
        ),
        (
            vec![
                ("q", "team".into()),
                ("state", "active".into()),
                ("type", "MEMBER".into()),
            ],
            |m| !m.inactive && !m.admin,
        ),
        (
            vec![("tenant_id", "default".into()), ("q", "am-".into())],
            |m| m.tenant == "default",
        ),
        (
            vec![
                ("group_id", group.clone()),
                ("role_id", role.clone()),
                ("q", "er".into()),
            ],
            |m| m.in_group && m.in_role,
        ),
    ];
    for (params, pick) in &cases {
        let mut want: Vec<&Member> = live.iter().copied().filter(|m| pick(m)).collect();
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        // newest first by default; every page agrees with one request for everything
        want.sort_by(|a, b| b.key.cmp(&a.key));
        let want: Vec<String> = want.iter().map(|m| m.name.clone()).collect();
        let mut all = params.clone();
        all.push(("limit", "1000"));
        let (total, names) = list(&api, &all).await;
        assert_eq!((total, &names), (want.len() as i64, &want), "{params:?}");
        let mut paged = Vec::new();
        for offset in (0..want.len() + 3).step_by(3) {
            let offset = offset.to_string();
            let mut page = params.clone();
            page.extend([("limit", "3"), ("offset", offset.as_str())]);
            let (t, names) = list(&api, &page).await;
            assert_eq!(t, total, "{page:?}");
            paged.extend(names);
        }
        assert_eq!(paged, want, "{params:?} page by page");
        let mut asc = params.clone();
        asc.extend([("order", "asc"), ("limit", "1000")]);
        let (_, names) = list(&api, &asc).await;
        assert_eq!(
            names,
            want.iter().rev().cloned().collect::<Vec<_>>(),
            "{asc:?}"
        );
        let mut by_name = params.clone();
        by_name.extend([("sort", "username"), ("limit", "1000")]);
        let (_, names) = list(&api, &by_name).await;
        let mut sorted = want.clone();
        sorted.sort();
        assert_eq!(names, sorted, "{by_name:?}");
    }
    // no filter: every live user and the bootstrap admin
    let (total, names) = list(&api, &[("limit", "1000")]).await;
    assert_eq!(total, live.len() as i64 + 1);
    assert_eq!(names.len(), live.len() + 1);
    let (total, names) = list(&api, &[("offset", "1000")]).await;
    assert_eq!((total, names.len()), (live.len() as i64 + 1, 0));
}
