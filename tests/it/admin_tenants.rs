//! `/api/v1/tenants`: the tenant tree, refusal to delete non-empty or default tenants,
//! memberships, and tenant isolation of administrators.

use serde_json::{Value, json};

use crate::common::api::{Api, Cred, expect, ok};
use crate::common::{Backend, TestServer};

matrix!(
    tenants_crud_and_tree,
    tenants_refuse_deleting_non_empty_or_default,
    a03_tenant_memberships_and_admin_flags,
    a02_tenant_admin_sees_only_its_tenant
);

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(id)
        .collect()
}

/// A user whose main tenant is `tenant` (via the CLI).
async fn user_in(server: &TestServer, username: &str, tenant: &str) -> String {
    let v = server
        .cli(&[
            "user",
            "add",
            "--username",
            username,
            "--password",
            "tenant-user-pw-1",
            "--tenant",
            tenant,
            "--json",
        ])
        .await;
    assert_eq!(v["tenant_id"], tenant, "{v}");
    v["id"].as_str().expect("user id").to_owned()
}

async fn tenants_crud_and_tree(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let acme = ok(&api
        .post(
            "/api/v1/tenants",
            &json!({"code": "ACME", "name": "Acme Inc", "industry": "tools", "type": "paid",
                    "owner": "admin", "metadata": {"tier": 2}, "description": "makes anvils",
                    "logo": "https://acme.example/logo.png"}),
        )
        .await);
    let acme_id = id(&acme);
    assert_eq!(acme["parent_id"], Value::Null);
    assert_eq!(acme["title"], "Acme Inc", "title defaults to the name");
    assert_eq!(acme["type"], "paid");
    assert_eq!(acme["metadata"], json!({"tier": 2}));
    assert_eq!(acme["applications"], json!([]));
    assert_eq!(
        ok(&api.get(&format!("/api/v1/tenants/{acme_id}")).await)["code"],
        "ACME"
    );
    // uniqueness and field rules
    let r = api
        .post("/api/v1/tenants", &json!({"code": "ACME", "name": "Other"}))
        .await;
    expect(&r, 409, Some("tenant_code_taken"));
    let r = api
        .post(
            "/api/v1/tenants",
            &json!({"code": "OTHER", "name": "Acme Inc"}),
        )
        .await;
    expect(&r, 409, Some("tenant_name_taken"));
    for bad in [
        json!({"code": "AC-ME", "name": "x"}),
        json!({"code": "X1", "name": "x".repeat(33)}),
        json!({"code": "X1", "name": "x", "metadata": [1]}),
        json!({"code": "X1", "name": "x", "logo": "javascript:alert(1)"}),
        json!({"code": "X1", "name": "x", "applications": ["no-such-app"]}),
        json!({"code": "X1", "name": "x", "parent_id": "no-such-tenant"}),
    ] {
        let r = api.post("/api/v1/tenants", &bad).await;
        assert!(matches!(r.status, 400 | 404), "{bad}: {}", r.describe());
    }
    let r = api
        .post(
            "/api/v1/tenants",
            &json!({"code": "X1", "name": "x", "id": "mine"}),
        )
        .await;
    expect(&r, 400, Some("invalid_body"));
    // a tree: ACME > SUB > LEAF
    let sub = ok(&api
        .post(
            "/api/v1/tenants",
            &json!({"code": "SUB", "name": "Acme Sub", "parent_id": acme_id}),
        )
        .await);
    let sub_id = id(&sub);
    let leaf = ok(&api
        .post(
            "/api/v1/tenants",
            &json!({"code": "LEAF", "name": "Acme Leaf", "parent_id": sub_id}),
        )
        .await);
    let leaf_id = id(&leaf);
    let got = ok(&api.get(&format!("/api/v1/tenants/{acme_id}")).await);
    assert_eq!(got["children"][0]["id"], sub_id.as_str());
    assert!(got["children"][0].get("children").is_none(), "{got}");
    let deep = ok(&api
        .get(&format!("/api/v1/tenants/{acme_id}?recursive=true"))
        .await);
    assert_eq!(deep["children"][0]["children"][0]["id"], leaf_id.as_str());
    assert_eq!(deep["children"][0]["children"][0]["children"], json!([]));
    let kids = ok(&api
        .get(&format!("/api/v1/tenants?parent_id={acme_id}"))
        .await);
    assert_eq!(ids(&kids), vec![sub_id.clone()]);
    let top = ok(&api.get("/api/v1/tenants?parent_id=&sort=code").await);
    assert_eq!(ids(&top), vec![acme_id.clone(), "default".to_owned()]);
    let found = ok(&api.get("/api/v1/tenants?q=leaf").await);
    assert_eq!(ids(&found), vec![leaf_id.clone()]);
    // update, then move LEAF to the top of another branch, and refuse a cycle
    let patched = ok(&api
        .patch(
            &format!("/api/v1/tenants/{sub_id}"),
            &json!({"title": "Sub", "metadata": {"a": 1}, "industry": "anvils"}),
        )
        .await);
    assert_eq!(patched["title"], "Sub");
    assert_eq!(patched["metadata"], json!({"a": 1}));
    assert_eq!(patched["name"], "Acme Sub", "absent fields are kept");
    let moved = ok(&api
        .patch(
            &format!("/api/v1/tenants/{leaf_id}"),
            &json!({"parent_id": "default"}),
        )
        .await);
    assert_eq!(moved["parent_id"], "default");
    let r = api
        .patch(
            &format!("/api/v1/tenants/{acme_id}"),
            &json!({"parent_id": sub_id}),
        )
        .await;
    expect(&r, 409, Some("tenant_cycle"));
    let r = api
        .patch("/api/v1/tenants/default", &json!({"code": "main"}))
        .await;
    expect(&r, 400, Some("invalid_field"));
    // enabling an application for the tenant
    let app = ok(&api
        .post(
            "/api/v1/applications",
            &json!({"name": "Svc", "grant_types": ["client_credentials"]}),
        )
        .await);
    let with_app = ok(&api
        .patch(
            &format!("/api/v1/tenants/{sub_id}"),
            &json!({"applications": [app["id"]]}),
        )
        .await);
    assert_eq!(with_app["applications"], json!([app["id"]]));
}

