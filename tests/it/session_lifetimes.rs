//! Browser-session lifetimes (S-05): the idle timeout, the absolute timeout counted from the
//! last sign-in, and the short life of anonymous sessions (a login form nobody submitted), which
//! bounds what a flood of login-page visits leaves in the session store.

use std::time::{Duration, Instant};

use crate::common::*;

matrix!(
    s05_idle_session_requires_login_again,
    s05_activity_keeps_a_session_past_its_idle_timeout,
    s05_absolute_timeout_ends_even_an_active_session,
    s05_anonymous_sessions_expire_before_signed_in_ones,
);

/// Signs `browser` in through a full authorization and returns the code's callback.
async fn sign_in(f: &Fixture, browser: &Browser) -> Callback {
    browser.authorize_as(&Authz::new(&f.client), &f.user).await
}

async fn s05_idle_session_requires_login_again(b: Backend) {
    let f = fixture_env(b, &[("GATEHOUSE_SESSION_TTL", "2")]).await;
    let browser = f.server.browser();
    assert!(sign_in(&f, &browser).await.get("code").is_some());
    assert!(browser.prompt_none(&f.client).await.get("code").is_some());
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let cb = browser.prompt_none(&f.client).await;
    assert_eq!(cb.get("error"), Some("login_required"), "{}", cb.url);
}

async fn s05_activity_keeps_a_session_past_its_idle_timeout(b: Backend) {
    let f = fixture_env(b, &[("GATEHOUSE_SESSION_TTL", "4")]).await;
    let browser = f.server.browser();
    assert!(sign_in(&f, &browser).await.get("code").is_some());
    // Plain use of the signed-in session (the home page) for 8 s: twice the idle timeout.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(8) {
        let r = browser.get("/").await;
        assert_eq!(r.status, 200, "signed out while active\n{}", r.describe());
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    assert!(browser.prompt_none(&f.client).await.get("code").is_some());
}

async fn s05_absolute_timeout_ends_even_an_active_session(b: Backend) {
    let f = fixture_env(b, &[("GATEHOUSE_SESSION_MAX_AGE", "3")]).await;
    let browser = f.server.browser();
    let signed_in = Instant::now();
    assert!(sign_in(&f, &browser).await.get("code").is_some());
    // Busy all along: a silent authorization every 300 ms.
    let ended = loop {
        let cb = browser.prompt_none(&f.client).await;
        if cb.get("error") == Some("login_required") {
            break signed_in.elapsed();
        }
        assert!(cb.get("code").is_some(), "{}", cb.url);
        assert!(
            signed_in.elapsed() < Duration::from_secs(6),
            "still signed in after the maximum age"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(ended >= Duration::from_secs(2), "ended too soon: {ended:?}");
    // Signing in again starts a new period, in the same browser.
    assert!(sign_in(&f, &browser).await.get("code").is_some());
    assert!(browser.prompt_none(&f.client).await.get("code").is_some());
}

async fn s05_anonymous_sessions_expire_before_signed_in_ones(b: Backend) {
    let f = fixture_env(b, &[("GATEHOUSE_LOGIN_SESSION_TTL", "2")]).await;
    let idle_form = f.server.browser();
    let page = idle_form.get("/login").await;
    assert_eq!(page.status, 200, "{}", page.describe());
    let signed_in = f.server.browser();
    assert!(sign_in(&f, &signed_in).await.get("code").is_some());
    tokio::time::sleep(Duration::from_millis(3100)).await;
    // The form's session is gone: its CSRF token with it.
    let r = idle_form
        .submit_login(&page, &f.user.username, &f.user.password)
        .await;
    assert_eq!(r.status, 403, "{}", r.describe());
    // The signed-in session lives by GATEHOUSE_SESSION_TTL (8 h by default).
    assert!(signed_in.prompt_none(&f.client).await.get("code").is_some());
}
