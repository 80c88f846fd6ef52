//! `POST /api/auth/getUser` (every field of seed 002's User, with its type) and
//! `POST /api/auth/getUserDataPerm`, for the token's application; store failures never answer
//! `true`.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{CHECK, Env, check, data, env, id, link, post_json, post_raw, refused};
use crate::common::api::ok;
use crate::common::{Backend, Resp, TestServer, TestUser};

matrix!(
    b8_get_user_has_every_seed_field_with_its_type,
    b8_get_user_for_a_tenant_administrator,
    b9_get_user_data_perm_lists_data_items,
    b8_profile_apis_require_a_live_token,
    a12_store_failure_never_answers_true,
);

const GET_USER: &str = "/api/auth/getUser";
const DATA_PERM: &str = "/api/auth/getUserDataPerm";

/// Every key of seed 002's User object (S002 L633–671 and the sample).
const USER_KEYS: &[&str] = &[
    "_id",
    "token",
    "status",
    "gender",
    "name",
    "isInitial",
    "mobile",
    "email",
    "id",
    "extra",
    "userName",
    "roles",
    "birthday",
    "org",
    "orgName",
    "orgCode",
    "roleNames",
    "roleType",
    "permIdList",
    "permApiList",
    "manageOrgs",
    "mainTenant",
    "tenant",
    "created_at",
    "loginTime",
    "avatar",
    "tenantList",
    "permList",
];

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| {
            s.as_str()
                .unwrap_or_else(|| panic!("not a string: {s}"))
                .to_owned()
        })
        .collect()
}

#[track_caller]
fn assert_iso(v: &Value) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("date is not a string: {v}"));
    let b = s.as_bytes();
    let shape = "dddd-dd-ddTdd:dd:dd.dddZ".as_bytes();
    assert!(
        b.len() == shape.len()
            && b.iter().zip(shape).all(|(c, p)| if *p == b'd' {
                c.is_ascii_digit()
            } else {
                c == p
            }),
        "not ISO-8601 with milliseconds: {s}"
    );
}

/// A user with every profile field, a direct role (ROLE) and membership of `East` (below
/// `Sales`), whose group holds a second role. Returns the user, `(Sales, East)` and that role.
async fn rich_user(e: &Env) -> (TestUser, (String, String), String) {
    let api = &e.api;
    let u = ok(&api
        .post(
            "/api/v1/users",
            &json!({
                "username": "carol", "password": "correct-horse-9", "email": "carol@example.com",
                "phone": "+8613800000000", "name": "Carol C", "realname": "陈卡罗",
                "gender": "F", "birthdate": "1990-02-03",
                "avatar": "https://cdn.example/carol.png", "attrs": {"team": "blue"},
            }),
        )
        .await);
    let user = TestUser {
        id: id(&u),
        username: "carol".into(),
        password: "correct-horse-9".into(),
    };
    link(
        api,
        &format!("/api/v1/roles/{}/members/{}", e.role, user.id),
        true,
    )
    .await;
    let sales = id(&ok(&api
        .post("/api/v1/groups", &json!({"name": "Sales", "code": "S1"}))
        .await));
    let east = id(&ok(&api
        .post(
            "/api/v1/groups",
            &json!({"name": "East", "code": "S1-E", "parent": sales}),
        )
        .await));
    let menu_role = super::role(api, "MENU", "Menus").await;
    link(
        api,
        &format!("/api/v1/groups/{east}/roles/{menu_role}"),
        true,
    )
    .await;
    link(
        api,
        &format!("/api/v1/groups/{east}/members/{}", user.id),
        true,
    )
    .await;
    (user, (sales, east), menu_role)
}

async fn get_user(s: &TestServer, token: &str) -> Value {
    let r = post_json(s, GET_USER, &json!({"token": token})).await;
    let d = data(&r);
    assert_eq!(keys(&d), BTreeSet::from(["user".to_owned()]), "{d}");
    d["user"].clone()
}

