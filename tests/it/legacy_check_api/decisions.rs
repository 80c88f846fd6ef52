//! checkApiByToken decisions (G-07): exact paths and methods, the batch form, malformed
//! requests (4xx, never 500), token kinds that carry no user permission, application scope.

use serde_json::json;

use super::{
    CHECK, application, check, data, env, env_with, item, link, post_json, post_raw, refused,
};
use crate::common::jwt::{decode, forgeries};
use crate::common::{Backend, Resp, Tokens};

matrix!(
    g07_paths_and_methods_decide_exactly,
    g07_batch_form_answers_in_order,
    g07_bad_requests_are_4xx_never_5xx,
    g07_token_transport_body_header_never_query,
    g07_tokens_without_user_permission_are_false,
    g07_expired_access_token_is_false,
    g07_token_answers_by_its_own_application_catalogue,
);

async fn g07_paths_and_methods_decide_exactly(b: Backend) {
    let e = env(b).await;
    let t = e.token().await;
    // (method, path, expected)
    let cases = [
        // path-only questions (seed 002): items without a method restriction
        (None, "/api/user/get", true),
        (None, "/api/user/get/", true),
        (None, "/api/user/get?x=1", true),
        (None, "/api/us%65r/get", true),
        (None, "/api/user/getx", false),
        (None, "/api/user", false),
        (None, "/api/public/a/b", true),
        (None, "/api/public", true),
        (None, "/api/admin/x", false),
        (None, "/api/unknown", false),
        (None, "/", false),
        (None, "/test/aaaaaaaaaa", true),
        // method-restricted items need the method
        (None, "/api/orders/1", false),
        (Some("GET"), "/api/orders/1", true),
        (Some("get"), "/api/orders/1", true),
        (Some("HEAD"), "/api/orders", true),
        (Some("GET"), "/api/orders", true),
        (Some("POST"), "/api/orders/1", true),
        (Some("PUT"), "/api/orders/1", true),
        (Some("DELETE"), "/api/orders/1", false),
        (Some("POST"), "/api/orders/1/lines", false),
        (Some("PUT"), "/api/orders", false),
        (Some("BREW"), "/api/orders/1", false),
        (Some("GET,POST"), "/api/orders/1", false),
        (Some(""), "/api/orders/1", false),
        // unrestricted items hold for every method
        (Some("DELETE"), "/api/user/get", true),
        (Some("POST"), "/api/role/user/edit", true),
        (Some("GET"), "/api/role/user/edit", false),
        // not granted
        (Some("GET"), "/api/admin/users", false),
    ];
    for (m, p, want) in cases {
        assert_eq!(e.check(&t, p, m).await, want, "{m:?} {p}");
    }
}

async fn g07_batch_form_answers_in_order(b: Backend) {
    let e = env(b).await;
    let s = &e.server;
    let t = e.token().await;
    let r = post_json(
        s,
        CHECK,
        &json!({"token": t, "checks": [
            {"apiPath": "/api/user/get"},
            {"apiPath": "/api/admin/x"},
            {"apiPath": "/api/orders/1", "method": "GET"},
            {"apiPath": "/api/orders/1", "method": "DELETE"},
            {"apiPath": "/api/orders/1"},
            {"apiPath": "/api/public/../admin/x"},
            {"apiPath": "/api/public/x", "method": null},
        ]}),
    )
    .await;
    assert_eq!(
        data(&r),
        json!([true, false, true, false, false, false, true])
    );
    let r = post_json(s, CHECK, &json!({"token": t, "checks": []})).await;
    assert_eq!(data(&r), json!([]));
    let hundred: Vec<_> = (0..100)
        .map(|i| json!({"apiPath": format!("/api/public/{i}")}))
        .collect();
    let r = post_json(s, CHECK, &json!({"token": t, "checks": hundred})).await;
    assert_eq!(data(&r), json!(vec![true; 100]));
    // a garbage token answers false everywhere, still in order
    let r = post_json(
        s,
        CHECK,
        &json!({"token": "garbage", "checks": [{"apiPath": "/api/user/get"}, {"apiPath": "/x"}]}),
    )
    .await;
    assert_eq!(data(&r), json!([false, false]));
}

async fn g07_bad_requests_are_4xx_never_5xx(b: Backend) {
    let e = env(b).await;
    let s = &e.server;
    let t = e.token().await;
    let many: Vec<_> = (0..101)
        .map(|_| json!({"apiPath": "/api/user/get"}))
        .collect();
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let cases: Vec<(String, i64)> = vec![
        ("{".into(), 104002),
        ("".into(), 104002),
        ("[]".into(), 104002),
        ("null".into(), 104002),
        ("\"token\"".into(), 104002),
        (deep, 104002),
        (json!({"token": 1, "apiPath": "/x"}).to_string(), 104002),
        (json!({"token": t, "apiPath": 5}).to_string(), 104002),
        (json!({"token": t, "apiPath": ["/x"]}).to_string(), 104002),
        (
            json!({"token": t, "apiPath": "/x", "method": 1}).to_string(),
            104002,
        ),
        (
            json!({"token": t, "apiPath": "/x", "extra": 1}).to_string(),
            104002,
        ),
        (
            json!({"token": t, "apiPath": "/x", "checks": []}).to_string(),
            104002,
        ),
        (json!({"token": t, "checks": many}).to_string(), 104002),
        (json!({"token": t, "checks": "/x"}).to_string(), 104002),
        (
            json!({"token": t, "checks": [{"apiPath": "/x", "extra": 1}]}).to_string(),
            104002,
        ),
        (
            json!({"token": t, "checks": [{"apiPath": "/x", "method": 7}]}).to_string(),
            104002,
        ),
        (json!({"apiPath": "/api/user/get"}).to_string(), 104001),
        (
            json!({"token": null, "apiPath": "/api/user/get"}).to_string(),
            104001,
        ),
        (
            json!({"token": "", "apiPath": "/api/user/get"}).to_string(),
            104001,
        ),
        (json!({"token": t}).to_string(), 104001),
        (json!({"token": t, "apiPath": ""}).to_string(), 104001),
        (json!({"token": t, "checks": [{}]}).to_string(), 104001),
    ];
    for (body, code) in cases {
        let r = post_raw(s, CHECK, body.clone()).await;
        refused(&r, 400, code);
        assert!(body.len() > 200 || r.status < 500, "{body}");
    }
    // not UTF-8
    let r = post_raw(
        s,
        CHECK,
        b"{\"token\":\"\xff\xfe\",\"apiPath\":\"/x\"}".to_vec(),
    )
    .await;
    refused(&r, 400, 104002);
    // POST only: a GET (token in the URL) is not served
    let r = s
        .get(&format!("{CHECK}?token={t}&apiPath=/api/user/get"))
        .await;
    assert_eq!(r.status, 405, "{}", r.describe());
}

