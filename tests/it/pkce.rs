//! PKCE (RFC 7636): S256 only and required for public clients (P-04), the verifier is checked (P-05),
//! no downgrade (P-06).

use crate::common::*;

matrix!(
    p04_plain_method_invalid_request,
    p04_public_client_without_challenge_invalid_request,
    p04_malformed_challenge_invalid_request,
    p04_public_client_with_s256_succeeds,
    p05_missing_verifier_refused,
    p05_wrong_verifier_invalid_grant,
    p05_malformed_verifier_refused,
    p06_downgrade_verifier_without_challenge_invalid_grant,
    p04_confidential_client_without_pkce_succeeds,
);

async fn p04_plain_method_invalid_request(b: Backend) {
    let f = fixture(b).await;
    let browser = f.server.browser();
    let v = pkce_verifier();
    let authz = Authz::new(&f.client)
        .set("code_challenge", &v)
        .set("code_challenge_method", "plain");
    let r = browser.get(&authz.path()).await;
    assert_error_redirect(
        &r,
        REDIRECT,
        "invalid_request",
        authz.get("state"),
        &f.server.base,
    );
    // Also with a session (the check must not be skipped for logged-in users).
    f.server
        .code(&browser, &Authz::new(&f.client), &f.user)
        .await;
    let r = browser.get(&authz.path()).await;
    assert_error_redirect(
        &r,
        REDIRECT,
        "invalid_request",
        authz.get("state"),
        &f.server.base,
    );
    // An unknown method, too.
    let authz = Authz::new(&f.client).set("code_challenge_method", "S512");
    let r = browser.get(&authz.path()).await;
    assert_error_redirect(
        &r,
        REDIRECT,
        "invalid_request",
        authz.get("state"),
        &f.server.base,
    );
}

async fn p04_public_client_without_challenge_invalid_request(b: Backend) {
    let f = fixture(b).await;
    let public = f.server.client(&["--public"]).await;
    let authz = Authz::new(&public).no_pkce();
    let r = f.server.browser().get(&authz.path()).await;
    assert_error_redirect(
        &r,
        REDIRECT,
        "invalid_request",
        authz.get("state"),
        &f.server.base,
    );
}

/// P-04: a challenge that is not 43 base64url characters is refused.
async fn p04_malformed_challenge_invalid_request(b: Backend) {
    let f = fixture(b).await;
    let browser = f.server.browser();
    let too_long = "a".repeat(44);
    for bad in [
        "abc",
        &s256("x")[..42],
        too_long.as_str(),
        "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
        "",
    ] {
        let authz = Authz::new(&f.client).set("code_challenge", bad);
        let r = browser.get(&authz.path()).await;
        assert_error_redirect(
            &r,
            REDIRECT,
            "invalid_request",
            authz.get("state"),
            &f.server.base,
        );
    }
}

async fn p04_public_client_with_s256_succeeds(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let public = s.client(&["--public"]).await;
    assert_eq!(public.json["public"], serde_json::json!(true));
    let authz = Authz::new(&public);
    let t = s.tokens(&public, &s.browser(), &authz, &f.user).await;
    assert_eq!(s.userinfo(&t.access).await.status, 200);
}

async fn p05_missing_verifier_refused(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let authz = Authz::new(&f.client);
    let cb = s.code(&s.browser(), &authz, &f.user).await;
    let r = s
        .token(
            &f.client.auth(),
            &[
                ("grant_type", "authorization_code"),
                ("code", cb.code()),
                ("redirect_uri", REDIRECT),
            ],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.describe());
    let e = r.json()["error"].as_str().unwrap_or_default().to_string();
    assert!(
        e == "invalid_grant" || e == "invalid_request",
        "missing verifier: {e}\n{}",
        r.describe()
    );
}

async fn p05_wrong_verifier_invalid_grant(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let authz = Authz::new(&f.client);
    let cb = s.code(&s.browser(), &authz, &f.user).await;
    let wrong = Authz {
        verifier: Some(pkce_verifier()),
        ..authz.clone()
    };
    let r = s.redeem(&f.client, &wrong, cb.code()).await;
    assert_oauth_error(&r, 400, "invalid_grant");
    // Public clients likewise.
    let public = s.client(&["--public"]).await;
    let authz = Authz::new(&public);
    let cb = s.code(&s.browser(), &authz, &f.user).await;
    let wrong = Authz {
        verifier: Some(pkce_verifier()),
        ..authz.clone()
    };
    let r = s.redeem(&public, &wrong, cb.code()).await;
    assert_oauth_error(&r, 400, "invalid_grant");
}

/// P-05: verifiers of 42 or 129 characters or with illegal characters never succeed, even when the
/// challenge was computed from exactly that string.
async fn p05_malformed_verifier_refused(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let browser = s.browser();
    let short = "a".repeat(42);
    let long = "a".repeat(129);
    let illegal = format!("{}+/=", "a".repeat(40));
    for v in [short.as_str(), long.as_str(), illegal.as_str()] {
        let authz = Authz::new(&f.client).with_pkce(v);
        // The challenge itself is well-formed (S256 of anything is 43 chars).
        let cb = s.code(&browser, &authz, &f.user).await;
        let r = s.redeem(&f.client, &authz, cb.code()).await;
        assert_eq!(
            r.status,
            400,
            "verifier of {} chars accepted\n{}",
            v.len(),
            r.describe()
        );
        let e = r.json()["error"].as_str().unwrap_or_default().to_string();
        assert!(
            e == "invalid_grant" || e == "invalid_request",
            "verifier {v:?}: {e}"
        );
    }
}

/// P-06: a code obtained without a challenge cannot be redeemed with a verifier.
async fn p06_downgrade_verifier_without_challenge_invalid_grant(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let authz = Authz::new(&f.client).no_pkce();
    let cb = s.code(&s.browser(), &authz, &f.user).await;
    let with_verifier = Authz {
        verifier: Some(pkce_verifier()),
        ..authz.clone()
    };
    let r = s.redeem(&f.client, &with_verifier, cb.code()).await;
    assert_oauth_error(&r, 400, "invalid_grant");
}

/// Control for P-06: PKCE is optional for confidential clients, so the same request without a verifier
/// succeeds (this proves the P-06 refusal is about the verifier, not about the missing challenge).
async fn p04_confidential_client_without_pkce_succeeds(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let authz = Authz::new(&f.client).no_pkce();
    let cb = s.code(&s.browser(), &authz, &f.user).await;
    Tokens::from_resp(s.redeem(&f.client, &authz, cb.code()).await);
}
