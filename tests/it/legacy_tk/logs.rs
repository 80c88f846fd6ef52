//! `/api/log/save` and `/api/log/listWithPaging` (the one audit store, A-09: the actor is the
//! token's user, never the caller-asserted `userId`), and `getChangePasswordUri` with the
//! self-service password page it points to.

use serde_json::{Value, json};

use super::{
    REFERER, app_token, call, call_with, data, env, inc_app, is_login, parse_tk, refused, sso,
    tk_via_browser,
};
use crate::common::api::ok;
use crate::common::{ALICE_PASSWORD, Backend, Callback, INCORRECT_LOGIN};

matrix!(
    a09_log_save_and_list_with_paging,
    change_password_uri_and_self_service_page,
);

async fn list(s: &crate::common::TestServer, token: &str, extra: Value) -> Value {
    let mut body = json!({ "token": token });
    for (k, v) in extra.as_object().expect("object") {
        body[k] = v.clone();
    }
    data(&call(s, "/api/log/listWithPaging", &body).await)
}

fn ops(d: &Value) -> Vec<&str> {
    d["list"]
        .as_array()
        .expect("list")
        .iter()
        .map(|i| i["op"].as_str().expect("op"))
        .collect()
}

async fn a09_log_save_and_list_with_paging(b: Backend) {
    let e = env(b).await;
    let s = &e.server;
    let token = app_token(&e).await;
    let save = "/api/log/save";
    let anon = json!({ "userId": "1", "op": "x", "detail": "{}" });
    refused(&call(s, save, &anon).await, 100401);
    refused(
        &call(s, "/api/log/listWithPaging", &json!({})).await,
        100401,
    );
    // Seed 002's sample, with its own (foreign) userId.
    let sample = json!({
        "token": token,
        "userId": "9691781286819106",
        "op": "remove user",
        "detail": "{\"a\":\"1\"}",
    });
    assert_eq!(data(&call(s, save, &sample).await), json!({}));
    let bearer = format!("Bearer {token}");
    let body = json!({
        "userId": e.user.id,
        "op": "update user",
        "detail": "{\"msg\":\"Needle in a haystack\"}",
    });
    data(&call_with(s, save, &[("authorization", &bearer)], &body).await);
    let body =
        json!({ "token": token, "userId": e.user.id, "op": "export", "detail": "100%_done" });
    data(&call(s, save, &body).await);

    // Numbers as strings, as in the seed's sample; newest first.
    let d = list(s, &token, json!({ "page": "1", "pageSize": "2" })).await;
    assert_eq!(
        (d["page"].clone(), d["count"].clone()),
        (json!(1), json!(3))
    );
    assert_eq!(ops(&d), ["export", "update user"]);
    let item = &d["list"][0];
    assert!(
        item["_id"].as_str().is_some_and(|i| !i.is_empty()),
        "{item}"
    );
    assert_eq!(item["detail"], "100%_done");
    let at = item["created_at"].as_str().expect("created_at");
    let bytes = at.as_bytes();
    assert!(
        at.len() == 24
            && bytes[4] == b'-'
            && bytes[10] == b'T'
            && bytes[19] == b'.'
            && at.ends_with('Z'),
        "ISO-8601 UTC with milliseconds: {at}"
    );
    let user = &item["user"];
    assert_eq!(user["_id"], e.user.id.as_str());
    assert_eq!(user["id"], e.user.id.as_str());
    assert_eq!(user["name"], "alice");
    assert_eq!(user["userName"], "Alice Example");
    assert!(user["extra"].is_string(), "{user}");
    let d = list(s, &token, json!({ "page": 2, "pageSize": 2 })).await;
    assert_eq!(ops(&d), ["remove user"]);
    assert_eq!(d["list"][0]["detail"], "{\"a\":\"1\"}");
    assert_eq!(
        d["list"][0]["user"]["_id"],
        e.user.id.as_str(),
        "the actor is the token's user"
    );
    let d = list(s, &token, json!({})).await;
    assert_eq!(
        (d["page"].clone(), ops(&d).len()),
        (json!(1), 3),
        "defaults 1 and 10"
    );
    assert_eq!(ops(&list(s, &token, json!({ "page": 9 })).await).len(), 0);
    assert_eq!(
        ops(&list(s, &token, json!({ "pageSize": 1000 })).await).len(),
        3
    );

    // filterText: case-insensitive, over op and the detail text as sent.
    for (filter, expected) in [
        ("needle", vec!["update user"]),
        ("REMOVE", vec!["remove user"]),
        ("\"a\":\"1\"", vec!["remove user"]),
        ("user", vec!["update user", "remove user"]),
        ("%_", vec!["export"]),
        ("detail", vec![]),
        ("userId", vec![]),
        ("", vec!["export", "update user", "remove user"]),
    ] {
        let d = list(s, &token, json!({ "filterText": filter })).await;
        assert_eq!(ops(&d), expected, "filterText {filter:?}");
        assert_eq!(d["count"], expected.len(), "filterText {filter:?}");
    }

    // The same entries in the admin audit log.
    let path = format!("/api/v1/audit-logs?module={}", e.app.id);
    let logs = ok(&e.api.get(&path).await);
    let items = logs["items"].as_array().expect("items");
    assert_eq!(items.len(), 3, "{logs}");
    let removed = items
        .iter()
        .find(|i| i["operation"] == "remove user")
        .expect("remove user");
    assert_eq!(removed["actor_type"], "user");
    assert_eq!(removed["actor_id"], e.user.id.as_str());
    assert_eq!(removed["actor_name"], "alice");
    assert_eq!(removed["target_type"], "op_log");
    assert_eq!(removed["details"]["userId"], "9691781286819106");
    assert_eq!(removed["details"]["detail"], "{\"a\":\"1\"}");
    let updated = items
        .iter()
        .find(|i| i["operation"] == "update user")
        .expect("update");
    assert!(updated["details"].get("userId").is_none(), "{updated}");

    // Scoped to the token's application.
    let other = inc_app(&e.api, "Other App", &["https://other.example/"], json!({})).await;
    let browser = s.browser();
    assert_eq!(browser.login("alice", ALICE_PASSWORD).await.status, 303);
    let r = browser
        .get(&sso(&other.id, "https://other.example/x"))
        .await;
    let cb = Callback::new(r.location().expect("Location"));
    let other_token = parse_tk(s, cb.get("tk").expect("tk")).await;
    assert_eq!(list(s, &other_token, json!({})).await["count"], json!(0));
}

