//! The HTML login (L-01, S-06, S-08, S-10, L-15): one generic failure, CSRF enforced, security headers on
//! every HTML page, login without a pending authorization.

use crate::common::*;

matrix!(
    l01_wrong_password_generic_error_no_code,
    l01_wrong_password_and_unknown_user_identical,
    s06_login_csrf_missing_or_wrong_403,
    s10_html_pages_send_security_headers,
    s10_login_form_shape,
    l01_login_without_pending_authorization_goes_home,
    s03_session_id_rotates_on_login,
    s02_made_up_session_id_is_anonymous,
);

async fn l01_wrong_password_generic_error_no_code(b: Backend) {
    let f = fixture(b).await;
    let browser = f.server.browser();
    let authz = Authz::new(&f.client);
    let r = browser.get(&authz.path()).await;
    let page = browser
        .get(r.location().expect("Location to /login").as_str())
        .await;
    let r = browser
        .submit_login(&page, &f.user.username, "wrong password")
        .await;
    assert_eq!(r.status, 401, "{}", r.describe());
    assert!(
        r.header("location").is_none(),
        "failed login must not redirect\n{}",
        r.describe()
    );
    assert!(r.is_html());
    assert!(
        r.body.contains(INCORRECT_LOGIN),
        "generic message expected\n{}",
        r.describe()
    );
    assert!(
        !r.body.contains("code="),
        "no code anywhere\n{}",
        r.describe()
    );
    assert!(
        is_login_form(&r.body),
        "the login page again\n{}",
        r.describe()
    );
    // The pending authorization survives; the correct password then completes it.
    let r = browser
        .submit_login(&r, &f.user.username, &f.user.password)
        .await;
    let cb = match browser.navigate(r, None, None).await {
        Outcome::Left(cb) => cb,
        Outcome::Page(p) => panic!("no callback after the correct password\n{}", p.describe()),
    };
    assert_eq!(cb.get("state"), authz.get("state"), "{}", cb.url);
    assert!(cb.get("code").is_some(), "{}", cb.url);
}

/// L-01: byte-identical status and body (modulo the CSRF token and the echoed username) and the same
/// cookies for a wrong password and an unknown user.
async fn l01_wrong_password_and_unknown_user_identical(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let client = &f.client;
    let attempt = |username: &'static str| async move {
        let browser = s.browser();
        let r = browser.get(&Authz::new(client).path()).await;
        let page = browser.get(r.location().expect("Location").as_str()).await;
        let r = browser
            .submit_login(&page, username, "not the password")
            .await;
        let csrf_after = extract_csrf(&r.body);
        let mut body = r.body.clone();
        if let Some(c) = &csrf_after {
            body = body.replace(c.as_str(), "CSRF");
        }
        body = body
            .replace(&page.csrf(), "CSRF")
            .replace(username, "USERNAME");
        let cookies: Vec<String> = r
            .header_all("set-cookie")
            .iter()
            .map(|c| c.split('=').next().unwrap_or_default().to_string())
            .collect();
        (r.status, body, cookies)
    };
    let (s1, body1, c1) = attempt("alice").await;
    let (s2, body2, c2) = attempt("nobody-at-all").await;
    let (s3, body3, c3) = attempt("ALICE").await;
    assert_eq!(s1, 401);
    assert_eq!(
        s1, s2,
        "status differs between wrong password and unknown user"
    );
    assert_eq!(s1, s3);
    assert!(body1.contains(INCORRECT_LOGIN), "{body1}");
    assert_eq!(
        body1, body2,
        "L-01: bodies differ between wrong password and unknown user"
    );
    assert_eq!(body1, body3);
    assert_eq!(c1, c2, "L-01: different cookies set");
    assert_eq!(c1, c3);
}