async fn b8_get_user_has_every_seed_field_with_its_type(b: Backend) {
    let e = env(b).await;
    let (carol, (sales, east), menu_role) = rich_user(&e).await;
    let t = e.tokens_for(&e.app, &carol).await.access;
    let u = get_user(&e.server, &t).await;
    let want: BTreeSet<String> = USER_KEYS.iter().map(|k| (*k).to_owned()).collect();
    assert_eq!(keys(&u), want, "{u:#}");
    assert_eq!(u["_id"], carol.id.as_str());
    assert_eq!(u["id"], carol.id.as_str());
    assert_eq!(u["token"], t.as_str(), "the presented token is echoed");
    assert_eq!(u["status"], "ENABLE");
    assert_eq!(u["gender"], "F");
    assert_eq!(u["name"], "carol", "name is the username (seed 002)");
    assert_eq!(u["userName"], "陈卡罗", "userName is the real name");
    assert_eq!(u["isInitial"], "N");
    assert_eq!(u["mobile"], "+8613800000000");
    assert_eq!(u["email"], "carol@example.com");
    assert_eq!(u["avatar"], "https://cdn.example/carol.png");
    let extra: Value = serde_json::from_str(u["extra"].as_str().expect("extra is a string"))
        .expect("extra is JSON");
    assert_eq!(extra, json!({"team": "blue"}));
    assert_eq!(u["birthday"], "1990-02-03T00:00:00.000Z");
    assert_iso(&u["created_at"]);
    assert_iso(&u["loginTime"]);
    assert_eq!(u["roleType"], "3", "roleType is a string");
    let roles: BTreeSet<String> = strings(&u["roles"]).into_iter().collect();
    assert_eq!(roles, BTreeSet::from([e.role.clone(), menu_role.clone()]));
    let mut names = strings(&u["roleNames"]);
    names.sort();
    assert_eq!(names, ["App user", "Menus"]);
    assert_eq!(strings(&u["org"]), [east.as_str()]);
    assert_eq!(strings(&u["orgName"]), ["East"]);
    assert_eq!(strings(&u["orgCode"]), ["S1-E"]);
    assert_eq!(u["mainTenant"], "default");
    assert_eq!(strings(&u["tenant"]), ["default"]);
    assert_eq!(u["manageOrgs"], json!([]));
    // permissions of this application only, from the same engine as checkApiByToken
    let codes: BTreeSet<String> = strings(&u["permIdList"]).into_iter().collect();
    let want_codes: BTreeSet<String> = [
        "orders.read",
        "orders.write",
        "user.get",
        "public",
        "/role",
        "/role/user-edit",
        "rule.a",
    ]
    .iter()
    .map(|c| (*c).to_owned())
    .collect();
    assert_eq!(codes, want_codes);
    let apis: BTreeSet<String> = strings(&u["permApiList"]).into_iter().collect();
    let want_apis: BTreeSet<String> = [
        "/api/orders/**",
        "/api/orders/{id}",
        "/api/user/get",
        "/api/public/**",
        "/api/role/user/edit",
        "/test/aaaaaaaaaa",
    ]
    .iter()
    .map(|c| (*c).to_owned())
    .collect();
    assert_eq!(apis, want_apis);
    let perms = u["permList"].as_array().expect("permList");
    assert_eq!(perms.len(), want_codes.len());
    for p in perms {
        assert_eq!(
            keys(p),
            ["_id", "apis", "appId", "extra", "permId"]
                .iter()
                .map(|k| (*k).to_owned())
                .collect::<BTreeSet<_>>()
        );
        assert_eq!(p["appId"], e.app.id.as_str());
        let code = p["permId"].as_str().expect("permId");
        assert_eq!(p["_id"], e.items[code].as_str());
        strings(&p["apis"]);
        let extra: Value =
            serde_json::from_str(p["extra"].as_str().expect("extra is a string")).expect("JSON");
        assert!(extra["kind"].is_string(), "{extra}");
    }
    // tenantList: the org tree is rooted at the tenant, like the seed's sample
    let list = u["tenantList"].as_array().expect("tenantList");
    assert_eq!(list.len(), 1);
    let tl = &list[0];
    assert_eq!(
        keys(tl),
        [
            "fullOrgs",
            "isAdmin",
            "manageOrgs",
            "orgs",
            "roles",
            "tenantId"
        ]
        .iter()
        .map(|k| (*k).to_owned())
        .collect::<BTreeSet<_>>()
    );
    assert_eq!(tl["tenantId"], "default");
    assert_eq!(tl["isAdmin"], false);
    assert_eq!(tl["manageOrgs"], json!([]));
    assert_eq!(tl["fullOrgs"], json!([["default", sales, east]]));
    let org = &tl["orgs"][0];
    assert_eq!(
        org,
        &json!({
            "status": "1", "rootId": "default", "orgType": "dept", "associationRole": menu_role,
            "fullPath": ["default", sales], "_id": east, "name": "East", "code": "S1-E",
        })
    );
    let tl_roles: BTreeSet<String> = strings(&tl["roles"]).into_iter().collect();
    assert_eq!(tl_roles, roles);
    // the profile follows the directory at once
    link(
        &e.api,
        &format!("/api/v1/roles/{}/members/{}", e.role, carol.id),
        false,
    )
    .await;
    let u = get_user(&e.server, &t).await;
    assert_eq!(strings(&u["roles"]), [menu_role]);
    assert_eq!(u["permIdList"], json!([]));
    assert_eq!(u["permApiList"], json!([]));
    assert_eq!(u["permList"], json!([]));
}

