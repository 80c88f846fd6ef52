//! `/api/v1/users`, what a user holds (roles, groups, permissions, API keys) and the rules that
//! stop privilege escalation and data exposure.

use serde_json::json;

use super::{create, id, manager};
use crate::common::api::{Cred, expect, ok};
use crate::common::{Backend, TestServer};

matrix!(
    a02_tenant_admins_see_and_change_only_their_tenant,
    users_roles_groups_and_permissions,
    a03_mass_assignment_and_escalation_refused,
    a04_no_response_carries_a_password_hash,
);

async fn users_roles_groups_and_permissions(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let u = create(&api, json!({"username": "holder", "password": "12345678"})).await;
    let uid = id(&u);
    let direct = ok(&api
        .post("/api/v1/roles", &json!({"code": "DIRECT", "order": 1}))
        .await);
    let via = ok(&api
        .post("/api/v1/roles", &json!({"code": "VIA", "order": 2}))
        .await);
    let r = api
        .put(
            &format!("/api/v1/roles/{}/members/{uid}", id(&direct)),
            &json!({}),
        )
        .await;
    expect(&r, 204, None);
    let r = api
        .put(
            &format!("/api/v1/roles/{}/permissions/perm-account", id(&via)),
            &json!({}),
        )
        .await;
    expect(&r, 204, None);
    let parent = ok(&api.post("/api/v1/groups", &json!({"name": "P"})).await);
    let child = ok(&api
        .post(
            "/api/v1/groups",
            &json!({"name": "C", "parent": id(&parent)}),
        )
        .await);
    let r = api
        .put(
            &format!("/api/v1/groups/{}/roles/{}", id(&parent), id(&via)),
            &json!({}),
        )
        .await;
    expect(&r, 204, None);
    let r = api
        .put(
            &format!("/api/v1/groups/{}/members/{uid}", id(&child)),
            &json!({}),
        )
        .await;
    expect(&r, 204, None);

    let v = ok(&api.get(&format!("/api/v1/users/{uid}/roles")).await);
    assert_eq!(
        v["codes"],
        json!(["MEMBER", "DIRECT", "VIA"]),
        "seed 000: type first"
    );
    assert_eq!(v["roles"][0]["inherited"], false);
    assert_eq!(v["roles"][1]["inherited"], true);
    let g = ok(&api.get(&format!("/api/v1/users/{uid}/groups")).await);
    assert_eq!(g.as_array().map(Vec::len), Some(1));
    assert_eq!(g[0]["id"], child["id"]);
    let p = ok(&api.get(&format!("/api/v1/users/{uid}/permissions")).await);
    assert_eq!(p["application_id"], "gatehouse-admin");
    assert_eq!(p["super_admin"], false);
    let codes: Vec<&str> = p["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["code"].as_str())
        .collect();
    assert_eq!(codes, vec!["account"], "inherited from the parent group");
    let me = ok(&api.get("/api/v1/me").await);
    let admin = ok(&api
        .get(&format!(
            "/api/v1/users/{}/permissions",
            me["id"].as_str().expect("id")
        ))
        .await);
    assert_eq!(admin["super_admin"], true);
    let r = api
        .get(&format!(
            "/api/v1/users/{uid}/permissions?application_id=nope"
        ))
        .await;
    expect(&r, 404, Some("not_found"));
    // the user's API keys, managed by an administrator
    let created = expect(
        &api.post(
            &format!("/api/v1/users/{uid}/api-keys"),
            &json!({"name": "ci"}),
        )
        .await,
        201,
        None,
    );
    let key = created["key"].as_str().expect("key").to_owned();
    let as_user = api.with(Cred::ApiKey(key));
    assert_eq!(ok(&as_user.get("/api/v1/me").await)["id"], uid.as_str());
    let list = ok(&api.get(&format!("/api/v1/users/{uid}/api-keys")).await);
    assert_eq!(list[0]["id"], created["id"]);
    assert!(list[0].get("key").is_none());
    let kid = id(&created);
    expect(
        &api.delete(&format!("/api/v1/users/{uid}/api-keys/{kid}"))
            .await,
        204,
        None,
    );
    expect(&as_user.get("/api/v1/me").await, 401, Some("unauthorized"));
}

async fn a03_mass_assignment_and_escalation_refused(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    for extra in [
        json!({"password_hash": "$argon2id$v=19$x"}),
        json!({"builtin": true}),
        json!({"tenant": "other"}),
        json!({"state": "active"}),
        json!({"roles": ["ADMIN"]}),
        json!({"is_admin": true}),
        json!({"enable": true}),
        json!({"ak": "x"}),
    ] {
        let mut body = json!({"username": "mass", "password": "12345678"});
        body.as_object_mut()
            .expect("obj")
            .extend(extra.as_object().expect("obj").clone());
        expect(
            &api.post("/api/v1/users", &body).await,
            400,
            Some("invalid_body"),
        );
    }
    let target = create(&api, json!({"username": "target", "password": "12345678"})).await;
    let tid = id(&target);
    for body in [
        json!({"tenant_id": "other"}),
        json!({"username": "renamed"}),
        json!({"state": "inactive"}),
        json!({"password": "newpassword"}),
        json!({"builtin": true}),
        json!({"sys_attrs": {"a": 1}}),
    ] {
        let r = api.patch(&format!("/api/v1/users/{tid}"), &body).await;
        expect(&r, 400, Some("invalid_body"));
    }
    // A role-based manager (account + account.user) manages MEMBERs only.
    let (mgr, m) = manager(&server, &api, "mgr", &["perm-account", "perm-account-user"]).await;
    let member = create(&m, json!({"username": "made1", "password": "12345678"})).await;
    assert_eq!(member["type"], "MEMBER");
    let r = m
        .post(
            "/api/v1/users",
            &json!({"username": "made2", "password": "12345678", "type": "ADMIN"}),
        )
        .await;
    expect(&r, 403, Some("forbidden"));
    let r = m
        .patch(
            &format!("/api/v1/users/{}", id(&mgr)),
            &json!({"type": "ADMIN"}),
        )
        .await;
    expect(&r, 403, Some("forbidden"));
    let r = m
        .patch(&format!("/api/v1/users/{tid}"), &json!({"type": "ADMIN"}))
        .await;
    expect(&r, 403, Some("forbidden"));
    let r = m
        .post(&format!("/api/v1/users/{tid}/api-keys"), &json!({}))
        .await;
    expect(&r, 403, Some("forbidden"));
    let r = m
        .put(
            &format!("/api/v1/users/{}/trial", id(&mgr)),
            &json!({"trial_end_at": 0}),
        )
        .await;
    expect(&r, 403, Some("forbidden"));
    // … and cannot touch an administrator (a reset link would hand them the account)
    let boss = create(
        &api,
        json!({"username": "boss", "password": "12345678", "type": "ADMIN"}),
    )
    .await;
    let bid = id(&boss);
    for (method, path) in [
        ("POST", format!("/api/v1/users/{bid}/reset-password")),
        ("POST", format!("/api/v1/users/{bid}/disable")),
        ("PATCH", format!("/api/v1/users/{bid}")),
        ("PATCH", format!("/api/v1/users/{bid}/sys-attrs")),
        ("DELETE", format!("/api/v1/users/{bid}")),
    ] {
        let body = if method == "PATCH" && path.ends_with("sys-attrs") {
            json!({"sys_attrs": {"x": 1}})
        } else if method == "PATCH" {
            json!({"title": "x"})
        } else {
            json!({})
        };
        let r = m.call(method, &path, Some(&body)).await;
        expect(&r, 403, Some("forbidden"));
    }
    assert_eq!(
        ok(&api.get(&format!("/api/v1/users/{bid}")).await)["state"],
        "active"
    );
    // the super administrator may
    let v = ok(&api
        .patch(&format!("/api/v1/users/{tid}"), &json!({"type": "ADMIN"}))
        .await);
    assert_eq!(v["type"], "ADMIN");
    let me = ok(&api.get("/api/v1/me").await);
    let r = m
        .patch(
            &format!("/api/v1/users/{}", me["id"].as_str().expect("id")),
            &json!({"title": "x"}),
        )
        .await;
    expect(&r, 403, Some("forbidden"));
}

async fn a04_no_response_carries_a_password_hash(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let mut bodies = Vec::new();
    let u = api
        .post(
            "/api/v1/users",
            &json!({"username": "h1", "password": "hash-me-please", "email": "h1@example.com"}),
        )
        .await;
    let uid = id(&u.json());
    bodies.push(u.body.clone());
    for r in [
        api.get(&format!("/api/v1/users/{uid}")).await,
        api.get("/api/v1/users").await,
        api.get("/api/v1/users/find?username=h1").await,
        api.post("/api/v1/users/batch-get", &json!({"ids": [uid]}))
            .await,
        api.patch(&format!("/api/v1/users/{uid}"), &json!({"name": "H"}))
            .await,
        api.patch(
            &format!("/api/v1/users/{uid}/attrs"),
            &json!({"attrs": {"a": 1}}),
        )
        .await,
        api.post(&format!("/api/v1/users/{uid}/reset-password"), &json!({}))
            .await,
        api.post(&format!("/api/v1/users/{uid}/disable"), &json!({}))
            .await,
        api.post(&format!("/api/v1/users/{uid}/enable"), &json!({}))
            .await,
        api.get(&format!("/api/v1/users/{uid}/api-keys")).await,
    ] {
        assert!((200..300).contains(&r.status), "{}", r.describe());
        bodies.push(r.body);
    }
    for body in &bodies {
        for needle in [
            "$argon2",
            "$2b$",
            "password_hash",
            "\"password\"",
            "hash-me-please",
            "search_text",
        ] {
            assert!(!body.contains(needle), "{needle} in {body}");
        }
    }
}

async fn a02_tenant_admins_see_and_change_only_their_tenant(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let t = ok(&api
        .post(
            "/api/v1/tenants",
            &json!({"code": "ACMEB", "name": "Acme B"}),
        )
        .await);
    let tb = id(&t);
    let badmin = create(
        &api,
        json!({"username": "badmin", "password": "12345678", "type": "ADMIN", "tenant_id": tb}),
    )
    .await;
    assert_eq!(badmin["tenant_id"], tb.as_str());
    let b_api = api.with(Cred::ApiKey(server.api_key_for("badmin", &tb).await));
    // the same username may exist in both tenants
    let a_user = create(
        &api,
        json!({"username": "dup", "password": "12345678", "sys_attrs": {"k": "v"}}),
    )
    .await;
    let aid = id(&a_user);
    let b_user = create(&b_api, json!({"username": "dup", "password": "12345678"})).await;
    assert_eq!(b_user["tenant_id"], tb.as_str());
    // an administrator of B may make ADMINs of B, never of the default tenant
    create(
        &b_api,
        json!({"username": "badmin2", "password": "12345678", "type": "ADMIN"}),
    )
    .await;
    let r = b_api
        .post(
            "/api/v1/users",
            &json!({"username": "x", "password": "12345678", "tenant_id": "default"}),
        )
        .await;
    expect(&r, 404, Some("not_found"));

    let list = ok(&b_api.get("/api/v1/users?limit=100").await);
    assert_eq!(list["total"], 3);
    assert!(
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|u| u["tenant_id"] == tb.as_str()),
        "{list}"
    );
    expect(
        &b_api.get("/api/v1/users?tenant_id=default").await,
        404,
        Some("not_found"),
    );
    let v = ok(&b_api.get("/api/v1/users/find?username=dup").await);
    assert_eq!(v["id"], b_user["id"]);
    let v = ok(&api.get("/api/v1/users/find?username=dup").await);
    assert_eq!(v["id"], aid.as_str(), "the caller's own tenant first");
    let v = ok(&api
        .get(&format!("/api/v1/users/find?username=dup&tenant_id={tb}"))
        .await);
    assert_eq!(v["id"], b_user["id"]);
    let r = b_api
        .post(
            "/api/v1/users/find-by-sys-attr",
            &json!({"key": "k", "value": "v"}),
        )
        .await;
    expect(&r, 404, Some("not_found"));
    let v = ok(&b_api
        .post("/api/v1/users/batch-get", &json!({"ids": [aid]}))
        .await);
    assert_eq!(v, json!([]));
    // every operation on a user of another tenant is a 404 without effect
    for (method, path, body) in [
        ("GET", format!("/api/v1/users/{aid}"), json!({})),
        (
            "PATCH",
            format!("/api/v1/users/{aid}"),
            json!({"title": "pwned"}),
        ),
        (
            "PATCH",
            format!("/api/v1/users/{aid}/attrs"),
            json!({"attrs": {"p": 1}}),
        ),
        (
            "PATCH",
            format!("/api/v1/users/{aid}/sys-attrs"),
            json!({"sys_attrs": {"p": 1}}),
        ),
        (
            "POST",
            format!("/api/v1/users/{aid}/reset-password"),
            json!({}),
        ),
        ("POST", format!("/api/v1/users/{aid}/disable"), json!({})),
        (
            "PUT",
            format!("/api/v1/users/{aid}/trial"),
            json!({"trial_end_at": 1000}),
        ),
        (
            "POST",
            format!("/api/v1/users/{aid}/revoke-sessions"),
            json!({}),
        ),
        ("GET", format!("/api/v1/users/{aid}/roles"), json!({})),
        ("GET", format!("/api/v1/users/{aid}/groups"), json!({})),
        ("GET", format!("/api/v1/users/{aid}/permissions"), json!({})),
        ("GET", format!("/api/v1/users/{aid}/api-keys"), json!({})),
        ("POST", format!("/api/v1/users/{aid}/api-keys"), json!({})),
        (
            "POST",
            "/api/v1/users/bulk-delete".to_owned(),
            json!({"ids": [aid]}),
        ),
        ("DELETE", format!("/api/v1/users/{aid}"), json!({})),
    ] {
        let r = b_api.call(method, &path, Some(&body)).await;
        expect(&r, 404, Some("not_found"));
    }
    let after = ok(&api.get(&format!("/api/v1/users/{aid}")).await);
    assert_eq!(after["state"], "active");
    assert_eq!(after["title"], serde_json::Value::Null);
    assert_eq!(after["attrs"], json!({}));
    assert_eq!(after["sys_attrs"], json!({"k": "v"}));
    assert_eq!(after["trial_end_at"], serde_json::Value::Null);
    assert_eq!(after["must_change_password"], false);
}
