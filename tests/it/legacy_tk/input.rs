//! What the seed 002 endpoints refuse: referers not registered for the application (G-01, the
//! P-01 corpus adapted to the origin + path-prefix rule), unknown or disabled applications, and
//! malformed, mistyped, unknown or oversized input (a 4xx envelope, never a 500).

use serde_json::{Value, json};

use super::{REFERER, REFERER_BASE, app_token, call, data, env, inc_app, refused, sso};
use crate::common::{ALICE_PASSWORD, Backend, Resp, TestServer, assert_error_page, raw_http};

matrix!(
    g01_unregistered_referer_never_redirects,
    r03_bad_input_is_a_4xx_envelope_never_500,
);

/// Referers outside `https://app.example/app/`.
const CORPUS: [&str; 22] = [
    "https://evil.example/app/page",
    "https://app.example/other/page",
    "https://app.example/",
    "https://app.example/application",
    "https://app.example/ap",
    "https://app.example.evil.com/app/page",
    "https://evilapp.example/app/page",
    "https://app.example@evil.com/app/page",
    "https://app.example:443@evil.com/app/page",
    "https://user:pw@app.example/app/page",
    "http://app.example/app/page",
    "https://app.example:8443/app/page",
    "https://app.example/app/../admin",
    "https://app.example/app/%2e%2e/admin",
    "https://app.example/app/..;/admin",
    "https://app.example/app%2F..%2Fadmin",
    "//evil.example/app/page",
    "/app/page",
    "https:evil.example/app/page",
    "javascript:alert(1)//https://app.example/app/",
    "data:text/html,https://app.example/app/",
    "https://evil.example/app/#https://app.example/app/",
];

async fn g01_unregistered_referer_never_redirects(b: Backend) {
    let e = env(b).await;
    let s = &e.server;
    let off = inc_app(&e.api, "Off", &[REFERER_BASE], json!({ "enabled": false })).await;
    // Signed in: a valid request would go straight back with a tk, so nothing hides behind a form.
    let browser = s.browser();
    assert_eq!(browser.login("alice", ALICE_PASSWORD).await.status, 303);
    for referer in CORPUS {
        assert_error_page(&browser.get(&sso(&e.app.id, referer)).await);
        let body = json!({ "appId": e.app.id, "referer": referer });
        let r = call(s, "/api/auth/getSSO", &body).await;
        assert_eq!(r.status, 400, "{referer}\n{}", r.describe());
        refused(&r, 104002);
    }
    for (app_id, referer) in [("no-such-app", REFERER), (off.id.as_str(), REFERER)] {
        assert_error_page(&browser.get(&sso(app_id, referer)).await);
        let body = json!({ "appId": app_id, "referer": referer });
        refused(&call(s, "/api/auth/getSSO", &body).await, 104002);
    }
    for path in [
        "/api/auth/getSSO".to_owned(),
        format!("/api/auth/getSSO?appId={}", e.app.id),
        format!("{}&appId=x", sso(&e.app.id, REFERER)),
        format!("{}&next=https://evil.example/", sso(&e.app.id, REFERER)),
        sso(&e.app.id, ""),
    ] {
        assert_error_page(&browser.get(&path).await);
    }
    // The registered one, for contrast: the URL to open, then straight back with a tk.
    let body = json!({ "appId": e.app.id, "referer": REFERER });
    let url = data(&call(s, "/api/auth/getSSO", &body).await);
    assert_eq!(url, format!("{}{}", s.issuer, sso(&e.app.id, REFERER)));
    let form = [("appId", e.app.id.as_str()), ("referer", REFERER)];
    assert_eq!(data(&s.post_form("/api/auth/getSSO", &form).await), url);
    let r = browser.get(&sso(&e.app.id, REFERER)).await;
    assert_eq!(r.status, 303);
    let location = r.header("location").unwrap_or_default();
    assert!(
        location.starts_with(&format!("{REFERER}&tk=")),
        "{location}"
    );
}

async fn raw(s: &TestServer, path: &str, ctype: &str, body: &str) -> Resp {
    let req = s
        .http
        .post(s.url(path))
        .header("content-type", ctype)
        .body(body.to_owned());
    Resp::send(req).await
}