async fn b8_get_user_for_a_tenant_administrator(b: Backend) {
    let e = env(b).await;
    let (carol, (sales, _), _) = rich_user(&e).await;
    let r = e
        .api
        .put(
            &format!("/api/v1/tenants/default/members/{}", carol.id),
            &json!({"is_admin": true}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.describe());
    let t = e.tokens_for(&e.app, &carol).await.access;
    let u = get_user(&e.server, &t).await;
    assert_eq!(u["roleType"], "1");
    assert_eq!(u["tenantList"][0]["isAdmin"], true);
    let managed: Vec<&str> = u["manageOrgs"]
        .as_array()
        .expect("manageOrgs")
        .iter()
        .filter_map(|o| o["_id"].as_str())
        .collect();
    assert_eq!(managed, [sales.as_str()], "the tenant's top-level groups");
    assert_eq!(u["tenantList"][0]["manageOrgs"], u["manageOrgs"]);
    // the bootstrap administrator is the super administrator
    let admin = TestUser {
        id: String::new(),
        username: "admin".into(),
        password: crate::common::ADMIN_PASSWORD.into(),
    };
    let t = e.tokens_for(&e.app, &admin).await.access;
    assert_eq!(get_user(&e.server, &t).await["roleType"], "0");
}

async fn b9_get_user_data_perm_lists_data_items(b: Backend) {
    let e = env(b).await;
    let t = e.token().await;
    let r = post_json(&e.server, DATA_PERM, &json!({"token": t})).await;
    assert_eq!(
        data(&r),
        json!({"list": [{
            "_id": e.items["rule.a"], "permissionId": "rule.a", "permissionName": "规则aaaa",
            "api": "/test/aaaaaaaaaa",
        }]})
    );
    // token from the Authorization header; empty body
    let r = Resp::send(
        e.server
            .http
            .post(e.server.url(DATA_PERM))
            .bearer_auth(&t)
            .body(""),
    )
    .await;
    assert_eq!(data(&r)["list"].as_array().map(Vec::len), Some(1));
    // revoking the item from the role empties the list at once
    link(
        &e.api,
        &format!("/api/v1/roles/{}/permissions/{}", e.role, e.items["rule.a"]),
        false,
    )
    .await;
    let r = post_json(&e.server, DATA_PERM, &json!({"token": t})).await;
    assert_eq!(data(&r), json!({"list": []}));
}

async fn b8_profile_apis_require_a_live_token(b: Backend) {
    let e = env(b).await;
    let s = &e.server;
    let t = e.token().await;
    for path in [GET_USER, DATA_PERM] {
        // 100401: no token, unknown, revoked
        refused(&post_json(s, path, &json!({})).await, 200, 100401);
        refused(&post_raw(s, path, "").await, 200, 100401);
        refused(
            &post_json(s, path, &json!({"token": "garbage"})).await,
            200,
            100401,
        );
        refused(&post_raw(s, path, "{").await, 400, 104002);
        refused(
            &post_json(s, path, &json!({"token": t, "x": 1})).await,
            400,
            104002,
        );
        refused(&post_json(s, path, &json!({"token": 5})).await, 400, 104002);
        let r = Resp::send(s.http.post(s.url(path)).header("token", &t).body("{}")).await;
        assert_eq!(r.status, 200, "{}", r.describe());
        assert_eq!(r.json()["code"], 0, "{}", r.describe());
    }
    assert_eq!(s.revoke(&e.app.auth(), &t).await.status, 200);
    for path in [GET_USER, DATA_PERM] {
        refused(&post_json(s, path, &json!({"token": t})).await, 200, 100401);
    }
    // a disabled user's fresh token is refused too
    let t = e.token().await;
    ok(&e
        .api
        .post(&format!("/api/v1/users/{}/disable", e.user.id), &json!({}))
        .await);
    refused(
        &post_json(s, GET_USER, &json!({"token": t})).await,
        200,
        100401,
    );
}

/// Drops a table the permission engine reads, behind the server's back.
async fn break_store(s: &TestServer) {
    use sqlx::{Connection as _, Executor as _};
    if s.db_url.starts_with("sqlite:") {
        let mut c = sqlx::sqlite::SqliteConnection::connect(&s.db_url)
            .await
            .expect("open the SQLite file");
        c.execute("DROP TABLE role_permissions")
            .await
            .expect("drop table");
        let _ = c.close().await;
    } else {
        let mut c = sqlx::postgres::PgConnection::connect(&s.db_url)
            .await
            .expect("connect to PostgreSQL");
        c.execute("DROP TABLE role_permissions CASCADE")
            .await
            .expect("drop table");
        let _ = c.close().await;
    }
}

async fn a12_store_failure_never_answers_true(b: Backend) {
    let e = env(b).await;
    let s = &e.server;
    let t = e.token().await;
    assert!(check(s, &t, "/api/user/get", None).await);
    break_store(s).await;
    // a directory change forces the engine back to the (broken) store
    link(
        &e.api,
        &format!("/api/v1/roles/{}/members/{}", e.role, e.user.id),
        false,
    )
    .await;
    link(
        &e.api,
        &format!("/api/v1/roles/{}/members/{}", e.role, e.user.id),
        true,
    )
    .await;
    for body in [
        json!({"token": t, "apiPath": "/api/user/get"}),
        json!({"token": t, "checks": [{"apiPath": "/api/user/get"}]}),
    ] {
        let r = post_json(s, CHECK, &body).await;
        assert!(r.status >= 500, "{}", r.describe());
        let v = r.json();
        assert_eq!(v["code"], 100503, "{}", r.describe());
        assert!(v["data"].is_null(), "never true: {}", r.describe());
    }
    let r = post_json(s, GET_USER, &json!({"token": t})).await;
    assert!(r.status >= 500, "{}", r.describe());
}