async fn g07_token_transport_body_header_never_query(b: Backend) {
    let e = env(b).await;
    let s = &e.server;
    let t = e.token().await;
    let body = json!({"apiPath": "/api/user/get"});
    let r = Resp::send(s.http.post(s.url(CHECK)).bearer_auth(&t).json(&body)).await;
    assert_eq!(data(&r), json!(true));
    let r = Resp::send(s.http.post(s.url(CHECK)).header("token", &t).json(&body)).await;
    assert_eq!(data(&r), json!(true));
    // the body's token wins over the header
    let r = Resp::send(
        s.http
            .post(s.url(CHECK))
            .bearer_auth(&t)
            .json(&json!({"token": "garbage", "apiPath": "/api/user/get"})),
    )
    .await;
    assert_eq!(data(&r), json!(false));
    let r = Resp::send(
        s.http
            .post(s.url(&format!("{CHECK}?token={t}")))
            .json(&body),
    )
    .await;
    refused(&r, 400, 104001);
}

async fn g07_tokens_without_user_permission_are_false(b: Backend) {
    let e = env(b).await;
    let s = &e.server;
    let tokens = e.tokens_for(&e.app, &e.user).await;
    assert!(e.check(&tokens.access, "/api/user/get", None).await);
    let mut bad: Vec<(String, String)> = vec![
        ("ID token".into(), tokens.id_token().to_owned()),
        ("refresh token".into(), tokens.refresh().to_owned()),
        ("garbage".into(), "not-a-token".into()),
        ("three dots".into(), "a.b.c".into()),
        ("huge".into(), "x".repeat(10_000)),
        ("uuid".into(), "375d1a92-8a34-4bd2-8d55-f8f7c91e4c72".into()),
    ];
    let jwks = s.get("/jwks").await.json();
    bad.extend(forgeries(&tokens.access, &jwks));
    // client_credentials: a token without a user, even when its service account holds ROLE
    link(
        &e.api,
        &format!("/api/v1/applications/{}/roles/{}", e.app.id, e.role),
        true,
    )
    .await;
    let cc = Tokens::from_resp(
        s.token(&e.app.auth(), &[("grant_type", "client_credentials")])
            .await,
    );
    bad.push(("client_credentials".into(), cc.access));
    // a user without any role
    let bob = s.user("bob", "correct-horse-9").await;
    bad.push((
        "user without roles".into(),
        e.tokens_for(&e.app, &bob).await.access,
    ));
    for (label, token) in &bad {
        for (m, p) in [(None, "/api/user/get"), (Some("GET"), "/api/orders/1")] {
            assert!(!e.check(token, p, m).await, "{label} allowed {p}");
        }
    }
}

async fn g07_expired_access_token_is_false(b: Backend) {
    let e = env_with(b, &[("GATEHOUSE_ACCESS_TOKEN_TTL", "3")]).await;
    let t = e.token().await;
    let exp = decode(&t).1["exp"].as_i64().expect("exp");
    assert!(e.check(&t, "/api/user/get", None).await);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    tokio::time::sleep(std::time::Duration::from_millis(
        ((exp - now + 1).max(0) as u64) * 1000 + 200,
    ))
    .await;
    assert!(!e.check(&t, "/api/user/get", None).await);
}

async fn g07_token_answers_by_its_own_application_catalogue(b: Backend) {
    let e = env(b).await;
    let (s, api) = (&e.server, &e.api);
    let other = application(api, "Billing", &["authorization_code", "refresh_token"]).await;
    let b_item = item(
        api,
        &other.id,
        json!({"code": "bills", "kind": "api", "apis": [{"path": "/api/bills/**"}]}),
    )
    .await;
    // the same path exists in both catalogues, granted only in B
    item(
        api,
        &other.id,
        json!({"code": "user.get", "kind": "api", "apis": [{"path": "/api/user/get"}]}),
    )
    .await;
    link(
        api,
        &format!("/api/v1/roles/{}/permissions/{b_item}", e.role),
        true,
    )
    .await;
    let a = e.token().await;
    let b_token = e.tokens_for(&other, &e.user).await.access;
    assert!(check(s, &b_token, "/api/bills/1", None).await);
    assert!(
        !check(s, &a, "/api/bills/1", None).await,
        "A's token used B's catalogue"
    );
    assert!(check(s, &a, "/api/user/get", None).await);
    assert!(
        !check(s, &b_token, "/api/user/get", None).await,
        "B's token used A's grants"
    );
    assert!(!check(s, &b_token, "/api/public/x", None).await);
}