async fn tenants_refuse_deleting_non_empty_or_default(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    expect(
        &api.delete("/api/v1/tenants/default").await,
        409,
        Some("default_tenant"),
    );
    let t = ok(&api
        .post("/api/v1/tenants", &json!({"code": "T1", "name": "T1"}))
        .await);
    let t_id = id(&t);
    let child = ok(&api
        .post(
            "/api/v1/tenants",
            &json!({"code": "T2", "name": "T2", "parent_id": t_id}),
        )
        .await);
    // child tenant
    expect(
        &api.delete(&format!("/api/v1/tenants/{t_id}")).await,
        409,
        Some("tenant_not_empty"),
    );
    expect(
        &api.delete(&format!("/api/v1/tenants/{}", id(&child))).await,
        204,
        None,
    );
    // a role
    let role = ok(&api
        .post("/api/v1/roles", &json!({"code": "R", "tenant_id": t_id}))
        .await);
    expect(
        &api.delete(&format!("/api/v1/tenants/{t_id}")).await,
        409,
        Some("tenant_not_empty"),
    );
    expect(
        &api.delete(&format!("/api/v1/roles/{}", id(&role))).await,
        204,
        None,
    );
    // an application
    let app = ok(&api
        .post(
            "/api/v1/applications",
            &json!({"name": "A", "tenant_id": t_id, "grant_types": ["client_credentials"]}),
        )
        .await);
    expect(
        &api.delete(&format!("/api/v1/tenants/{t_id}")).await,
        409,
        Some("tenant_not_empty"),
    );
    expect(
        &api.delete(&format!("/api/v1/applications/{}", id(&app)))
            .await,
        204,
        None,
    );
    // a user
    user_in(&server, "dora", &t_id).await;
    let r = api.delete(&format!("/api/v1/tenants/{t_id}")).await;
    let problem = expect(&r, 409, Some("tenant_not_empty"));
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("1 users")),
        "{problem}"
    );
    // an empty tenant goes
    let empty = ok(&api
        .post("/api/v1/tenants", &json!({"code": "T3", "name": "T3"}))
        .await);
    expect(
        &api.delete(&format!("/api/v1/tenants/{}", id(&empty))).await,
        204,
        None,
    );
    expect(
        &api.get(&format!("/api/v1/tenants/{}", id(&empty))).await,
        404,
        Some("not_found"),
    );
}

