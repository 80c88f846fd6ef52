//! `/api/v1/audit-logs` (seed 001 operation log): admin writes and sign-ins recorded with actor,
//! address, target and outcome, never a password; filters and paging; records that cannot
//! be changed or deleted; reading reserved to `account.log`.

use serde_json::{Value, json};

use crate::common::api::{Cred, expect, ok};
use crate::common::*;

matrix!(
    a09_admin_write_is_audited_with_actor_ip_and_target,
    a09_sign_ins_are_audited_without_the_password,
    audit_log_filters_and_paging,
    a09_audit_records_cannot_be_changed_or_deleted,
    a02_members_cannot_read_or_write_the_audit_log,
);

fn items(page: &Value) -> &Vec<Value> {
    page["items"].as_array().expect("items")
}

async fn a09_admin_write_is_audited_with_actor_ip_and_target(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let role = ok(&api
        .post(
            "/api/v1/roles",
            &json!({"code": "AUDITED", "name": "Audited"}),
        )
        .await);
    let role_id = role["id"].as_str().expect("id");
    let page = ok(&api
        .get(&format!(
            "/api/v1/audit-logs?module=account&target_type=role&target_id={role_id}"
        ))
        .await);
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(page["offset"], 0);
    let entry = &items(&page)[0];
    assert_eq!(entry["operation"], "add");
    assert_eq!(entry["actor_type"], "user");
    assert_eq!(entry["actor_name"], "admin");
    assert!(entry["actor_id"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(entry["ip"], "127.0.0.1");
    assert_eq!(entry["tenant_id"], "default");
    assert_eq!(entry["outcome"], "success");
    assert_eq!(entry["details"]["code"], "AUDITED");
    assert!(
        entry["created_at"]
            .as_i64()
            .is_some_and(|t| t > 1_600_000_000)
    );
    let id = entry["id"].as_str().expect("id");
    let one = ok(&api.get(&format!("/api/v1/audit-logs/{id}")).await);
    assert_eq!(&one, entry);
    expect(
        &api.get("/api/v1/audit-logs/no-such-record").await,
        404,
        Some("not_found"),
    );
    // the actor filter finds it too
    let actor = entry["actor_id"].as_str().expect("actor");
    let mine = ok(&api
        .get(&format!(
            "/api/v1/audit-logs?actor_id={actor}&target_type=role"
        ))
        .await);
    assert_eq!(mine["total"], 1, "{mine}");
}

async fn a09_sign_ins_are_audited_without_the_password(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let gail = server.user("gail", "gail-Password-1").await;
    let secret_guess = "Sup3r-Secret-Guess-7781";
    let browser = server.browser();
    let r = browser.login("gail", secret_guess).await;
    assert_eq!(r.status, 401, "{}", r.describe());
    let r = browser.login("nobody-here", secret_guess).await;
    assert_eq!(r.status, 401, "{}", r.describe());
    let r = browser.login("gail", &gail.password).await;
    assert_eq!(r.status, 303, "{}", r.describe());
    let home = browser.get("/").await;
    let r = browser
        .post_form(
            "/oauth/logout",
            &[("csrf_token", &home.csrf()), ("confirm", "yes")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.describe());

    let page = ok(&api.get("/api/v1/audit-logs?module=auth&order=asc").await);
    let text = page.to_string();
    assert!(!text.contains(secret_guess), "no password: {text}");
    assert!(!text.contains(&gail.password), "no password: {text}");
    let ops: Vec<&str> = items(&page)
        .iter()
        .map(|e| e["operation"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        ops,
        ["login_failed", "login_failed", "login", "logout"],
        "{page}"
    );
    let failed = &items(&page)[0];
    assert_eq!(failed["actor_type"], "anonymous");
    assert_eq!(failed["actor_id"], Value::Null);
    assert_eq!(failed["target_type"], "user");
    assert_eq!(failed["target_id"], gail.id.as_str());
    assert_eq!(failed["details"]["username"], "gail");
    assert_eq!(failed["outcome"], "failure");
    assert_eq!(failed["tenant_id"], "default");
    assert_eq!(failed["ip"], "127.0.0.1");
    let unknown = &items(&page)[1];
    assert_eq!(unknown["details"]["username"], "nobody-here");
    assert_eq!(unknown["target_id"], Value::Null);
    for e in &items(&page)[2..] {
        assert_eq!(e["actor_id"], gail.id.as_str(), "{e}");
        assert_eq!(e["actor_name"], "gail");
        assert_eq!(e["target_id"], gail.id.as_str());
        assert_eq!(e["outcome"], "success");
        assert_eq!(e["ip"], "127.0.0.1");
    }
    // failures only
    let failures = ok(&api.get("/api/v1/audit-logs?outcome=failure").await);
    assert_eq!(failures["total"], 2, "{failures}");
}

async fn audit_log_filters_and_paging(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let e = api
            .post(
                "/api/v1/audit-logs",
                &json!({"module": "device", "target_type": "switch", "target_id": format!("sw-{i}"),
                        "operation": if i % 2 == 0 { "update" } else { "add" },
                        "details": {"port": i}}),
            )
            .await;
        let e = expect(&e, 201, None);
        assert_eq!(e["module"], "device");
        assert_eq!(e["actor_name"], "admin");
        assert_eq!(e["tenant_id"], "default");
        assert_eq!(e["ip"], "127.0.0.1");
        assert_eq!(e["details"], json!({"port": i}));
        ids.push(e["id"].as_str().expect("id").to_owned());
    }
    let all = ok(&api.get("/api/v1/audit-logs?module=device").await);
    assert_eq!(all["total"], 5);
    let newest_first: Vec<&str> = items(&all)
        .iter()
        .map(|e| e["id"].as_str().unwrap_or(""))
        .collect();
    let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    expected.reverse();
    assert_eq!(newest_first, expected, "newest first by default");
    let page = ok(&api
        .get("/api/v1/audit-logs?module=device&order=asc&offset=1&limit=2")
        .await);
    assert_eq!(page["total"], 5);
    assert_eq!(page["limit"], 2);
    assert_eq!(page["offset"], 1);
    let got: Vec<&str> = items(&page)
        .iter()
        .map(|e| e["id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(got, [ids[1].as_str(), ids[2].as_str()]);
    let updates = ok(&api
        .get("/api/v1/audit-logs?module=device&operation=update")
        .await);
    assert_eq!(updates["total"], 3);
    let one = ok(&api
        .get("/api/v1/audit-logs?target_type=switch&target_id=sw-3")
        .await);
    assert_eq!(one["total"], 1);
    assert_eq!(items(&one)[0]["operation"], "add");
    let created = items(&all)[0]["created_at"].as_i64().expect("created_at");
    let window = ok(&api
        .get(&format!(
            "/api/v1/audit-logs?module=device&start={}&end={}",
            created - 60,
            created + 60
        ))
        .await);
    assert_eq!(window["total"], 5);
    let future = ok(&api
        .get(&format!(
            "/api/v1/audit-logs?module=device&start={}",
            created + 3600
        ))
        .await);
    assert_eq!(future["total"], 0);
    let past = ok(&api
        .get(&format!(
            "/api/v1/audit-logs?module=device&end={}",
            created - 3600
        ))
        .await);
    assert_eq!(past["total"], 0);

    for bad in [
        "/api/v1/audit-logs?order=sideways",
        "/api/v1/audit-logs?limit=0",
        "/api/v1/audit-logs?sort=ip",
        "/api/v1/audit-logs?start=10&end=5",
    ] {
        expect(&api.get(bad).await, 400, Some("invalid_field"));
    }
    expect(
        &api.get("/api/v1/audit-logs?userId=x").await,
        400,
        Some("invalid_query"),
    );
    // Gatehouse's own modules cannot be forged; the body is checked
    for module in ["account", "auth", "Auth"] {
        let r = api
            .post(
                "/api/v1/audit-logs",
                &json!({"module": module, "target_type": "user", "operation": "login"}),
            )
            .await;
        expect(&r, 400, Some("reserved_module"));
    }
    let r = api
        .post(
            "/api/v1/audit-logs",
            &json!({"module": "device", "target_type": "x", "operation": "add", "details": [1]}),
        )
        .await;
    expect(&r, 400, Some("invalid_field"));
    let r = api
        .post(
            "/api/v1/audit-logs",
            &json!({"module": "device", "target_type": "x", "operation": "add",
                    "actor_id": "someone-else"}),
        )
        .await;
    expect(&r, 400, Some("invalid_body"));
}

async fn a09_audit_records_cannot_be_changed_or_deleted(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let e = expect(
        &api.post(
            "/api/v1/audit-logs",
            &json!({"module": "asset", "target_type": "laptop", "operation": "del"}),
        )
        .await,
        201,
        None,
    );
    let id = e["id"].as_str().expect("id");
    let path = format!("/api/v1/audit-logs/{id}");
    for method in ["PUT", "PATCH", "DELETE"] {
        let r = api
            .call(method, &path, Some(&json!({"operation": "x"})))
            .await;
        assert_eq!(r.status, 405, "{method}: {}", r.describe());
    }
    for method in ["PUT", "DELETE"] {
        let r = api.call(method, "/api/v1/audit-logs", None).await;
        assert_eq!(r.status, 405, "{method}: {}", r.describe());
    }
    assert_eq!(ok(&api.get(&path).await), e, "unchanged");
    // the OpenAPI document offers no way to change the log either
    let doc = server.get("/api/v1/openapi.json").await.json();
    let paths = &doc["paths"];
    assert!(paths["/api/v1/audit-logs"]["get"].is_object(), "{paths}");
    assert!(paths["/api/v1/audit-logs"]["post"].is_object());
    assert!(paths["/api/v1/audit-logs/{id}"]["get"].is_object());
    for method in ["put", "patch", "delete"] {
        assert!(
            paths["/api/v1/audit-logs/{id}"][method].is_null(),
            "{method}"
        );
        assert!(paths["/api/v1/audit-logs"][method].is_null(), "{method}");
    }
}

async fn a02_members_cannot_read_or_write_the_audit_log(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let admin = server.admin_api().await;
    let e = expect(
        &admin
            .post(
                "/api/v1/audit-logs",
                &json!({"module": "nms", "target_type": "alarm", "operation": "add"}),
            )
            .await,
        201,
        None,
    );
    let id = e["id"].as_str().expect("id");
    server.user("mel", "mel-Password-1").await;
    let member = admin.with(Cred::ApiKey(server.api_key_for("mel", "default").await));
    expect(
        &member.get("/api/v1/audit-logs").await,
        403,
        Some("forbidden"),
    );
    expect(
        &member.get(&format!("/api/v1/audit-logs/{id}")).await,
        403,
        Some("forbidden"),
    );
    expect(
        &member
            .post(
                "/api/v1/audit-logs",
                &json!({"module": "nms", "target_type": "alarm", "operation": "add"}),
            )
            .await,
        403,
        Some("forbidden"),
    );
    let anon = admin.with(Cred::None);
    expect(
        &anon.get("/api/v1/audit-logs").await,
        401,
        Some("unauthorized"),
    );
    // nothing was added by the refused calls
    let page = ok(&admin.get("/api/v1/audit-logs?module=nms").await);
    assert_eq!(page["total"], 1, "{page}");
}
