//! RP-initiated logout (P-21, S-04, S-06, S-07, P-13): registered post-logout URIs only, confirmation
//! without a hint, CSRF on the confirmation, and the session and its tokens really end.

use crate::common::*;

matrix!(
    s04_logout_with_hint_ends_session_and_tokens,
    p21_logout_with_hint_without_redirect_shows_signed_out_page,
    p21_logout_unregistered_post_logout_redirect_uri_400,
    p21_logout_post_logout_uri_of_other_client_400,
    s07_logout_without_hint_shows_confirmation,
    s06_logout_confirmation_requires_csrf,
    p13_logout_forged_id_token_hint_does_not_redirect,
);

async fn logged_in(f: &Fixture) -> (Browser, Tokens) {
    let browser = f.server.browser();
    let t = f
        .server
        .tokens(&f.client, &browser, &Authz::new(&f.client), &f.user)
        .await;
    (browser, t)
}

fn logout_path(pairs: &[(&str, &str)]) -> String {
    format!("/oauth/logout?{}", form_encode(pairs))
}

async fn s04_logout_with_hint_ends_session_and_tokens(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let (browser, t) = logged_in(&f).await;
    let old_cookie = browser
        .cookie("gatehouse_session")
        .expect("session cookie after login");
    let r = browser
        .get(&logout_path(&[
            ("id_token_hint", t.id_token()),
            ("post_logout_redirect_uri", POST_LOGOUT),
            ("state", "s-42"),
        ]))
        .await;
    assert_eq!(r.status, 303, "{}", r.describe());
    assert_eq!(
        r.location().expect("Location").as_str(),
        format!("{POST_LOGOUT}?state=s-42")
    );

    let cb = browser.prompt_none(&f.client).await;
    assert_eq!(cb.get("error"), Some("login_required"), "{}", cb.url);
    // S-04: replaying the old cookie does not bring the session back.
    let replay = s.browser();
    replay.set_cookie("gatehouse_session", &old_cookie);
    let cb = replay.prompt_none(&f.client).await;
    assert_eq!(
        cb.get("error"),
        Some("login_required"),
        "old session cookie still valid: {}",
        cb.url
    );
    // The session's access tokens are refused (contract: after logout).
    assert_eq!(
        s.userinfo(&t.access).await.status,
        401,
        "access token after logout"
    );
    assert!(
        !s.is_active(&f.client.auth(), &t.access).await,
        "access token active after logout"
    );

    // POST works too (OIDC RP-Initiated Logout §2).
    let (browser, t) = logged_in(&f).await;
    let r = browser
        .post_form(
            "/oauth/logout",
            &[
                ("id_token_hint", t.id_token()),
                ("post_logout_redirect_uri", POST_LOGOUT),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.describe());
    assert_eq!(
        r.location().expect("Location").as_str(),
        POST_LOGOUT,
        "no state sent → none added"
    );
    assert_eq!(
        browser.prompt_none(&f.client).await.get("error"),
        Some("login_required")
    );
}

async fn p21_logout_with_hint_without_redirect_shows_signed_out_page(b: Backend) {
    let f = fixture(b).await;
    let (browser, t) = logged_in(&f).await;
    let r = browser
        .get(&logout_path(&[("id_token_hint", t.id_token())]))
        .await;
    assert_eq!(r.status, 200, "{}", r.describe());
    assert!(r.is_html(), "{}", r.describe());
    assert!(r.header("location").is_none());
    assert!(
        r.body.to_ascii_lowercase().contains("signed out"),
        "signed-out page expected\n{}",
        r.describe()
    );
    assert_eq!(
        browser.prompt_none(&f.client).await.get("error"),
        Some("login_required")
    );
}

async fn p21_logout_unregistered_post_logout_redirect_uri_400(b: Backend) {
    let f = fixture(b).await;
    let (browser, t) = logged_in(&f).await;
    for uri in [
        "https://evil.example/",
        "https://app.example/logged-out/x",
        "https://app.example/cb",
        "javascript:alert(1)",
    ] {
        let r = browser
            .get(&logout_path(&[
                ("id_token_hint", t.id_token()),
                ("post_logout_redirect_uri", uri),
                ("state", "x"),
            ]))
            .await;
        assert_error_page(&r);
    }
    // Without a hint there is no client to check against: refused as well.
    let r = browser
        .get(&logout_path(&[(
            "post_logout_redirect_uri",
            "https://evil.example/",
        )]))
        .await;
    assert_error_page(&r);
}

/// The post-logout URI must be registered for the *hinted* client.
async fn p21_logout_post_logout_uri_of_other_client_400(b: Backend) {
    let f = fixture(b).await;
    let other = f
        .server
        .client_with(&[
            "--name",
            "Other",
            "--redirect-uri",
            "https://other.example/cb",
            "--post-logout-redirect-uri",
            "https://other.example/bye",
        ])
        .await;
    assert_ne!(other.id, f.client.id);
    let (browser, t) = logged_in(&f).await;
    let r = browser
        .get(&logout_path(&[
            ("id_token_hint", t.id_token()),
            ("post_logout_redirect_uri", "https://other.example/bye"),
        ]))
        .await;
    assert_error_page(&r);
}

/// S-07: GET without a hint changes nothing; it shows a confirmation form, and POSTing it ends the session.
async fn s07_logout_without_hint_shows_confirmation(b: Backend) {
    let f = fixture(b).await;
    let (browser, _) = logged_in(&f).await;
    let page = browser.get("/oauth/logout").await;
    assert_eq!(page.status, 200, "{}", page.describe());
    assert!(page.is_html());
    assert!(
        page.body.contains("<form"),
        "confirmation form expected\n{}",
        page.describe()
    );
    let fields = form_submission(&page.body);
    assert!(fields.iter().any(|(k, _)| k == "csrf_token"), "{fields:?}");
    assert!(
        browser.prompt_none(&f.client).await.get("code").is_some(),
        "S-07: GET /oauth/logout without a hint must not end the session"
    );
    let form: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = browser.post_form("/oauth/logout", &form).await;
    assert!(r.status == 200 || r.status == 303, "{}", r.describe());
    if r.status == 200 {
        assert!(
            r.body.to_ascii_lowercase().contains("signed out"),
            "{}",
            r.describe()
        );
    }
    assert_eq!(
        browser.prompt_none(&f.client).await.get("error"),
        Some("login_required")
    );
}

/// S-06: the confirmation POST without, or with a wrong, CSRF token ends nothing.
async fn s06_logout_confirmation_requires_csrf(b: Backend) {
    let f = fixture(b).await;
    let (browser, _) = logged_in(&f).await;
    let page = browser.get("/oauth/logout").await;
    let fields = form_submission(&page.body);
    // Everything a browser would send, except a valid CSRF token.
    let others: Vec<(&str, &str)> = fields
        .iter()
        .filter(|(k, _)| k != "csrf_token")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut forged = others.clone();
    forged.push(("csrf_token", "forged-token"));
    for form in [others, forged] {
        let r = browser.post_form("/oauth/logout", &form).await;
        assert!(r.status < 500, "{}", r.describe());
        assert_ne!(
            r.status,
            303,
            "no redirect for a forged logout\n{}",
            r.describe()
        );
        assert!(
            browser.prompt_none(&f.client).await.get("code").is_some(),
            "S-06: logout POST with csrf {form:?} ended the session (status {})",
            r.status
        );
    }
}

/// P-13 / conformance `oidcc-rp-initiated-logout-modified-id-token-hint`: a forged hint neither redirects
/// nor silently ends the session.
async fn p13_logout_forged_id_token_hint_does_not_redirect(b: Backend) {
    let f = fixture(b).await;
    let (browser, t) = logged_in(&f).await;
    let jwks = f.server.get("/jwks").await.json();
    for (label, forged) in jwt::forgeries(t.id_token(), &jwks) {
        let r = browser
            .get(&logout_path(&[
                ("id_token_hint", &forged),
                ("post_logout_redirect_uri", POST_LOGOUT),
                ("state", "x"),
            ]))
            .await;
        assert!(r.status < 500, "{label}\n{}", r.describe());
        assert!(
            r.header("location").is_none(),
            "{label}: a forged id_token_hint must not redirect\n{}",
            r.describe()
        );
        assert!(
            browser.prompt_none(&f.client).await.get("code").is_some(),
            "{label}: a forged id_token_hint ended the session without confirmation"
        );
    }
}
