//! The hand-off itself: getSSO → login → referer with a tk → parseTk → token → islogin →
//! logout; the shared SSO session; single use, expiry and audience of the tk (G-03); forged
//! and wrong-type tks (P-13); disabled application or user (G-05).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::{
    Env, IncApp, REFERER, REFERER_BASE, app_token, call, call_with, data, env, inc_app, is_login,
    parse_tk, refused, sso, tk_via_browser,
};
use crate::common::api::ok;
use crate::common::{
    ALICE_PASSWORD, Authz, Backend, Callback, Resp, TestServer, assert_error_page, b64url,
    is_login_form, jwt,
};

matrix!(
    g03_tk_browser_flow_parse_islogin_logout,
    g01_signed_in_user_gets_no_form_and_sso_is_shared,
    g03_replayed_expired_and_other_audience_tks_are_refused,
    p13_forged_and_wrong_type_tks_are_refused,
    g05_tk_of_disabled_app_or_user_is_refused,
    logout_returns_registered_rurl_or_login_page,
);

async fn g03_tk_browser_flow_parse_islogin_logout(b: Backend) {
    let e = env(b).await;
    let s = &e.server;
    let browser = s.browser();
    let r = browser.get(&sso(&e.app.id, REFERER)).await;
    assert_eq!(r.status, 303, "{}", r.describe());
    assert_eq!(r.header("location"), Some("/login"));
    let page = browser.get("/login").await;
    assert!(is_login_form(&page.body), "{}", page.describe());
    let r = browser.submit_login(&page, "alice", ALICE_PASSWORD).await;
    assert_eq!(r.location().expect("Location").path(), "/sso/resume");
    let r = browser.get("/sso/resume").await;
    assert_eq!(r.status, 303, "{}", r.describe());
    // G-04: the hand-off is neither cached nor leaked through Referer.
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    let cb = Callback::new(r.location().expect("Location"));
    assert!(
        cb.url.as_str().starts_with(&format!("{REFERER}&tk=")),
        "{}",
        cb.url
    );
    let tk = cb.get("tk").expect("tk");
    let (header, claims) = jwt::decode(tk);
    assert_eq!(header["typ"], "inc-tk+jwt");
    assert_eq!(header["alg"], "ES256");
    assert_eq!(claims["iss"], s.issuer.as_str());
    assert_eq!(claims["aud"], e.app.id.as_str());
    assert_eq!(claims["sub"], e.user.id.as_str());
    assert_eq!(
        claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0),
        60
    );
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16));
    assert!(
        claims.get("token").is_none(),
        "no user credential in the URL"
    );

    let token = parse_tk(s, tk).await;
    assert!(!jwt::is_jws(&token) && token.len() >= 32, "{token}");
    assert!(is_login(s, &token).await);
    // The token also travels as a bearer or a `token` header, never in the query.
    let bearer = format!("Bearer {token}");
    for header in [
        ("authorization", bearer.as_str()),
        ("token", token.as_str()),
    ] {
        let r = call_with(s, "/api/auth/islogin", &[header], &json!({})).await;
        assert_eq!(data(&r), true, "{header:?}");
    }
    assert_eq!(data(&call(s, "/api/auth/islogin", &json!({})).await), false);
    assert!(!is_login(s, "no-such-token").await);
    let query = format!("/api/auth/islogin?token={token}");
    assert_eq!(data(&call(s, &query, &json!({})).await), false);

    let next = data(&call(s, "/api/auth/logout", &json!({ "token": token })).await);
    assert_eq!(next, format!("{}/login", s.issuer));
    assert!(!is_login(s, &token).await);
    // The browser's SSO session ended with it: the form shows again.
    let r = browser.get(&sso(&e.app.id, REFERER)).await;
    assert_eq!(r.header("location"), Some("/login"), "{}", r.describe());
    assert!(is_login_form(&browser.get("/login").await.body));
    // Logging out again is harmless.
    let again = data(&call(s, "/api/auth/logout", &json!({ "token": token })).await);
    assert_eq!(again, format!("{}/login", s.issuer));
}

