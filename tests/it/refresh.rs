//! Refresh tokens: rotation and reuse detection (P-09), binding and scope (P-10).

use crate::common::*;

matrix!(
    p09_refresh_rotation_old_token_refused,
    p09_refresh_replay_revokes_family,
    p10_refresh_scope_may_only_shrink,
    p10_refresh_token_of_client_a_at_client_b,
    p10_refreshed_id_token_keeps_iss_sub_aud,
    p15_access_token_is_not_a_refresh_token,
);

async fn p09_refresh_rotation_old_token_refused(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let t1 = s
        .tokens(&f.client, &s.browser(), &Authz::new(&f.client), &f.user)
        .await;
    let t2 = Tokens::from_resp(s.refresh(&f.client, t1.refresh(), None).await);
    assert_ne!(
        t1.refresh(),
        t2.refresh(),
        "rotation issues a new refresh token"
    );
    assert_ne!(t1.access, t2.access, "and a new access token");
    let cc = t2
        .resp
        .header("cache-control")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        cc.contains("no-store"),
        "P-12 on refresh responses\n{}",
        t2.resp.describe()
    );
    assert_eq!(s.userinfo(&t2.access).await.status, 200);
    let r = s.refresh(&f.client, t1.refresh(), None).await;
    assert_oauth_error(&r, 400, "invalid_grant");
}

/// P-09: replaying a rotated refresh token kills its successors and their access tokens.
async fn p09_refresh_replay_revokes_family(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let t1 = s
        .tokens(&f.client, &s.browser(), &Authz::new(&f.client), &f.user)
        .await;
    let t2 = Tokens::from_resp(s.refresh(&f.client, t1.refresh(), None).await);
    let t3 = Tokens::from_resp(s.refresh(&f.client, t2.refresh(), None).await);
    assert!(s.is_active(&f.client.auth(), &t3.access).await);

    // Replay of an older generation (not just the immediate predecessor).
    assert_oauth_error(
        &s.refresh(&f.client, t1.refresh(), None).await,
        400,
        "invalid_grant",
    );

    assert_oauth_error(
        &s.refresh(&f.client, t3.refresh(), None).await,
        400,
        "invalid_grant",
    );
    for (label, at) in [("t1", &t1.access), ("t2", &t2.access), ("t3", &t3.access)] {
        let r = s.userinfo(at).await;
        assert_eq!(
            r.status,
            401,
            "P-09: {label} access token must be revoked with the family\n{}",
            r.describe()
        );
        assert!(
            !s.is_active(&f.client.auth(), at).await,
            "{label} introspects as active after family revocation"
        );
    }
    // A separate grant of the same user and client is not part of the family.
    let other = s
        .tokens(&f.client, &s.browser(), &Authz::new(&f.client), &f.user)
        .await;
    Tokens::from_resp(s.refresh(&f.client, other.refresh(), None).await);
}

/// P-10: a refresh may narrow the scope but never widen it (invalid_scope).
async fn p10_refresh_scope_may_only_shrink(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let t1 = s
        .tokens(&f.client, &s.browser(), &Authz::new(&f.client), &f.user)
        .await;
    let t2 = Tokens::from_resp(
        s.refresh(&f.client, t1.refresh(), Some("openid email"))
            .await,
    );
    let mut scopes: Vec<&str> = t2.json["scope"]
        .as_str()
        .unwrap_or_else(|| panic!("scope in {}", t2.json))
        .split(' ')
        .collect();
    scopes.sort();
    assert_eq!(scopes, vec!["email", "openid"], "narrowed scope");
    let info = s.userinfo(&t2.access).await;
    assert_eq!(info.status, 200);
    assert!(
        info.json().get("name").is_none(),
        "profile claims must go with the profile scope: {}",
        info.body
    );

    // Widening beyond the original grant, and back to the dropped `profile`.
    let r = s
        .refresh(&f.client, t2.refresh(), Some("openid email phone"))
        .await;
    assert_oauth_error(&r, 400, "invalid_scope");
    let r = s
        .refresh(&f.client, t2.refresh(), Some("openid no-such-scope"))
        .await;
    assert_oauth_error(&r, 400, "invalid_scope");
}

async fn p10_refresh_token_of_client_a_at_client_b(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let other = s.client(&[]).await;
    let t = s
        .tokens(&f.client, &s.browser(), &Authz::new(&f.client), &f.user)
        .await;
    let r = s.refresh(&other, t.refresh(), None).await;
    assert_oauth_error(&r, 400, "invalid_grant");
    assert!(
        !r.body.contains("access_token"),
        "no tokens for client B\n{}",
        r.describe()
    );
}

/// P-10 / OIDC §12.2: a refreshed ID token keeps iss, sub and aud, and is newer.
async fn p10_refreshed_id_token_keeps_iss_sub_aud(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let t1 = s
        .tokens(&f.client, &s.browser(), &Authz::new(&f.client), &f.user)
        .await;
    let (_, c1) = jwt::decode(t1.id_token());
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let t2 = Tokens::from_resp(s.refresh(&f.client, t1.refresh(), None).await);
    let Some(id2) = t2.id_token.as_deref() else {
        return; // OIDC §12.2: an ID token on refresh is optional.
    };
    let (_, c2) = jwt::decode(id2);
    for claim in ["iss", "sub", "aud"] {
        assert_eq!(c1[claim], c2[claim], "{claim} changed on refresh");
    }
    assert!(
        c2["iat"].as_i64() > c1["iat"].as_i64(),
        "refreshed ID token must be newer: {c1} vs {c2}"
    );
}

/// P-15: tokens are not interchangeable at the refresh grant.
async fn p15_access_token_is_not_a_refresh_token(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let t = s
        .tokens(&f.client, &s.browser(), &Authz::new(&f.client), &f.user)
        .await;
    assert_oauth_error(
        &s.refresh(&f.client, &t.access, None).await,
        400,
        "invalid_grant",
    );
    assert_oauth_error(
        &s.refresh(&f.client, t.id_token(), None).await,
        400,
        "invalid_grant",
    );
    // The genuine refresh token still works afterwards.
    Tokens::from_resp(s.refresh(&f.client, t.refresh(), None).await);
}
