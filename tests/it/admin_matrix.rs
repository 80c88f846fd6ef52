//! an authorization matrix generated from the OpenAPI document the server publishes (which
//! `utoipa-axum` builds from the registered routes, so a new route joins the matrix by itself).

use serde_json::{Value, json};

use crate::common::api::{Api, Cred, expect, ok};
use crate::common::{Backend, TestServer};

matrix!(
    a01_every_admin_route_refuses_missing_and_weak_credentials,
    a01_another_tenants_admin_reaches_nothing_of_this_tenant
);

/// Every `(method, templated path)` of the document.
fn templates(doc: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if matches!(method.as_str(), "get" | "post" | "put" | "patch" | "delete") {
                out.push((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    out
}

/// Every `(method, path)` of the document, with path parameters filled with an unknown id.
fn operations(doc: &Value) -> Vec<(String, String)> {
    templates(doc)
        .into_iter()
        .map(|(method, path)| (method, with_unknown_ids(&path)))
        .collect()
}

/// The OpenAPI document the server publishes (public, no credentials).
async fn served_document(admin: &Api) -> Value {
    admin
        .with(Cred::None)
        .get("/api/v1/openapi.json")
        .await
        .json()
}

/// `template` with every `{param}` segment replaced by [`UNKNOWN_ID`].
fn with_unknown_ids(template: &str) -> String {
    template
        .split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                UNKNOWN_ID
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// An id no object has.
const UNKNOWN_ID: &str = "0194f7a2-0000-7000-8000-000000000000";

async fn a01_every_admin_route_refuses_missing_and_weak_credentials(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let admin = server.admin_api().await;
    let doc = served_document(&admin).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let ops = operations(&doc);
    assert!(ops.len() >= 10, "too few operations: {ops:?}");
    server.user("member1", "member-pass-123").await;
    let member = Api::new(
        &server,
        Cred::ApiKey(server.api_key_for("member1", "default").await),
    );
    let forged = admin.with(Cred::ApiKey("ghk_forged-key-that-was-never-issued".into()));
    let bad_jwt = admin.with(Cred::Bearer("eyJhbGciOiJub25lIn0.e30.".into()));
    let body = json!({});
    let mut failures = Vec::new();
    for (method, path) in &ops {
        let own = path.starts_with("/api/v1/me");
        for (who, api, allowed) in [
            ("none", admin.with(Cred::None), &[401u16][..]),
            ("forged api key", forged.clone(), &[401]),
            ("forged bearer", bad_jwt.clone(), &[401]),
        ] {
            let r = api.call(method, path, Some(&body)).await;
            if !allowed.contains(&r.status) {
                failures.push(format!("{who}: {method} {path} → {}", r.status));
            }
        }
        let r = member.call(method, path, Some(&body)).await;
        let member_ok = if own {
            !matches!(r.status, 401 | 403 | 500..=599)
        } else {
            r.status == 403
        };
        if !member_ok {
            failures.push(format!("MEMBER: {method} {path} → {}", r.status));
        }
        let r = admin.call(method, path, Some(&body)).await;
        if matches!(r.status, 401 | 403 | 500..=599) {
            failures.push(format!("super admin: {method} {path} → {}", r.status));
        }
    }
    assert!(
        failures.is_empty(),
        "matrix failures:\n{}",
        failures.join("\n")
    );
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

/// The objects of the default tenant that the other tenant's administrator aims at.
struct Victims {
    user: String,
    role: String,
    group: String,
    app: String,
    permission: String,
    key: String,
    audit: String,
}

impl Victims {
    /// Fills the path parameters of `path` with the victims' ids, by resource.
    fn fill(&self, path: &str) -> String {
        let mut out = Vec::new();
        let mut resource = "";
        for seg in path.split('/') {
            let value = match seg {
                "{id}" => match resource {
                    "users" => self.user.as_str(),
                    "roles" => &self.role,
                    "groups" => &self.group,
                    "tenants" => "default",
                    "applications" => &self.app,
                    "audit-logs" => &self.audit,
                    other => panic!("no victim for {{id}} of {other} in {path}"),
                },
                "{user_id}" => &self.user,
                "{role_id}" => &self.role,
                "{permission_id}" => &self.permission,
                "{key_id}" => &self.key,
                s if s.starts_with('{') => panic!("no victim for {s} in {path}"),
                s => {
                    if out.len() == 3 {
                        resource = s;
                    }
                    s
                }
            };
            out.push(value.to_owned());
        }
        out.join("/")
    }

    fn all(&self) -> [&str; 7] {
        [
            &self.user,
            &self.role,
            &self.group,
            &self.app,
            &self.permission,
            &self.key,
            &self.audit,
        ]
    }
}

/// third row of the matrix: the administrator of tenant B, holding every admin
/// permission there, calls every route with the ids of tenant A's objects. Each answer is a
/// 403/404 (never a 2xx, a 400 that differs from the one an unknown id gets, or a 5xx); list answers carry none of A's ids; and A's objects are unchanged afterwards.
async fn a01_another_tenants_admin_reaches_nothing_of_this_tenant(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let admin = server.admin_api().await;
    let doc = served_document(&admin).await;
    // tenant A (default): a user in a group holding a role that grants an app's permission
    let user = ok(&admin
        .post(
            "/api/v1/users",
            &json!({"username": "victim", "email": "victim@a.example",
                    "password": "victim-pass-123"}),
        )
        .await);
    let role = ok(&admin.post("/api/v1/roles", &json!({"code": "AROLE"})).await);
    let group = ok(&admin
        .post("/api/v1/groups", &json!({"name": "A dept"}))
        .await);
    let app = ok(&admin
        .post(
            "/api/v1/applications",
            &json!({"name": "A app", "grant_types": ["client_credentials"]}),
        )
        .await);
    let (uid, rid, gid, aid) = (id(&user), id(&role), id(&group), id(&app));
    let permission = ok(&admin
        .post(
            &format!("/api/v1/applications/{aid}/permissions"),
            &json!({"code": "a.read", "apis": [{"path": "/api/a/**"}]}),
        )
        .await);
    let pid = id(&permission);
    for path in [
        format!("/api/v1/roles/{rid}/members/{uid}"),
        format!("/api/v1/groups/{gid}/members/{uid}"),
        format!("/api/v1/roles/{rid}/permissions/{pid}"),
    ] {
        let r = admin.put(&path, &json!({})).await;
        assert!(
            r.status == 204 || r.status == 200,
            "{path}: {}",
            r.describe()
        );
    }
    let key = ok(&admin
        .post(
            &format!("/api/v1/users/{uid}/api-keys"),
            &json!({"name": "victim key"}),
        )
        .await);
    let audit = ok(&admin.get("/api/v1/audit-logs?limit=1").await)["items"][0]["id"]
        .as_str()
        .expect("an audit entry")
        .to_owned();
    let victims = Victims {
        user: uid.clone(),
        role: rid.clone(),
        group: gid.clone(),
        app: aid.clone(),
        permission: pid.clone(),
        key: id(&key),
        audit,
    };
    // tenant B and its administrator
    let tb = id(&ok(&admin
        .post(
            "/api/v1/tenants",
            &json!({"code": "TB", "name": "Tenant B"}),
        )
        .await));
    let bob = server
        .cli(&[
            "user",
            "add",
            "--username",
            "bob",
            "--password",
            "bob-pass-12345",
            "--tenant",
            &tb,
            "--json",
        ])
        .await;
    let r = admin
        .put(
            &format!("/api/v1/tenants/{tb}/members/{}", id(&bob)),
            &json!({"is_admin": true}),
        )
        .await;
    expect(&r, 204, None);
    let bob_api = Api::new(&server, Cred::ApiKey(server.api_key_for("bob", &tb).await));
    // bob is a working administrator in B (so refusals below are about the tenant, not him)
    ok(&bob_api
        .post("/api/v1/roles", &json!({"code": "BROLE"}))
        .await);

    let mut failures = Vec::new();
    for (method, template) in templates(&doc) {
        if !template.starts_with("/api/v1/me") {
            failures.extend(check(&bob_api, &victims, &method, &template).await);
        }
    }
    // exact lookups by A's values find nothing
    for q in [
        "username=victim".to_owned(),
        "email=victim@a.example".to_owned(),
    ] {
        let r = bob_api.get(&format!("/api/v1/users/find?{q}")).await;
        if r.status != 404 {
            failures.push(format!("find {q} → {}", r.status));
        }
    }
    assert!(
        failures.is_empty(),
        "tenant isolation failures:\n{}",
        failures.join("\n")
    );
    // A's objects are untouched
    let got = ok(&admin.get(&format!("/api/v1/users/{uid}")).await);
    assert_eq!(got["state"], "active", "{got}");
    assert_eq!(got["username"], "victim");
    assert_eq!(got["tenant_id"], "default");
    let members = ok(&admin.get(&format!("/api/v1/roles/{rid}/members")).await);
    assert_eq!(members, json!([uid]), "role members are user ids");
    let members = ok(&admin.get(&format!("/api/v1/groups/{gid}/members")).await);
    assert_eq!(members, json!([uid]), "group members are user ids");
    ok(&admin.get(&format!("/api/v1/applications/{aid}")).await);
    ok(&admin
        .get(&format!("/api/v1/applications/{aid}/permissions/{pid}"))
        .await);
    let keys = ok(&admin.get(&format!("/api/v1/users/{uid}/api-keys")).await);
    assert_eq!(keys.as_array().map(Vec::len), Some(1), "{keys}");
    let t = ok(&admin.get("/api/v1/tenants/default").await);
    assert_ne!(t["name"], "taken over", "{t}");
}

/// A body the route would accept from an administrator of the victims' tenant, so that the
/// refusal seen by the other tenant's administrator is about the tenant, not the body.
fn body_for(method: &str, template: &str, victims: &Victims) -> Value {
    let last = template.rsplit('/').next().unwrap_or_default();
    match (method, last) {
        (_, "move") => json!({"parent": ""}),
        (_, "trial") => json!({"trial_end_at": 1}),
        (_, "attrs" | "sys-attrs") => json!({"pwned": true}),
        ("POST", "api-keys") => json!({"name": "stolen"}),
        ("POST", "permissions") => json!({"code": "x.y"}),
        ("PUT", "{user_id}") if template.contains("/tenants/") => json!({"is_admin": true}),
        ("POST", "batch-get" | "bulk-delete") => json!({"ids": [victims.user]}),
        ("PATCH", _) if template.starts_with("/api/v1/users/") => json!({"nickname": "taken over"}),
        ("PATCH", _) => json!({"name": "taken over"}),
        _ => json!({}),
    }
}

/// One route of the third row: the failures it shows, if any. A route addressing an object is
/// answered 403/404, or with exactly the 400 it gives for an id that does not exist (a refusal
/// of the body that reveals nothing about the object); a collection route never lists the
/// victims.
async fn check(api: &Api, victims: &Victims, method: &str, template: &str) -> Vec<String> {
    let path = victims.fill(template);
    let body = body_for(method, template, victims);
    let r = api.call(method, &path, Some(&body)).await;
    let mut failures = Vec::new();
    if template.contains('{') {
        let same_as_unknown = r.status == 400 && {
            let u = api
                .call(method, &with_unknown_ids(template), Some(&body))
                .await;
            u.status == 400 && u.json()["code"] == r.json()["code"]
        };
        if !matches!(r.status, 403 | 404) && !same_as_unknown {
            failures.push(format!("{method} {path} → {} {}", r.status, r.body));
        }
    } else if matches!(r.status, 401 | 500..=599) {
        failures.push(format!("{method} {path} → {}", r.status));
    } else if (200..300).contains(&r.status) {
        for v in victims.all() {
            if r.body.contains(v) {
                failures.push(format!("{method} {path} leaks {v}: {}", r.body));
            }
        }
    }
    failures
}