#[track_caller]
fn rejected(r: &Resp, status: u16, code: i64, what: &str) {
    assert_eq!(r.status, status, "{what}\n{}", r.describe());
    assert_eq!(r.json()["code"], code, "{what}\n{}", r.describe());
    assert!(r.json()["data"].is_null(), "{what}");
}

async fn r03_bad_input_is_a_4xx_envelope_never_500(b: Backend) {
    let e = env(b).await;
    let s = &e.server;
    let token = app_token(&e).await;
    let paths = [
        "/api/auth/getSSO",
        "/api/auth/parseTk",
        "/api/auth/islogin",
        "/api/auth/logout",
        "/api/auth/getChangePasswordUri",
        "/api/log/save",
        "/api/log/listWithPaging",
    ];
    for path in paths {
        for body in [
            "{",
            "[1,2]",
            "\"tk\"",
            "{\"unknownField\":1}",
            "nul",
            "{\"a\":1,}",
        ] {
            let r = raw(s, path, "application/json", body).await;
            rejected(&r, 400, 104002, &format!("{path} {body}"));
        }
        let r = raw(s, path, "text/plain", "tk=x").await;
        rejected(&r, 415, 104002, path);
        let r = raw(
            s,
            path,
            "application/x-www-form-urlencoded",
            "token=a&token=b",
        )
        .await;
        rejected(&r, 400, 104002, path);
        // Larger than the 64 KiB these endpoints accept.
        let big = format!("{{\"token\":\"{}\"}}", "x".repeat(100 * 1024));
        let hs = [("Content-Type", "application/json")];
        let r = raw_http(&s.base, "POST", path, &hs, big.as_bytes()).await;
        assert_eq!(r.status, 413, "{path}: {}", r.head);
        let v: Value = serde_json::from_str(&r.body).expect("JSON envelope");
        assert_eq!(v["code"], 104002, "{path}");
    }
    let cases: [(&str, Value, i64); 14] = [
        ("/api/auth/parseTk", json!({}), 104001),
        ("/api/auth/parseTk", json!({ "tk": null }), 104001),
        ("/api/auth/parseTk", json!({ "tk": 5 }), 104002),
        ("/api/auth/parseTk", json!({ "tk": ["a"] }), 104002),
        ("/api/auth/parseTk", json!({ "tk": "abc" }), 104002),
        ("/api/auth/parseTk", json!({ "tk": "a.b.c" }), 104002),
        ("/api/auth/islogin", json!({ "token": 5 }), 104002),
        ("/api/auth/logout", json!({ "token": {} }), 104002),
        (
            "/api/log/save",
            json!({ "token": token, "op": "x", "detail": "y" }),
            104001,
        ),
        (
            "/api/log/save",
            json!({ "token": token, "userId": 1, "op": "x", "detail": "y" }),
            104002,
        ),
        (
            "/api/log/save",
            json!({ "token": token, "userId": "1", "op": "x", "detail": "y".repeat(20_000) }),
            104002,
        ),
        (
            "/api/log/listWithPaging",
            json!({ "token": token, "page": "abc" }),
            104002,
        ),
        (
            "/api/log/listWithPaging",
            json!({ "token": token, "page": 0 }),
            104002,
        ),
        (
            "/api/log/listWithPaging",
            json!({ "token": token, "pageSize": 1.5 }),
            104002,
        ),
    ];
    for (path, body, code) in cases {
        let r = call(s, path, &body).await;
        rejected(&r, 400, code, &format!("{path} {body}"));
    }
    for page in [json!(true), json!("-1"), json!([1])] {
        let body = json!({ "token": token, "page": page });
        let r = call(s, "/api/log/listWithPaging", &body).await;
        rejected(&r, 400, 104002, &body.to_string());
    }
    // A form body is read like JSON.
    let r = s
        .post_form("/api/auth/parseTk", &[("tk", "not-a-jws")])
        .await;
    rejected(&r, 400, 104002, "form tk");
    // An over-long token is just not a login.
    let long = json!({ "token": "x".repeat(10_000) });
    assert_eq!(data(&call(s, "/api/auth/islogin", &long).await), false);
    // Only POST.
    let r = s.get("/api/auth/parseTk").await;
    assert_eq!(r.status, 405, "{}", r.describe());
}
