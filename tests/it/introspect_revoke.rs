//! Introspection (RFC 7662) and revocation (RFC 7009): client authentication required (P-18),
//! `{"active":false}` for anything not active, revocation effective and bound to the client (P-11, P-13).

use serde_json::json;

use crate::common::*;

matrix!(
    p18_introspection_requires_client_auth,
    p18_revocation_requires_client_auth,
    p11_introspect_active_then_revoke_access_token,
    p11_revoke_refresh_token,
    p11_revoke_unknown_token_is_200,
    p11_revoke_by_other_client_has_no_effect,
    p13_introspect_garbage_and_forged_tokens_inactive,
);

async fn p18_introspection_requires_client_auth(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let t = s
        .tokens(&f.client, &s.browser(), &Authz::new(&f.client), &f.user)
        .await;
    let cases = [
        ("no client authentication", ClientAuth::None),
        (
            "wrong secret",
            ClientAuth::Basic(f.client.id.clone(), "wrong".into()),
        ),
        (
            "wrong secret (post)",
            ClientAuth::Post(f.client.id.clone(), "wrong".into()),
        ),
        (
            "unknown client",
            ClientAuth::Basic("nope".into(), "nope".into()),
        ),
        (
            "bearer token instead of client credentials",
            ClientAuth::Header(format!("Bearer {}", t.access)),
        ),
    ];
    for (label, auth) in cases {
        let r = s.introspect(&auth, &t.access).await;
        assert_eq!(r.status, 401, "{label}\n{}", r.describe());
        assert_invalid_client(&r);
        assert!(
            !r.body.contains("\"active\""),
            "{label}: no introspection result without client auth"
        );
    }
}

async fn p18_revocation_requires_client_auth(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let t = s
        .tokens(&f.client, &s.browser(), &Authz::new(&f.client), &f.user)
        .await;
    for (label, auth) in [
        ("no client authentication", ClientAuth::None),
        (
            "wrong secret",
            ClientAuth::Basic(f.client.id.clone(), "wrong".into()),
        ),
    ] {
        let r = s.revoke(&auth, &t.access).await;
        assert_eq!(r.status, 401, "{label}\n{}", r.describe());
        assert_invalid_client(&r);
    }
    assert!(
        s.is_active(&f.client.auth(), &t.access).await,
        "refused revocation must not revoke"
    );
}

async fn p11_introspect_active_then_revoke_access_token(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let t = s
        .tokens(&f.client, &s.browser(), &Authz::new(&f.client), &f.user)
        .await;
    for auth in [f.client.auth(), f.client.post_auth()] {
        let r = s.introspect(&auth, &t.access).await;
        assert_eq!(r.status, 200, "{}", r.describe());
        assert!(
            r.header("content-type")
                .unwrap_or_default()
                .starts_with("application/json")
        );
        let j = r.json();
        assert_eq!(j["active"], json!(true), "{j}");
        assert_eq!(j["client_id"].as_str(), Some(f.client.id.as_str()), "{j}");
        let mut scopes: Vec<&str> = j["scope"]
            .as_str()
            .unwrap_or_else(|| panic!("scope in {j}"))
            .split(' ')
            .collect();
        scopes.sort();
        assert_eq!(scopes, vec!["email", "openid", "profile"]);
        assert!(j["exp"].as_i64().is_some(), "exp in {j}");
        if let Some(tt) = j.get("token_type") {
            assert!(
                tt.as_str()
                    .is_some_and(|v| v.eq_ignore_ascii_case("bearer")),
                "{j}"
            );
        }
    }
    let r = s.revoke(&f.client.auth(), &t.access).await;
    assert_eq!(r.status, 200, "{}", r.describe());
    let r = s.introspect(&f.client.auth(), &t.access).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"active": false}),
        "RFC 7662: nothing but active:false for inactive tokens"
    );
    assert_eq!(s.userinfo(&t.access).await.status, 401);
    // Revoking twice is fine.
    assert_eq!(s.revoke(&f.client.auth(), &t.access).await.status, 200);
}

async fn p11_revoke_refresh_token(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let t = s
        .tokens(&f.client, &s.browser(), &Authz::new(&f.client), &f.user)
        .await;
    let r = s
        .client_post(
            "/oauth/revoke",
            &f.client.auth(),
            &[("token", t.refresh()), ("token_type_hint", "refresh_token")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_oauth_error(
        &s.refresh(&f.client, t.refresh(), None).await,
        400,
        "invalid_grant",
    );
    let r = s
        .client_post(
            "/oauth/introspect",
            &f.client.auth(),
            &[("token", t.refresh()), ("token_type_hint", "refresh_token")],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["active"], json!(false), "{}", r.describe());
}

async fn p11_revoke_unknown_token_is_200(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    for token in ["never-issued", "", "a.b.c"] {
        let r = s.revoke(&f.client.auth(), token).await;
        assert!(
            r.status == 200 || (token.is_empty() && r.status == 400),
            "revoke {token:?}\n{}",
            r.describe()
        );
    }
    let r = s
        .client_post(
            "/oauth/revoke",
            &f.client.auth(),
            &[("token", "x"), ("token_type_hint", "no_such_hint")],
        )
        .await;
    assert_eq!(
        r.status,
        200,
        "unknown hint is ignored (RFC 7009 §2.1)\n{}",
        r.describe()
    );
}

/// RFC 7009 §2.1: a client may only revoke its own tokens.
async fn p11_revoke_by_other_client_has_no_effect(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let other = s.client(&[]).await;
    let t = s
        .tokens(&f.client, &s.browser(), &Authz::new(&f.client), &f.user)
        .await;
    // Contract: 200 always (unless client auth fails) — but nothing is revoked.
    let r = s.revoke(&other.auth(), &t.access).await;
    assert_eq!(r.status, 200, "{}", r.describe());
    let r = s.revoke(&other.auth(), t.refresh()).await;
    assert_eq!(r.status, 200, "{}", r.describe());
    assert!(
        s.is_active(&f.client.auth(), &t.access).await,
        "client B revoked client A's access token"
    );
    Tokens::from_resp(s.refresh(&f.client, t.refresh(), None).await);
}

async fn p13_introspect_garbage_and_forged_tokens_inactive(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let t = s
        .tokens(&f.client, &s.browser(), &Authz::new(&f.client), &f.user)
        .await;
    let jwks = s.get("/jwks").await.json();
    let mut tokens: Vec<(String, String)> = ["garbage", "a.b.c", "", "eyJhbGciOiJub25lIn0.e30."]
        .iter()
        .map(|g| (format!("garbage {g:?}"), g.to_string()))
        .collect();
    tokens.extend(jwt::forgeries(t.id_token(), &jwks));
    if jwt::is_jws(&t.access) {
        tokens.extend(jwt::forgeries(&t.access, &jwks));
    }
    tokens.push(("the ID token".into(), t.id_token().to_string()));
    for (label, token) in tokens {
        let r = s.introspect(&f.client.auth(), &token).await;
        if token.is_empty() && r.status == 400 {
            assert_oauth_error(&r, 400, "invalid_request");
            continue;
        }
        assert_eq!(r.status, 200, "{label}\n{}", r.describe());
        assert_eq!(
            r.json(),
            json!({"active": false}),
            "{label} introspected as active"
        );
    }
}