async fn a03_tenant_memberships_and_admin_flags(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let t = ok(&api
        .post("/api/v1/tenants", &json!({"code": "TM", "name": "TM"}))
        .await);
    let t_id = id(&t);
    let carol = server.user("carol", "carol-pass-123").await;
    let path = format!("/api/v1/tenants/{t_id}/members/{}", carol.id);
    expect(&api.put(&path, &json!({})).await, 204, None);
    let members = ok(&api.get(&format!("/api/v1/tenants/{t_id}/members")).await);
    assert_eq!(members["total"], 1);
    assert_eq!(
        members["items"][0],
        json!({"user_id": carol.id, "username": "carol", "main": false, "is_admin": false})
    );
    expect(&api.put(&path, &json!({"is_admin": true})).await, 204, None);
    let members = ok(&api.get(&format!("/api/v1/tenants/{t_id}/members")).await);
    assert_eq!(members["items"][0]["is_admin"], true);
    expect(
        &api.put(&path, &json!({"is_admin": true, "main": true}))
            .await,
        400,
        Some("invalid_body"),
    );
    // the main tenant cannot be left; default's members include carol as main
    let main = ok(&api.get("/api/v1/tenants/default/members?limit=100").await);
    assert!(
        main["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|m| m["user_id"] == carol.id.as_str() && m["main"] == true),
        "{main}"
    );
    expect(
        &api.delete(&format!("/api/v1/tenants/default/members/{}", carol.id))
            .await,
        409,
        Some("main_tenant"),
    );
    // carol, an admin of TM, cannot change her own membership
    let carol_api = Api::new(
        &server,
        Cred::ApiKey(server.api_key_for("carol", "default").await),
    );
    expect(
        &carol_api.put(&path, &json!({"is_admin": false})).await,
        403,
        Some("forbidden"),
    );
    expect(&carol_api.delete(&path).await, 403, Some("forbidden"));
    // leaving a tenant drops the roles held there
    let role = ok(&api
        .post("/api/v1/roles", &json!({"code": "TMR", "tenant_id": t_id}))
        .await);
    let role_members = format!("/api/v1/roles/{}/members", id(&role));
    expect(
        &api.put(&format!("{role_members}/{}", carol.id), &json!({}))
            .await,
        204,
        None,
    );
    assert_eq!(ok(&api.get(&role_members).await), json!([carol.id]));
    expect(&api.delete(&path).await, 204, None);
    assert_eq!(ok(&api.get(&role_members).await), json!([]));
    expect(&api.delete(&path).await, 404, Some("not_found"));
    let members = ok(&api.get(&format!("/api/v1/tenants/{t_id}/members")).await);
    assert_eq!(members["total"], 0);
    // carol lost the admin rights the membership gave her
    expect(
        &carol_api.get(&format!("/api/v1/tenants/{t_id}")).await,
        403,
        Some("forbidden"),
    );
}

async fn a02_tenant_admin_sees_only_its_tenant(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let admin = server.admin_api().await;
    let tb = ok(&admin
        .post(
            "/api/v1/tenants",
            &json!({"code": "TB", "name": "Tenant B"}),
        )
        .await);
    let b_id = id(&tb);
    let bob = user_in(&server, "bob", &b_id).await;
    expect(
        &admin
            .put(
                &format!("/api/v1/tenants/{b_id}/members/{bob}"),
                &json!({"is_admin": true}),
            )
            .await,
        204,
        None,
    );
    let bob_api = Api::new(
        &server,
        Cred::ApiKey(server.api_key_for("bob", &b_id).await),
    );
    // objects of tenant A (the default tenant)
    let a_role = id(&ok(&admin
        .post("/api/v1/roles", &json!({"code": "AROLE"}))
        .await));
    let a_app = id(&ok(&admin
        .post(
            "/api/v1/applications",
            &json!({"name": "A app", "grant_types": ["client_credentials"]}),
        )
        .await));
    // objects of tenant B, made by bob
    let b_role = ok(&bob_api
        .post("/api/v1/roles", &json!({"code": "BROLE"}))
        .await);
    assert_eq!(b_role["tenant_id"], b_id.as_str());
    let b_app = ok(&bob_api
        .post(
            "/api/v1/applications",
            &json!({"name": "B app", "grant_types": ["client_credentials"]}),
        )
        .await);
    assert_eq!(b_app["tenant_id"], b_id.as_str());
    assert_eq!(b_app["first_party"], false, "{b_app}");
    let r = bob_api
        .post(
            "/api/v1/applications",
            &json!({"name": "B2", "grant_types": ["client_credentials"], "first_party": true}),
        )
        .await;
    expect(&r, 403, Some("forbidden"));
    // A's objects are 404 to bob, whatever the method
    for (method, path) in [
        ("GET", format!("/api/v1/roles/{a_role}")),
        ("PATCH", format!("/api/v1/roles/{a_role}")),
        ("DELETE", format!("/api/v1/roles/{a_role}")),
        ("GET", format!("/api/v1/applications/{a_app}")),
        ("PATCH", format!("/api/v1/applications/{a_app}")),
        ("DELETE", format!("/api/v1/applications/{a_app}")),
        (
            "POST",
            format!("/api/v1/applications/{a_app}/rotate-secret"),
        ),
        ("GET", format!("/api/v1/applications/{a_app}/roles")),
        ("GET", format!("/api/v1/applications/{a_app}/permissions")),
        ("POST", format!("/api/v1/applications/{a_app}/permissions")),
        ("GET", "/api/v1/tenants/default".to_owned()),
        ("PATCH", "/api/v1/tenants/default".to_owned()),
        ("GET", "/api/v1/tenants/default/members".to_owned()),
        ("GET", "/api/v1/roles?tenant_id=default".to_owned()),
        ("GET", "/api/v1/applications/gatehouse-admin".to_owned()),
    ] {
        let body = if path.ends_with("/permissions") {
            json!({"code": "x1"})
        } else {
            json!({})
        };
        let r = bob_api.call(method, &path, Some(&body)).await;
        assert_eq!(r.status, 404, "{method} {path}\n{}", r.describe());
    }
    // … and still exist for the super administrator
    ok(&admin.get(&format!("/api/v1/applications/{a_app}")).await);
    ok(&admin.get(&format!("/api/v1/roles/{a_role}")).await);
    // lists: bob sees B only, the super administrator both
    let tenants = ok(&bob_api.get("/api/v1/tenants").await);
    assert_eq!(ids(&tenants), vec![b_id.clone()]);
    assert_eq!(tenants["total"], 1);
    let roles = ok(&bob_api.get("/api/v1/roles").await);
    assert_eq!(ids(&roles), vec![id(&b_role)]);
    let apps = ok(&bob_api.get("/api/v1/applications").await);
    assert_eq!(ids(&apps), vec![id(&b_app)]);
    let all = ids(&ok(&admin.get("/api/v1/tenants").await));
    assert!(
        all.contains(&b_id) && all.contains(&"default".to_owned()),
        "{all:?}"
    );
    let all_roles = ids(&ok(&admin.get("/api/v1/roles").await));
    assert!(all_roles.contains(&a_role) && all_roles.contains(&id(&b_role)));
    // the admin catalogue is readable (B's roles may grant its items), not writable
    let cat = ok(&bob_api
        .get("/api/v1/applications/gatehouse-admin/permissions?limit=100")
        .await);
    assert!(cat["total"].as_i64().is_some_and(|n| n >= 7), "{cat}");
    // tenant administration: children of B yes, top level or own flags no
    let r = bob_api
        .post("/api/v1/tenants", &json!({"code": "TOP", "name": "Top"}))
        .await;
    expect(&r, 403, Some("forbidden"));
    let child = ok(&bob_api
        .post(
            "/api/v1/tenants",
            &json!({"code": "BCHILD", "name": "B child", "parent_id": b_id}),
        )
        .await);
    ok(&bob_api
        .get(&format!("/api/v1/tenants/{}", id(&child)))
        .await);
    let r = bob_api
        .put(
            &format!("/api/v1/tenants/{b_id}/members/{bob}"),
            &json!({"is_admin": false}),
        )
        .await;
    expect(&r, 403, Some("forbidden"));
    let r = bob_api
        .patch(
            &format!("/api/v1/tenants/{b_id}"),
            &json!({"parent_id": "default"}),
        )
        .await;
    expect(&r, 404, Some("not_found"));
    let r = bob_api
        .patch(
            &format!("/api/v1/tenants/{b_id}"),
            &json!({"applications": [a_app]}),
        )
        .await;
    expect(&r, 400, Some("invalid_field"));
}
