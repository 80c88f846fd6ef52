//! an authorization matrix generated from the OpenAPI document the server publishes (which
//! `utoipa-axum` builds from the registered routes, so a new route joins the matrix by itself).

use serde_json::{Value, json};

use crate::common::api::{Api, Cred};
use crate::common::{Backend, TestServer};

matrix!(a01_every_admin_route_refuses_missing_and_weak_credentials);

/// Every `(method, path)` of the document, with path parameters filled in.
fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let filled: String = path
            .split('/')
            .map(|seg| {
                if seg.starts_with('{') {
                    "0194f7a2-0000-7000-8000-000000000000"
                } else {
                    seg
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().expect("path item").keys() {
            if matches!(method.as_str(), "get" | "post" | "put" | "patch" | "delete") {
                out.push((method.to_ascii_uppercase(), filled.clone()));
            }
        }
    }
    out
}

async fn a01_every_admin_route_refuses_missing_and_weak_credentials(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let admin = server.admin_api().await;
    let doc = admin
        .with(Cred::None)
        .get("/api/v1/openapi.json")
        .await
        .json();
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
