//! /oauth/userinfo (P-21): GET/POST, claims by scope, 401 with a Bearer challenge for missing, garbage,
//! forged (P-13), wrong-type (P-15) and expired (P-12) tokens; no tokens in URLs.

use std::time::Duration;

use crate::common::*;

matrix!(
    p21_userinfo_get_post_header_post_body,
    p21_userinfo_claims_limited_to_scopes,
    p21_userinfo_missing_or_garbage_token_401,
    p13_forged_jwts_at_userinfo_401,
    p15_id_and_refresh_tokens_are_not_access_tokens,
    p12_expired_access_token_401,
    a06_access_token_in_query_refused,
);

#[track_caller]
fn assert_invalid_token(r: &Resp, label: &str) {
    assert_eq!(r.status, 401, "{label}\n{}", r.describe());
    let www = r.header("www-authenticate").unwrap_or_default();
    assert!(
        www.starts_with("Bearer"),
        "{label}: WWW-Authenticate must be a Bearer challenge\n{}",
        r.describe()
    );
    assert!(
        www.contains("error=\"invalid_token\""),
        "{label}: error=\"invalid_token\" expected\n{}",
        r.describe()
    );
}

async fn p21_userinfo_get_post_header_post_body(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let t = s
        .tokens(&f.client, &s.browser(), &Authz::new(&f.client), &f.user)
        .await;
    let (_, id_claims) = jwt::decode(t.id_token());

    let get = s.userinfo(&t.access).await;
    assert_eq!(get.status, 200, "{}", get.describe());
    assert!(
        get.header("content-type")
            .unwrap_or_default()
            .starts_with("application/json"),
        "{}",
        get.describe()
    );
    let info = get.json();
    assert_eq!(info["sub"], id_claims["sub"], "userinfo sub = ID token sub");
    assert_eq!(info["email"].as_str(), Some("alice@example.com"));
    assert_eq!(info["name"].as_str(), Some("Alice Example"));

    let post_header =
        Resp::send(s.http.post(s.url("/oauth/userinfo")).bearer_auth(&t.access)).await;
    assert_eq!(post_header.status, 200, "{}", post_header.describe());
    assert_eq!(post_header.json()["sub"], info["sub"]);

    let post_body = s
        .post_form("/oauth/userinfo", &[("access_token", &t.access)])
        .await;
    assert_eq!(post_body.status, 200, "{}", post_body.describe());
    assert_eq!(post_body.json()["sub"], info["sub"]);
}

/// CVE-2026-55982 class: claims follow the token's scopes.
async fn p21_userinfo_claims_limited_to_scopes(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let browser = s.browser();
    let t = s
        .tokens(
            &f.client,
            &browser,
            &Authz::new(&f.client).set("scope", "openid"),
            &f.user,
        )
        .await;
    let info = s.userinfo(&t.access).await.json();
    assert!(info["sub"].is_string(), "{info}");
    for claim in [
        "email",
        "email_verified",
        "name",
        "preferred_username",
        "given_name",
        "family_name",
    ] {
        assert!(
            info.get(claim).is_none(),
            "scope openid only, but {claim} returned: {info}"
        );
    }
    let t = s
        .tokens(
            &f.client,
            &browser,
            &Authz::new(&f.client).set("scope", "openid email"),
            &f.user,
        )
        .await;
    let info = s.userinfo(&t.access).await.json();
    assert_eq!(info["email"].as_str(), Some("alice@example.com"));
    assert!(
        info.get("name").is_none(),
        "email scope only, but name returned: {info}"
    );
}

async fn p21_userinfo_missing_or_garbage_token_401(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let r = s.get("/oauth/userinfo").await;
    assert_eq!(r.status, 401, "missing token\n{}", r.describe());
    assert!(
        r.header("www-authenticate")
            .unwrap_or_default()
            .starts_with("Bearer"),
        "missing token: Bearer challenge\n{}",
        r.describe()
    );
    for garbage in [
        "garbage",
        "a.b.c",
        "eyJhbGciOiJub25lIn0.e30.",
        "x".repeat(5000).as_str(),
        "%00%ff",
        "Bearer",
    ] {
        assert_invalid_token(
            &s.userinfo(garbage).await,
            &format!("garbage token {:.40}", garbage),
        );
    }
    for header in [
        "Bearer",
        "Bearer ",
        "Basic Zm9vOmJhcg==",
        "bearer",
        "Token abc",
    ] {
        let r = Resp::send(
            s.http
                .get(s.url("/oauth/userinfo"))
                .header("authorization", header),
        )
        .await;
        assert_eq!(r.status, 401, "Authorization: {header:?}\n{}", r.describe());
    }
}

/// P-13: every forged variant of a genuine token is refused.
async fn p13_forged_jwts_at_userinfo_401(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let t = s
        .tokens(&f.client, &s.browser(), &Authz::new(&f.client), &f.user)
        .await;
    let jwks = s.get("/jwks").await.json();
    let mut sources = vec![("id_token", t.id_token().to_string())];
    if jwt::is_jws(&t.access) {
        sources.push(("access_token", t.access.clone()));
    }
    for (src, token) in &sources {
        for (label, forged) in jwt::forgeries(token, &jwks) {
            assert_invalid_token(
                &s.userinfo(&forged).await,
                &format!("{label} (from the {src})"),
            );
        }
    }
    assert_eq!(
        s.userinfo(&t.access).await.status,
        200,
        "control: the genuine token works"
    );
}

async fn p15_id_and_refresh_tokens_are_not_access_tokens(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let t = s
        .tokens(&f.client, &s.browser(), &Authz::new(&f.client), &f.user)
        .await;
    assert_invalid_token(&s.userinfo(t.id_token()).await, "ID token as bearer");
    assert_invalid_token(&s.userinfo(t.refresh()).await, "refresh token as bearer");
}

/// GATEHOUSE_ACCESS_TOKEN_TTL=1: expires_in says 1, and 2 s later the token is refused.
async fn p12_expired_access_token_401(b: Backend) {
    let f = fixture_env(b, &[("GATEHOUSE_ACCESS_TOKEN_TTL", "1")]).await;
    let s = &f.server;
    let t = s
        .tokens(&f.client, &s.browser(), &Authz::new(&f.client), &f.user)
        .await;
    assert_eq!(t.json["expires_in"].as_u64(), Some(1), "{}", t.json);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_invalid_token(&s.userinfo(&t.access).await, "expired access token");
    assert!(
        !s.is_active(&f.client.auth(), &t.access).await,
        "expired token introspects as active"
    );
    // The refresh token still works and yields a fresh access token.
    let t2 = Tokens::from_resp(s.refresh(&f.client, t.refresh(), None).await);
    assert_eq!(s.userinfo(&t2.access).await.status, 200);
}

/// credentials are not taken from the URL.
async fn a06_access_token_in_query_refused(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let t = s
        .tokens(&f.client, &s.browser(), &Authz::new(&f.client), &f.user)
        .await;
    let r = s
        .get(&format!(
            "/oauth/userinfo?{}",
            form_encode(&[("access_token", &t.access)])
        ))
        .await;
    assert_eq!(
        r.status,
        401,
        "access_token in the query string must not authenticate\n{}",
        r.describe()
    );
}