async fn s06_login_csrf_missing_or_wrong_403(b: Backend) {
    let f = fixture(b).await;
    let browser = f.server.browser();
    let r = browser.get(&Authz::new(&f.client).path()).await;
    let page = browser.get(r.location().expect("Location").as_str()).await;
    let real = page.csrf();
    let u = f.user.username.as_str();
    let p = f.user.password.as_str();

    let r = browser
        .post_form("/login", &[("username", u), ("password", p)])
        .await;
    assert_eq!(r.status, 403, "missing csrf_token\n{}", r.describe());
    let r = browser
        .post_form(
            "/login",
            &[("csrf_token", "forged"), ("username", u), ("password", p)],
        )
        .await;
    assert_eq!(r.status, 403, "wrong csrf_token\n{}", r.describe());
    let r = browser
        .post_form(
            "/login",
            &[("csrf_token", ""), ("username", u), ("password", p)],
        )
        .await;
    assert_eq!(r.status, 403, "empty csrf_token\n{}", r.describe());

    // A token from another browser's session is not valid here (login CSRF across sessions).
    let other = f.server.browser();
    let other_page = other.get("/login").await;
    let foreign = other_page.csrf();
    assert_ne!(foreign, real, "CSRF tokens are per session");
    let r = browser
        .post_form(
            "/login",
            &[("csrf_token", &foreign), ("username", u), ("password", p)],
        )
        .await;
    assert_eq!(
        r.status,
        403,
        "csrf_token of another session\n{}",
        r.describe()
    );

    // And a bare POST without any session cookie.
    let fresh = f.server.browser();
    let r = fresh
        .post_form(
            "/login",
            &[("csrf_token", &real), ("username", u), ("password", p)],
        )
        .await;
    assert_eq!(
        r.status,
        403,
        "csrf_token without its session\n{}",
        r.describe()
    );

    // The genuine token still works.
    let r = browser
        .post_form(
            "/login",
            &[("csrf_token", &real), ("username", u), ("password", p)],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.describe());
}

#[track_caller]
fn assert_html_headers(r: &Resp, label: &str) {
    assert!(r.is_html(), "{label}: HTML expected\n{}", r.describe());
    let csp = r.header("content-security-policy").unwrap_or_default();
    assert!(
        csp.replace(' ', "").contains("frame-ancestors'none'"),
        "{label}: CSP with frame-ancestors 'none' (S-08)\n{}",
        r.describe()
    );
    assert_eq!(
        r.header("x-content-type-options"),
        Some("nosniff"),
        "{label}\n{}",
        r.describe()
    );
    assert_eq!(
        r.header("referrer-policy"),
        Some("no-referrer"),
        "{label}\n{}",
        r.describe()
    );
    assert!(
        r.header("x-frame-options")
            .is_some_and(|v| v.eq_ignore_ascii_case("deny")),
        "{label}: X-Frame-Options: DENY\n{}",
        r.describe()
    );
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .to_ascii_lowercase()
            .contains("charset=utf-8"),
        "{label}: Content-Type with charset (S-10)\n{}",
        r.describe()
    );
}

/// S-08/S-10 on: login page, failed login, authorize error page, logout confirmation, consent, home.
async fn s10_html_pages_send_security_headers(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let browser = s.browser();
    let login = browser.get("/login").await;
    assert_eq!(login.status, 200, "{}", login.describe());
    assert_html_headers(&login, "GET /login");
    let failed = browser.submit_login(&login, "alice", "wrong").await;
    assert_html_headers(&failed, "failed POST /login");
    let error = browser
        .get(&Authz::new(&f.client).set("client_id", "nope").path())
        .await;
    assert_html_headers(&error, "authorize error page");
    s.code(&browser, &Authz::new(&f.client), &f.user).await;
    let home = browser.get("/").await;
    assert_eq!(home.status, 200, "{}", home.describe());
    assert_html_headers(&home, "GET /");
    let consent_page = browser
        .get(&Authz::new(&f.client).set("prompt", "consent").path())
        .await;
    let consent_page = match browser.navigate(consent_page, None, None).await {
        Outcome::Page(p) => p,
        Outcome::Left(cb) => panic!("prompt=consent went straight to {}", cb.url),
    };
    assert_html_headers(&consent_page, "consent page");
    let confirm = browser.get("/oauth/logout").await;
    assert_html_headers(&confirm, "logout confirmation");
}