async fn change_password_uri_and_self_service_page(b: Backend) {
    let e = env(b).await;
    let s = &e.server;
    let browser = s.browser();
    let token = parse_tk(s, &tk_via_browser(&e, &browser, &e.app.id).await).await;
    let uri = "/api/auth/getChangePasswordUri";
    refused(&call(s, uri, &json!({})).await, 100401);
    refused(&call(s, uri, &json!({ "token": "nope" })).await, 100401);
    let bearer = format!("Bearer {token}");
    let url = data(&call_with(s, uri, &[("authorization", &bearer)], &json!({})).await);
    assert_eq!(url, format!("{}/account/password", s.issuer));

    let r = s.browser().get("/account/password").await;
    assert_eq!(r.header("location"), Some("/login"), "not signed in");
    // Another browser signed in before the change: its session must end.
    let elsewhere = s.browser();
    assert_eq!(elsewhere.login("alice", ALICE_PASSWORD).await.status, 303);
    // Sessions that signed in during the same second as the change survive it (`not_before`
    // has a one-second resolution).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    let page = browser.get("/account/password").await;
    assert_eq!(page.status, 200, "{}", page.describe());
    assert!(page.body.contains("name=\"current_password\""));
    let csrf = page.csrf();
    let new = "a brand new passphrase";
    let r = browser
        .post_form(
            "/account/password",
            &[
                ("current_password", ALICE_PASSWORD),
                ("new_password", new),
                ("new_password_confirm", new),
            ],
        )
        .await;
    assert_eq!(r.status, 403, "no CSRF token\n{}", r.describe());
    for (current, confirm, message) in [
        ("wrong password", new, "current password is incorrect"),
        (ALICE_PASSWORD, "something else", "do not match"),
    ] {
        let form = [
            ("csrf_token", csrf.as_str()),
            ("current_password", current),
            ("new_password", new),
            ("new_password_confirm", confirm),
        ];
        let r = browser.post_form("/account/password", &form).await;
        assert_eq!(r.status, 400, "{}", r.describe());
        assert!(r.body.contains(message), "{}", r.describe());
    }
    let form = [
        ("csrf_token", csrf.as_str()),
        ("current_password", ALICE_PASSWORD),
        ("new_password", new),
        ("new_password_confirm", new),
    ];
    let r = browser.post_form("/account/password", &form).await;
    assert_eq!(r.status, 200, "{}", r.describe());
    assert!(
        r.body.contains("password has been changed"),
        "{}",
        r.describe()
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));

    // Tokens of before are dead; this browser stays signed in, the other one does not.
    assert!(!is_login(s, &token).await);
    let r = browser.get(&sso(&e.app.id, REFERER)).await;
    let location = r.header("location").unwrap_or_default();
    assert!(
        location.starts_with(&format!("{REFERER}&tk=")),
        "{}",
        r.describe()
    );
    let r = elsewhere.get(&sso(&e.app.id, REFERER)).await;
    assert_eq!(r.header("location"), Some("/login"), "{}", r.describe());
    // The new password signs in, the old one no longer.
    assert_eq!(s.browser().login("alice", new).await.status, 303);
    let r = s.browser().login("alice", ALICE_PASSWORD).await;
    assert!(r.body.contains(INCORRECT_LOGIN), "{}", r.describe());

    let path = format!(
        "/api/v1/audit-logs?operation=change_password&actor_id={}",
        e.user.id
    );
    let logs = ok(&e.api.get(&path).await);
    let outcomes: Vec<&str> = logs["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["outcome"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(outcomes, ["success", "failure"], "{logs}");
}