async fn g01_signed_in_user_gets_no_form_and_sso_is_shared(b: Backend) {
    let e = env(b).await;
    let s = &e.server;
    let other = inc_app(&e.api, "Other App", &["https://other.example/"], json!({})).await;
    let browser = s.browser();
    assert_eq!(browser.login("alice", ALICE_PASSWORD).await.status, 303);
    let r = browser.get(&sso(&e.app.id, REFERER)).await;
    assert_eq!(r.status, 303, "{}", r.describe());
    let a = Callback::new(r.location().expect("Location"));
    assert!(
        a.url.as_str().starts_with(&format!("{REFERER}&tk=")),
        "{}",
        a.url
    );
    let r = browser
        .get(&sso(&other.id, "https://other.example/home"))
        .await;
    let o = Callback::new(r.location().expect("Location"));
    assert!(
        o.url.as_str().starts_with("https://other.example/home?tk="),
        "{}",
        o.url
    );
    let token_a = parse_tk(s, a.get("tk").expect("tk")).await;
    let token_o = parse_tk(s, o.get("tk").expect("tk")).await;
    assert!(is_login(s, &token_a).await && is_login(s, &token_o).await);
    // One SSO session: logging out with one application's token ends the other's.
    data(&call(s, "/api/auth/logout", &json!({ "token": token_a })).await);
    assert!(!is_login(s, &token_o).await);
}

/// The server's ES256 key (the harness shares its key files with the test).
fn es256_key(s: &TestServer) -> ring::signature::EcdsaKeyPair {
    let mut pems: Vec<_> = std::fs::read_dir(&s.keys_dir)
        .expect("keys dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("es256-") && n.ends_with(".pem"))
        })
        .collect();
    pems.sort();
    let pem = std::fs::read_to_string(pems.last().expect("an ES256 key")).expect("read key");
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = STANDARD.decode(b64).expect("PEM body");
    let rng = ring::rand::SystemRandom::new();
    ring::signature::EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &der,
        &rng,
    )
    .expect("PKCS#8 P-256 key")
}

/// The tk with its claims changed by `f` and a valid signature by the server's own key.
fn resign(s: &TestServer, tk: &str, f: impl FnOnce(&mut Value)) -> String {
    let (_, mut claims) = jwt::decode(tk);
    f(&mut claims);
    let header = tk.split('.').next().expect("header");
    let input = format!(
        "{header}.{}",
        b64url(&serde_json::to_vec(&claims).expect("json"))
    );
    let rng = ring::rand::SystemRandom::new();
    let sig = es256_key(s).sign(&rng, input.as_bytes()).expect("sign");
    format!("{input}.{}", b64url(sig.as_ref()))
}

/// `parseTk` with `Authorization: <auth>`.
async fn parse_as(s: &TestServer, auth: &str, tk: &str) -> Resp {
    let body = json!({ "tk": tk });
    call_with(s, "/api/auth/parseTk", &[("authorization", auth)], &body).await
}

fn basic(app: &IncApp, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{}:{secret}", app.id)))
}

async fn g03_replayed_expired_and_other_audience_tks_are_refused(b: Backend) {
    let e = env(b).await;
    let s = &e.server;
    let browser = s.browser();
    let tk = tk_via_browser(&e, &browser, &e.app.id).await;
    // Expired: same jti, genuine signature, exp in the past.
    let expired = resign(s, &tk, |c| {
        let iat = c["iat"].as_i64().unwrap_or(0) - 200;
        c["iat"] = json!(iat);
        c["exp"] = json!(iat + 60);
    });
    refused(
        &call(s, "/api/auth/parseTk", &json!({ "tk": expired })).await,
        100401,
    );
    // A longer lifetime than 60 s is not honoured either.
    let long = resign(s, &tk, |c| {
        c["exp"] = json!(c["iat"].as_i64().unwrap_or(0) + 3600)
    });
    refused(
        &call(s, "/api/auth/parseTk", &json!({ "tk": long })).await,
        100401,
    );
    // Another application authenticating itself cannot redeem it (and does not burn it).
    let other = inc_app(&e.api, "Other App", &["https://other.example/"], json!({})).await;
    let as_other = basic(&other, &other.secret);
    let r = parse_as(s, &as_other, &tk).await;
    refused(&r, 100401);
    let wrong = basic(&e.app, "not-the-secret");
    let r = parse_as(s, &wrong, &tk).await;
    assert_eq!(r.status, 401, "{}", r.describe());
    refused(&r, 100401);
    // Its own application (authenticated) redeems it once.
    let as_app = basic(&e.app, &e.app.secret);
    let r = parse_as(s, &as_app, &tk).await;
    let token = data(&r)["token"].as_str().expect("token").to_owned();
    assert!(is_login(s, &token).await);
    // Replay: refused, with or without authentication — and the token the first redemption
    // bought dies with it (whoever replays holds the tk too).
    refused(
        &call(s, "/api/auth/parseTk", &json!({ "tk": tk })).await,
        100401,
    );
    assert!(
        !is_login(s, &token).await,
        "a replayed tk revokes its token"
    );
    // A fresh tk whose audience is rewritten (genuine signature) does not match its record.
    let tk2 = tk_via_browser(&e, &browser, &e.app.id).await;
    let moved = resign(s, &tk2, |c| c["aud"] = json!(other.id));
    refused(
        &call(s, "/api/auth/parseTk", &json!({ "tk": moved })).await,
        100401,
    );
    // A made-up jti with a genuine signature was never issued.
    let tk3 = tk_via_browser(&e, &browser, &e.app.id).await;
    let unknown = resign(s, &tk3, |c| c["jti"] = json!("made-up-jti-0123456789"));
    refused(
        &call(s, "/api/auth/parseTk", &json!({ "tk": unknown })).await,
        100401,
    );
    parse_tk(s, &tk3).await;
}

