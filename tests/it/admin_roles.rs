//! `/api/v1/roles`: CRUD, members, grants, and the rules that stop privilege escalation.

use serde_json::json;

use crate::common::api::{Cred, expect, ok};
use crate::common::{Backend, TestServer};

matrix!(
    roles_crud_round_trip,
    a03_role_code_is_immutable,
    roles_in_use_need_force
);

async fn roles_crud_round_trip(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let created = ok(&api
        .post(
            "/api/v1/roles",
            &json!({"code": "EDITOR", "name": "Editor", "description": "edits", "order": 2.5}),
        )
        .await);
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(created["code"], "EDITOR");
    assert_eq!(created["tenant_id"], "default");
    assert_eq!(created["order"], 2.5);
    let got = ok(&api.get(&format!("/api/v1/roles/{id}")).await);
    assert_eq!(got, created);
    let dup = api.post("/api/v1/roles", &json!({"code": "EDITOR"})).await;
    expect(&dup, 409, Some("role_code_taken"));
    let patched = ok(&api
        .patch(&format!("/api/v1/roles/{id}"), &json!({"name": "Editors"}))
        .await);
    assert_eq!(patched["name"], "Editors");
    assert_eq!(patched["description"], "edits");
    let list = ok(&api.get("/api/v1/roles?q=edit").await);
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["id"], id.as_str());
    expect(&api.delete(&format!("/api/v1/roles/{id}")).await, 204, None);
    expect(
        &api.get(&format!("/api/v1/roles/{id}")).await,
        404,
        Some("not_found"),
    );
    // no credentials at all
    let anon = api.with(Cred::None);
    expect(&anon.get("/api/v1/roles").await, 401, Some("unauthorized"));
}

async fn a03_role_code_is_immutable(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let role = ok(&api.post("/api/v1/roles", &json!({"code": "R1"})).await);
    let id = role["id"].as_str().expect("id");
    let r = api
        .patch(&format!("/api/v1/roles/{id}"), &json!({"code": "R2"}))
        .await;
    expect(&r, 400, Some("invalid_field"));
    let r = api
        .patch(
            &format!("/api/v1/roles/{id}"),
            &json!({"tenant_id": "other"}),
        )
        .await;
    expect(&r, 400, Some("invalid_body"));
}

async fn roles_in_use_need_force(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let user = server.user("bob", "correct-horse-9").await;
    let role = ok(&api.post("/api/v1/roles", &json!({"code": "OPS"})).await);
    let id = role["id"].as_str().expect("id");
    expect(
        &api.put(
            &format!("/api/v1/roles/{id}/members/{}", user.id),
            &json!({}),
        )
        .await,
        204,
        None,
    );
    let members = ok(&api.get(&format!("/api/v1/roles/{id}/members")).await);
    assert_eq!(members, json!([user.id]));
    expect(
        &api.delete(&format!("/api/v1/roles/{id}")).await,
        409,
        Some("role_in_use"),
    );
    expect(
        &api.delete(&format!("/api/v1/roles/{id}?force=true")).await,
        204,
        None,
    );
}
