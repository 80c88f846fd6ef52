//! /oauth/token for the authorization_code grant: single use and client binding (P-07), redirect_uri
//! identity (P-03), code lifetime (P-08), client authentication (P-18), response hygiene (P-12),
//! unknown grants (P-17).

use std::time::Duration;

use crate::common::*;

matrix!(
    p07_code_replay_revokes_tokens,
    p07_code_of_client_a_at_client_b,
    p03_wrong_or_missing_redirect_uri_at_token,
    p08_expired_code_invalid_grant,
    p18_wrong_client_secret_invalid_client,
    p18_client_secret_post_accepted,
    p12_token_response_hygiene,
    p17_unknown_grant_type,
    p18_public_client_cannot_pose_as_confidential,
);

/// P-07: second redemption → 400 invalid_grant, and everything the first one issued is dead.
async fn p07_code_replay_revokes_tokens(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let authz = Authz::new(&f.client);
    let cb = s.code(&s.browser(), &authz, &f.user).await;
    let t = Tokens::from_resp(s.redeem(&f.client, &authz, cb.code()).await);
    assert_eq!(
        s.userinfo(&t.access).await.status,
        200,
        "token works before the replay"
    );

    let replay = s.redeem(&f.client, &authz, cb.code()).await;
    assert_oauth_error(&replay, 400, "invalid_grant");
    assert!(
        !replay.body.contains("access_token"),
        "replay must not mint tokens\n{}",
        replay.describe()
    );

    let r = s.userinfo(&t.access).await;
    assert_eq!(
        r.status,
        401,
        "P-07: access token from a replayed code must die\n{}",
        r.describe()
    );
    assert!(
        !s.is_active(&f.client.auth(), &t.access).await,
        "P-07: introspection active:false after replay"
    );
    assert_oauth_error(
        &s.refresh(&f.client, t.refresh(), None).await,
        400,
        "invalid_grant",
    );
}

async fn p07_code_of_client_a_at_client_b(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let other = s.client(&[]).await;
    let authz = Authz::new(&f.client);
    let cb = s.code(&s.browser(), &authz, &f.user).await;
    let r = s.redeem(&other, &authz, cb.code()).await;
    assert_oauth_error(&r, 400, "invalid_grant");
    // Client B's id in the body with A's secret is not a way around it either.
    let verifier = authz.verifier.as_deref().expect("verifier");
    let r = s
        .token(
            &ClientAuth::Post(other.id.clone(), f.client.secret.clone().expect("secret")),
            &[
                ("grant_type", "authorization_code"),
                ("code", cb.code()),
                ("redirect_uri", REDIRECT),
                ("code_verifier", verifier),
            ],
        )
        .await;
    assert_invalid_client(&r);
}

/// P-03: redirect_uri must be present and identical at /token (a different *registered* URI too).
async fn p03_wrong_or_missing_redirect_uri_at_token(b: Backend) {
    let s = TestServer::start(b, &[]).await;
    let second = "https://app.example/cb2";
    let client = s
        .client_with(&[
            "--name",
            "Two URIs",
            "--redirect-uri",
            REDIRECT,
            "--redirect-uri",
            second,
        ])
        .await;
    let user = s.user("alice", ALICE_PASSWORD).await;
    let browser = s.browser();
    let cases: [(&str, Option<&str>); 4] = [
        ("other registered URI", Some(second)),
        ("missing", None),
        ("prefix-similar", Some("https://app.example/cb/")),
        ("case changed", Some("https://app.example/CB")),
    ];
    for (label, redirect) in cases {
        let authz = Authz::new(&client);
        let cb = s.code(&browser, &authz, &user).await;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", cb.code()),
            (
                "code_verifier",
                authz.verifier.as_deref().expect("verifier"),
            ),
        ];
        if let Some(r) = redirect {
            form.push(("redirect_uri", r));
        }
        let r = s.token(&client.auth(), &form).await;
        assert_eq!(r.status, 400, "{label}: {}", r.describe());
        assert_oauth_error(&r, 400, "invalid_grant");
    }
    // Control: the second URI works when it was the one used at /authorize.
    let authz = Authz::new(&client).set("redirect_uri", second);
    let cb = s.code(&browser, &authz, &user).await;
    Tokens::from_resp(s.redeem(&client, &authz, cb.code()).await);
}

/// P-08: GATEHOUSE_CODE_TTL=1, wait 2 s → invalid_grant.
async fn p08_expired_code_invalid_grant(b: Backend) {
    let f = fixture_env(b, &[("GATEHOUSE_CODE_TTL", "1")]).await;
    let s = &f.server;
    let authz = Authz::new(&f.client);
    let cb = s.code(&s.browser(), &authz, &f.user).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = s.redeem(&f.client, &authz, cb.code()).await;
    assert_oauth_error(&r, 400, "invalid_grant");
}

