//! `/api/v1/applications` and their permission catalogues: registration (secret shown once),
//! rotation, per-application token lifetimes, service-account roles, and the read-only
//! catalogue of `gatehouse-admin`.

use serde_json::{Value, json};

use crate::common::api::{Api, Cred, expect, ok};
use crate::common::{Backend, ClientAuth, TestServer, Tokens, assert_invalid_client, jwt};

matrix!(
    applications_crud_and_secret_shown_once,
    p18_rotated_secret_replaces_the_old_one_at_once,
    per_application_token_lifetimes,
    catalogue_crud_and_pattern_validation,
    admin_catalogue_and_application_are_builtin,
    a01_service_account_role_grants_read_not_write,
);

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

/// A confidential `client_credentials` application: (id, secret).
async fn service(api: &Api, extra: Value) -> (String, String) {
    let mut body = json!({"name": "Service", "grant_types": ["client_credentials"]});
    for (k, v) in extra.as_object().expect("object") {
        body[k] = v.clone();
    }
    let created = ok(&api.post("/api/v1/applications", &body).await);
    let secret = created["client_secret"]
        .as_str()
        .expect("client_secret in the 201")
        .to_owned();
    (id(&created), secret)
}

async fn cc_token(server: &TestServer, id: &str, secret: &str) -> Tokens {
    Tokens::from_resp(
        server
            .token(
                &ClientAuth::Basic(id.into(), secret.into()),
                &[("grant_type", "client_credentials")],
            )
            .await,
    )
}