async fn p13_forged_and_wrong_type_tks_are_refused(b: Backend) {
    let e = env(b).await;
    let s = &e.server;
    let tk = tk_via_browser(&e, &s.browser(), &e.app.id).await;
    let jwks = s.get("/jwks").await.json();
    let mut bad = jwt::forgeries(&tk, &jwks);
    // OIDC tokens of the same user are not tks (and a tk is not an access token).
    let client = s.client(&[]).await;
    let t = s
        .tokens(&client, &s.browser(), &Authz::new(&client), &e.user)
        .await;
    bad.push(("access token".into(), t.access.clone()));
    bad.push(("ID token".into(), t.id_token().to_owned()));
    bad.push(("refresh token".into(), t.refresh().to_owned()));
    bad.push(("app token".into(), app_token(&e).await));
    for (label, forged) in bad {
        let r = call(s, "/api/auth/parseTk", &json!({ "tk": forged })).await;
        assert!(r.status < 500, "{label}\n{}", r.describe());
        let v = r.json();
        assert!(
            v["code"] == 100401 || v["code"] == 104002,
            "{label}\n{}",
            r.describe()
        );
        assert!(v["data"].is_null(), "{label}\n{}", r.describe());
    }
    assert_eq!(s.userinfo(&tk).await.status, 401, "a tk is no access token");
    assert!(!is_login(s, &tk).await);
    // None of the attempts consumed the genuine tk.
    parse_tk(s, &tk).await;
}

async fn g05_tk_of_disabled_app_or_user_is_refused(b: Backend) {
    let e = env(b).await;
    let s = &e.server;
    let browser = s.browser();
    let app_path = format!("/api/v1/applications/{}", e.app.id);
    let tk = tk_via_browser(&e, &browser, &e.app.id).await;
    ok(&e.api.patch(&app_path, &json!({ "enabled": false })).await);
    refused(
        &call(s, "/api/auth/parseTk", &json!({ "tk": tk })).await,
        100401,
    );
    assert_error_page(&browser.get(&sso(&e.app.id, REFERER)).await);
    ok(&e.api.patch(&app_path, &json!({ "enabled": true })).await);
    let token = parse_tk(s, &tk_via_browser(&e, &browser, &e.app.id).await).await;
    let pending = tk_via_browser(&e, &browser, &e.app.id).await;
    let disable = format!("/api/v1/users/{}/disable", e.user.id);
    ok(&e.api.post(&disable, &json!({})).await);
    refused(
        &call(s, "/api/auth/parseTk", &json!({ "tk": pending })).await,
        100401,
    );
    assert!(!is_login(s, &token).await);
    // The browser session of the disabled user is gone too.
    let r = browser.get(&sso(&e.app.id, REFERER)).await;
    assert_eq!(r.header("location"), Some("/login"), "{}", r.describe());
}

async fn logout_returns_registered_rurl_or_login_page(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let extra = json!({ "home_url": "https://app.example/app/home" });
    let app = inc_app(&api, "Home App", &[REFERER_BASE], extra).await;
    let user = server.user("alice", ALICE_PASSWORD).await;
    let e = Env {
        server,
        api,
        app,
        user,
    };
    let s = &e.server;
    let login = format!("{}/login", s.issuer);
    let back = "https://app.example/app/after?y=2";
    let token = app_token(&e).await;
    let body = json!({ "token": token, "rurl": back });
    let next = data(&call(s, "/api/auth/logout", &body).await);
    assert_eq!(next, format!("{}{}", s.issuer, sso(&e.app.id, back)));
    // An unregistered rurl is ignored: the application's home page instead.
    let token = app_token(&e).await;
    let body = json!({ "token": token, "rurl": "https://evil.example/app/" });
    let next = data(&call(s, "/api/auth/logout", &body).await);
    let home = format!(
        "{}{}",
        s.issuer,
        sso(&e.app.id, "https://app.example/app/home")
    );
    assert_eq!(next, home);
    // Without a (valid) token: the login page, and the rurl is never echoed.
    let body = json!({ "rurl": "https://evil.example/" });
    assert_eq!(data(&call(s, "/api/auth/logout", &body).await), login);
    let body = json!({ "token": "nope", "rurl": back });
    assert_eq!(data(&call(s, "/api/auth/logout", &body).await), login);
}