/// P-18: wrong secret (Basic and post), other client's secret, unknown client, no credentials at all.
async fn p18_wrong_client_secret_invalid_client(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let other = s.client(&[]).await;
    let authz = Authz::new(&f.client);
    let cb = s.code(&s.browser(), &authz, &f.user).await;
    let verifier = authz.verifier.as_deref().expect("verifier");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", cb.code()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ];
    let id = f.client.id.clone();
    let cases = [
        (
            "basic, wrong secret",
            ClientAuth::Basic(id.clone(), "wrong-secret".into()),
        ),
        (
            "post, wrong secret",
            ClientAuth::Post(id.clone(), "wrong-secret".into()),
        ),
        (
            "basic, other client's secret",
            ClientAuth::Basic(id.clone(), other.secret.clone().expect("secret")),
        ),
        (
            "basic, empty secret",
            ClientAuth::Basic(id.clone(), String::new()),
        ),
        (
            "basic, unknown client",
            ClientAuth::Basic("no-such-client".into(), "x".into()),
        ),
        (
            "client_id only for a confidential client",
            ClientAuth::Public(id.clone()),
        ),
        ("no client authentication", ClientAuth::None),
    ];
    for (label, auth) in cases {
        let r = s.token(&auth, &form).await;
        assert_eq!(r.status, 401, "{label}\n{}", r.describe());
        assert_invalid_client(&r);
    }
    // The failed attempts did not consume the code.
    Tokens::from_resp(s.redeem(&f.client, &authz, cb.code()).await);
}

async fn p18_client_secret_post_accepted(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let authz = Authz::new(&f.client);
    let cb = s.code(&s.browser(), &authz, &f.user).await;
    let r = s
        .token(
            &f.client.post_auth(),
            &[
                ("grant_type", "authorization_code"),
                ("code", cb.code()),
                ("redirect_uri", REDIRECT),
                (
                    "code_verifier",
                    authz.verifier.as_deref().expect("verifier"),
                ),
            ],
        )
        .await;
    Tokens::from_resp(r);
}

/// P-12: Bearer, expires_in = access token TTL, scope, Cache-Control: no-store, JSON.
async fn p12_token_response_hygiene(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let authz = Authz::new(&f.client);
    let t = s.tokens(&f.client, &s.browser(), &authz, &f.user).await;
    let r = &t.resp;
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("application/json"),
        "{}",
        r.describe()
    );
    let cc = r
        .header("cache-control")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        cc.contains("no-store"),
        "P-12: Cache-Control: no-store on token responses\n{}",
        r.describe()
    );
    assert!(
        t.json["token_type"]
            .as_str()
            .is_some_and(|v| v.eq_ignore_ascii_case("bearer")),
        "{}",
        t.json
    );
    assert_eq!(
        t.json["expires_in"].as_u64(),
        Some(900),
        "default access token TTL: {}",
        t.json
    );
    let mut scopes: Vec<&str> = t.json["scope"]
        .as_str()
        .unwrap_or_else(|| panic!("scope: {}", t.json))
        .split(' ')
        .collect();
    scopes.sort();
    assert_eq!(scopes, vec!["email", "openid", "profile"]);
    assert!(
        t.access.len() >= 22,
        "access token entropy/length: {}",
        t.access
    );
    assert!(t.refresh().len() >= 22, "refresh token entropy/length");
    t.id_token();
    assert_ne!(t.access, t.refresh(), "distinct tokens");
    // Error responses carry no-store too.
    let r = s.redeem(&f.client, &authz, "bogus-code").await;
    assert_oauth_error(&r, 400, "invalid_grant");
    let cc = r
        .header("cache-control")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        cc.contains("no-store"),
        "token error responses carry no-store too\n{}",
        r.describe()
    );
}

/// P-17: password / implicit / unknown grants → unsupported_grant_type; missing → invalid_request.
async fn p17_unknown_grant_type(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    for g in [
        "password",
        "implicit",
        "urn:ietf:params:oauth:grant-type:device_code",
        "urn:x:unknown",
        "AUTHORIZATION_CODE",
    ] {
        let r = s
            .token(
                &f.client.auth(),
                &[
                    ("grant_type", g),
                    ("username", "alice"),
                    ("password", ALICE_PASSWORD),
                ],
            )
            .await;
        assert_oauth_error(&r, 400, "unsupported_grant_type");
    }
    let r = s.token(&f.client.auth(), &[("code", "x")]).await;
    assert_oauth_error(&r, 400, "invalid_request");
}

/// A public client sends client_id only; a confidential client doing the same is refused (above), and a
/// public client presenting a made-up secret is not "upgraded".
async fn p18_public_client_cannot_pose_as_confidential(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let public = s.client(&["--public"]).await;
    assert!(
        public.secret.is_none(),
        "public client has no secret: {}",
        public.json
    );
    let authz = Authz::new(&public);
    let cb = s.code(&s.browser(), &authz, &f.user).await;
    let r = s
        .token(
            &ClientAuth::Basic(public.id.clone(), "made-up".into()),
            &[
                ("grant_type", "authorization_code"),
                ("code", cb.code()),
                ("redirect_uri", REDIRECT),
                (
                    "code_verifier",
                    authz.verifier.as_deref().expect("verifier"),
                ),
            ],
        )
        .await;
    assert_invalid_client(&r);
}