async fn applications_crud_and_secret_shown_once(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let created = ok(&api
        .post(
            "/api/v1/applications",
            &json!({
                "name": "Portal",
                "description": "the portal",
                "home_url": "https://portal.example/",
                "redirect_uris": ["https://portal.example/cb"],
                "legacy_callback_urls": ["https://portal.example/s/auth/callback"],
            }),
        )
        .await);
    let app_id = id(&created);
    let secret = created["client_secret"]
        .as_str()
        .expect("secret shown once");
    assert!(secret.len() >= 32);
    assert_eq!(created["tenant_id"], "default");
    assert_eq!(created["public"], false);
    assert_eq!(created["first_party"], true, "super admin default");
    assert_eq!(
        created["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(created["access_token_ttl"], Value::Null);
    let got = ok(&api.get(&format!("/api/v1/applications/{app_id}")).await);
    assert!(got.get("client_secret").is_none() && got.get("secret_hash").is_none());
    assert!(!got.to_string().contains(secret), "{got}");
    assert_eq!(got["legacy_callback_urls"], created["legacy_callback_urls"]);
    let list = ok(&api.get("/api/v1/applications?q=portal").await);
    assert_eq!(list["total"], 1);
    assert!(!list.to_string().contains(secret));
    // the registered client works at the OP (secret + redirect URI)
    let r = server
        .token(
            &ClientAuth::Basic(app_id.clone(), secret.into()),
            &[("grant_type", "client_credentials")],
        )
        .await;
    crate::common::assert_oauth_error(&r, 400, "unauthorized_client");
    // validation mirrors `gatehouse client add`
    for bad in [
        json!({"name": "x", "redirect_uris": ["http://portal.example/cb"]}),
        json!({"name": "x", "redirect_uris": ["https://portal.example/cb#frag"]}),
        json!({"name": "x"}),
        json!({"name": "x", "grant_types": ["password"]}),
        json!({"name": "x", "grant_types": ["client_credentials"], "public": true}),
        json!({"name": "x", "grant_types": ["client_credentials"],
               "legacy_callback_urls": ["http://portal.example/cb"]}),
        json!({"name": "x", "grant_types": ["client_credentials"], "id_token_alg": "HS256"}),
        json!({"name": "", "grant_types": ["client_credentials"]}),
    ] {
        let r = api.post("/api/v1/applications", &bad).await;
        expect(&r, 400, Some("invalid_field"));
    }
    let r = api
        .post(
            "/api/v1/applications",
            &json!({"name": "x", "grant_types": ["client_credentials"], "secret_hash": "x"}),
        )
        .await;
    expect(&r, 400, Some("invalid_body"));
    // a public application has no secret
    let public = ok(&api
        .post(
            "/api/v1/applications",
            &json!({"name": "SPA", "public": true, "redirect_uris": ["http://127.0.0.1:9/cb"]}),
        )
        .await);
    assert_eq!(public["public"], true);
    assert_eq!(public["client_secret"], Value::Null);
    expect(
        &api.post(
            &format!("/api/v1/applications/{}/rotate-secret", id(&public)),
            &json!({}),
        )
        .await,
        409,
        Some("public_client"),
    );
    // update
    let patched = ok(&api
        .patch(
            &format!("/api/v1/applications/{app_id}"),
            &json!({"name": "Portal 2", "legacy_callback_urls": ["http://localhost:8081/cb"]}),
        )
        .await);
    assert_eq!(patched["name"], "Portal 2");
    assert_eq!(patched["description"], "the portal");
    assert_eq!(
        patched["legacy_callback_urls"],
        json!(["http://localhost:8081/cb"])
    );
    let r = api
        .patch(
            &format!("/api/v1/applications/{app_id}"),
            &json!({"public": true}),
        )
        .await;
    expect(&r, 400, Some("invalid_body"));
    let r = api
        .patch(
            &format!("/api/v1/applications/{app_id}"),
            &json!({"redirect_uris": []}),
        )
        .await;
    expect(&r, 400, Some("invalid_field"));
    // delete
    expect(
        &api.delete(&format!("/api/v1/applications/{app_id}")).await,
        204,
        None,
    );
    expect(
        &api.get(&format!("/api/v1/applications/{app_id}")).await,
        404,
        Some("not_found"),
    );
}

async fn p18_rotated_secret_replaces_the_old_one_at_once(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let (app_id, old) = service(&api, json!({})).await;
    cc_token(&server, &app_id, &old).await;
    let rotated = ok(&api
        .post(
            &format!("/api/v1/applications/{app_id}/rotate-secret"),
            &json!({}),
        )
        .await);
    let new = rotated["client_secret"].as_str().expect("new secret");
    assert_ne!(new, old);
    assert_eq!(rotated["client_id"], app_id.as_str());
    let r = server
        .token(
            &ClientAuth::Basic(app_id.clone(), old.clone()),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_invalid_client(&r);
    cc_token(&server, &app_id, new).await;
    let got = ok(&api.get(&format!("/api/v1/applications/{app_id}")).await);
    assert!(got["secret_rotated_at"].as_i64().is_some(), "{got}");
    assert!(!got.to_string().contains(new));
    // disabling stops tokens at once
    ok(&api
        .patch(
            &format!("/api/v1/applications/{app_id}"),
            &json!({"enabled": false}),
        )
        .await);
    let r = server
        .token(
            &ClientAuth::Basic(app_id.clone(), new.into()),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_invalid_client(&r);
}

async fn per_application_token_lifetimes(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let (app_id, secret) = service(&api, json!({"access_token_ttl": 120})).await;
    let t = cc_token(&server, &app_id, &secret).await;
    assert_eq!(t.json["expires_in"], 120);
    let (_, claims) = jwt::decode(&t.access);
    let lifetime = claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat");
    assert_eq!(lifetime, 120, "{claims}");
    // back to the server's default
    let patched = ok(&api
        .patch(
            &format!("/api/v1/applications/{app_id}"),
            &json!({"access_token_ttl": null, "refresh_token_ttl": 3600}),
        )
        .await);
    assert_eq!(patched["access_token_ttl"], Value::Null);
    assert_eq!(patched["refresh_token_ttl"], 3600);
    let t = cc_token(&server, &app_id, &secret).await;
    let (_, claims) = jwt::decode(&t.access);
    let default = claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat");
    assert!(default > 120, "{claims}");
    assert_eq!(t.json["expires_in"], default);
    // an application may only shorten access tokens
    for bad in [
        json!({"access_token_ttl": default + 1}),
        json!({"id_token_ttl": 5}),
    ] {
        let r = api
            .patch(&format!("/api/v1/applications/{app_id}"), &bad)
            .await;
        expect(&r, 400, Some("invalid_field"));
    }
}

async fn catalogue_crud_and_pattern_validation(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let (app_id, _) = service(&api, json!({})).await;
    let base = format!("/api/v1/applications/{app_id}/permissions");
    let root = ok(&api
        .post(
            &base,
            &json!({"code": "/role", "name": "Roles", "kind": "menu",
                    "titles": {"zh-CN": "角色"}, "order": 1}),
        )
        .await);
    let root_id = id(&root);
    assert_eq!(root["parent_id"], "");
    assert_eq!(root["titles"], json!({"zh-CN": "角色"}));
    let child = ok(&api
        .post(
            &base,
            &json!({"code": "/role/user-edit", "kind": "action", "parent_id": root_id,
                    "apis": [{"method": "GET,POST", "path": "/api/user/:id"},
                             {"path": "/api/org/**"}], "order": 2}),
        )
        .await);
    let child_id = id(&child);
    assert_eq!(child["apis"][1], json!({"path": "/api/org/**"}));
    let data = ok(&api
        .post(
            &base,
            &json!({"code": "rule84", "kind": "data", "data_scope": {"org": "own"},
                    "apis": [{"path": "/test/aaaaaaaaaa"}]}),
        )
        .await);
    assert_eq!(data["data_scope"], json!({"org": "own"}));
    // bad patterns and fields
    for (bad, code) in [
        (
            json!({"code": "x1", "apis": [{"path": "no-slash"}]}),
            "invalid_api_pattern",
        ),
        (
            json!({"code": "x1", "apis": [{"path": "/a//b"}]}),
            "invalid_api_pattern",
        ),
        (
            json!({"code": "x1", "apis": [{"method": "FETCH", "path": "/a"}]}),
            "invalid_api_pattern",
        ),
        (
            json!({"code": "x1", "apis": [{"path": "/a", "host": "x"}]}),
            "invalid_body",
        ),
        (json!({"code": "x1", "kind": "page"}), "invalid_field"),
        (
            json!({"code": "x1", "data_scope": {"a": 1}}),
            "invalid_field",
        ),
        (json!({"code": "x 1"}), "invalid_field"),
        (
            json!({"code": "x1", "parent_id": "perm-account"}),
            "invalid_field",
        ),
    ] {
        let r = api.post(&base, &bad).await;
        expect(&r, 400, Some(code));
    }
    let r = api.post(&base, &json!({"code": "/role"})).await;
    expect(&r, 409, Some("permission_code_taken"));
    // flat list by parent then order; nested view
    let flat = ok(&api.get(&base).await);
    assert_eq!(flat["total"], 3);
    let codes: Vec<&str> = flat["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["code"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(codes[2], "/role/user-edit", "{flat}");
    let tree = ok(&api.get(&format!("{base}?tree=true")).await);
    let roots = tree.as_array().expect("tree is an array");
    assert_eq!(roots.len(), 2);
    let role = roots.iter().find(|n| n["code"] == "/role").expect("root");
    assert_eq!(role["children"][0]["id"], child_id.as_str());
    assert_eq!(role["children"][0]["children"], json!([]));
    // update, cycles, delete rules
    let patched = ok(&api
        .patch(
            &format!("{base}/{child_id}"),
            &json!({"name": "Edit users", "apis": [{"method": "DELETE", "path": "/api/user/{id}"}]}),
        )
        .await);
    assert_eq!(patched["name"], "Edit users");
    assert_eq!(patched["code"], "/role/user-edit");
    let r = api
        .patch(
            &format!("{base}/{child_id}"),
            &json!({"apis": [{"path": "x"}]}),
        )
        .await;
    expect(&r, 400, Some("invalid_api_pattern"));
    let r = api
        .patch(
            &format!("{base}/{root_id}"),
            &json!({"parent_id": child_id}),
        )
        .await;
    expect(&r, 409, Some("permission_cycle"));
    let r = api
        .patch(
            &format!("{base}/{}", id(&data)),
            &json!({"data_scope": null}),
        )
        .await;
    assert_eq!(ok(&r)["data_scope"], Value::Null);
    expect(
        &api.delete(&format!("{base}/{root_id}")).await,
        409,
        Some("permission_has_children"),
    );
    let role_id = id(&ok(&api
        .post("/api/v1/roles", &json!({"code": "EDITORS"}))
        .await));
    expect(
        &api.put(
            &format!("/api/v1/roles/{role_id}/permissions/{child_id}"),
            &json!({}),
        )
        .await,
        204,
        None,
    );
    expect(
        &api.delete(&format!("{base}/{child_id}")).await,
        409,
        Some("permission_in_use"),
    );
    expect(
        &api.delete(&format!("{base}/{child_id}?force=true")).await,
        204,
        None,
    );
    assert_eq!(
        ok(&api
            .get(&format!("/api/v1/roles/{role_id}/permissions"))
            .await),
        json!([])
    );
    expect(&api.delete(&format!("{base}/{root_id}")).await, 204, None);
    expect(
        &api.get(&format!("{base}/{root_id}")).await,
        404,
        Some("not_found"),
    );
    // an item is reached through its own application only
    let (other, _) = service(&api, json!({"name": "Other"})).await;
    expect(
        &api.get(&format!(
            "/api/v1/applications/{other}/permissions/{}",
            id(&data)
        ))
        .await,
        404,
        Some("not_found"),
    );
}

async fn admin_catalogue_and_application_are_builtin(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let base = "/api/v1/applications/gatehouse-admin/permissions";
    let flat = ok(&api.get(&format!("{base}?limit=100")).await);
    assert_eq!(flat["total"], 7);
    let tree = ok(&api.get(&format!("{base}?tree=true")).await);
    assert_eq!(tree[0]["code"], "account");
    assert_eq!(tree[0]["children"].as_array().map(Vec::len), Some(6));
    expect(
        &api.post(base, &json!({"code": "account.more"})).await,
        409,
        Some("builtin_catalogue"),
    );
    expect(
        &api.patch(
            &format!("{base}/perm-account"),
            &json!({"apis": [{"path": "/**"}]}),
        )
        .await,
        409,
        Some("builtin_catalogue"),
    );
    expect(
        &api.delete(&format!("{base}/perm-account-user?force=true"))
            .await,
        409,
        Some("builtin_catalogue"),
    );
    let item = ok(&api.get(&format!("{base}/perm-account-user")).await);
    assert_eq!(item["code"], "account.user");
    let app = "/api/v1/applications/gatehouse-admin";
    expect(
        &api.delete(&format!("{app}?force=true")).await,
        409,
        Some("builtin_application"),
    );
    expect(
        &api.patch(app, &json!({"enabled": false})).await,
        409,
        Some("builtin_application"),
    );
    expect(
        &api.post(&format!("{app}/rotate-secret"), &json!({})).await,
        409,
        Some("builtin_application"),
    );
    let renamed = ok(&api
        .patch(app, &json!({"description": "our admin API"}))
        .await);
    assert_eq!(renamed["description"], "our admin API");
    assert_eq!(renamed["builtin"], true);
    assert_eq!(renamed["enabled"], true);
}

async fn a01_service_account_role_grants_read_not_write(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let (app_id, secret) = service(&api, json!({})).await;
    let role_id = id(&ok(&api
        .post("/api/v1/roles", &json!({"code": "READERS"}))
        .await));
    expect(
        &api.put(
            &format!("/api/v1/roles/{role_id}/permissions/perm-account"),
            &json!({}),
        )
        .await,
        204,
        None,
    );
    let roles = format!("/api/v1/applications/{app_id}/roles");
    // no role yet: the service account may do nothing
    let token = cc_token(&server, &app_id, &secret).await.access;
    let svc = api.with(Cred::Bearer(token));
    expect(&svc.get("/api/v1/roles").await, 403, Some("forbidden"));
    expect(
        &api.put(&format!("{roles}/{role_id}"), &json!({})).await,
        204,
        None,
    );
    let held = ok(&api.get(&roles).await);
    assert_eq!(held[0]["id"], role_id.as_str());
    let list = ok(&svc.get("/api/v1/roles").await);
    assert!(list["total"].as_i64().is_some_and(|n| n >= 1), "{list}");
    expect(
        &svc.post("/api/v1/roles", &json!({"code": "MINE"})).await,
        403,
        Some("forbidden"),
    );
    // it cannot hand itself more roles
    expect(
        &svc.put(&format!("{roles}/{role_id}"), &json!({})).await,
        403,
        Some("forbidden"),
    );
    // a role of another tenant cannot be given
    let t = ok(&api
        .post("/api/v1/tenants", &json!({"code": "OT", "name": "Other"}))
        .await);
    let foreign = id(&ok(&api
        .post("/api/v1/roles", &json!({"code": "F", "tenant_id": t["id"]}))
        .await));
    expect(
        &api.put(&format!("{roles}/{foreign}"), &json!({})).await,
        404,
        Some("not_found"),
    );
    // in use: refused without force; with force the token stops working
    expect(
        &api.delete(&format!("/api/v1/applications/{app_id}")).await,
        409,
        Some("application_in_use"),
    );
    expect(&api.delete(&format!("{roles}/{role_id}")).await, 204, None);
    expect(&svc.get("/api/v1/roles").await, 403, Some("forbidden"));
    expect(
        &api.put(&format!("{roles}/{role_id}"), &json!({})).await,
        204,
        None,
    );
    expect(
        &api.delete(&format!("/api/v1/applications/{app_id}?force=true"))
            .await,
        204,
        None,
    );
    expect(&svc.get("/api/v1/roles").await, 401, Some("unauthorized"));
}