async fn s10_login_form_shape(b: Backend) {
    let s = TestServer::start(b, &[]).await;
    let page = s.browser().get("/login").await;
    assert_eq!(page.status, 200, "{}", page.describe());
    let body = page.body.to_ascii_lowercase();
    assert!(body.contains("method=\"post\""), "{}", page.describe());
    assert!(body.contains("action=\"/login\""), "{}", page.describe());
    assert!(page.body.contains("name=\"username\""));
    assert!(page.body.contains("name=\"password\""));
    assert!(page.body.contains("type=\"password\""));
    let csrf = page.csrf();
    assert!(csrf.len() >= 16, "CSRF token too short: {csrf:?}");
}

async fn l01_login_without_pending_authorization_goes_home(b: Backend) {
    let f = fixture(b).await;
    let browser = f.server.browser();
    let r = browser.get("/").await;
    assert_eq!(r.status, 303, "GET / without a session\n{}", r.describe());
    assert_eq!(r.location().expect("Location").path(), "/login");
    let r = browser.login(&f.user.username, &f.user.password).await;
    assert_eq!(r.status, 303, "{}", r.describe());
    assert_eq!(
        r.location().expect("Location").path(),
        "/",
        "no pending authorization → /"
    );
    let home = browser.get("/").await;
    assert_eq!(home.status, 200, "{}", home.describe());
    assert!(
        home.body.to_ascii_lowercase().contains("signed in as"),
        "{}",
        home.describe()
    );
    assert!(
        home.body.contains("Alice Example") || home.body.contains("alice"),
        "the signed-in user is named\n{}",
        home.describe()
    );
    // And the SSO session is usable by a client.
    assert!(browser.prompt_none(&f.client).await.get("code").is_some());
}

/// S-03: the session id changes when the user logs in (no fixation); the pre-login id is worthless.
async fn s03_session_id_rotates_on_login(b: Backend) {
    let f = fixture(b).await;
    let browser = f.server.browser();
    let r = browser.get(&Authz::new(&f.client).path()).await;
    let before = browser
        .cookie("gatehouse_session")
        .unwrap_or_else(|| panic!("no session cookie before login\n{}", r.describe()));
    let page = browser.get(r.location().expect("Location").as_str()).await;
    let r = browser
        .submit_login(&page, &f.user.username, &f.user.password)
        .await;
    assert_eq!(r.status, 303, "{}", r.describe());
    let after = browser
        .cookie("gatehouse_session")
        .expect("session cookie after login");
    assert_ne!(before, after, "S-03: session id must be rotated at login");
    let fixated = f.server.browser();
    fixated.set_cookie("gatehouse_session", &before);
    let cb = fixated.prompt_none(&f.client).await;
    assert_eq!(
        cb.get("error"),
        Some("login_required"),
        "S-03: the pre-login session id must not be logged in: {}",
        cb.url
    );
}

/// S-02: a made-up session id is treated as anonymous and replaced, never adopted.
async fn s02_made_up_session_id_is_anonymous(b: Backend) {
    let f = fixture(b).await;
    let browser = f.server.browser();
    let made_up = "AAAAAAAAAAAAAAAAAAAAAA";
    browser.set_cookie("gatehouse_session", made_up);
    let cb = browser.prompt_none(&f.client).await;
    assert_eq!(cb.get("error"), Some("login_required"), "{}", cb.url);
    browser.set_cookie("gatehouse_session", made_up);
    let r = browser.get(&Authz::new(&f.client).path()).await;
    assert_eq!(r.status, 303, "{}", r.describe());
    let page = browser.get(r.location().expect("Location").as_str()).await;
    let r = browser
        .submit_login(&page, &f.user.username, &f.user.password)
        .await;
    assert_eq!(r.status, 303, "{}", r.describe());
    assert_ne!(
        browser.cookie("gatehouse_session").as_deref(),
        Some(made_up),
        "S-02: a client-chosen session id was adopted"
    );
    let attacker = f.server.browser();
    attacker.set_cookie("gatehouse_session", made_up);
    let cb = attacker.prompt_none(&f.client).await;
    assert_eq!(
        cb.get("error"),
        Some("login_required"),
        "S-02: fixation: {}",
        cb.url
    );
}
