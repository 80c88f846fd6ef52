//! Consent: shown for third-party clients and prompt=consent only; allow/deny; CSRF (S-06); the client
//! name is rendered inert (S-09).

use crate::common::*;

matrix!(
    p19_third_party_client_consent_allow,
    p02_consent_deny_access_denied,
    p19_prompt_consent_for_first_party,
    s06_consent_requires_csrf,
    s09_client_name_escaped_on_consent,
);

/// Logs in through a consent-requiring authorization and returns the consent page.
async fn consent_page(browser: &Browser, authz: &Authz, user: &TestUser) -> Resp {
    let first = browser.get(&authz.path()).await;
    match browser.navigate(first, Some(user), None).await {
        Outcome::Page(p) => {
            assert_eq!(p.status, 200, "{}", p.describe());
            assert_eq!(
                p.url.path(),
                "/consent",
                "consent page expected\n{}",
                p.describe()
            );
            assert!(
                is_consent_form(&p.body),
                "consent form expected\n{}",
                p.describe()
            );
            assert!(
                p.body.to_ascii_lowercase().contains("action=\"/consent\""),
                "{}",
                p.describe()
            );
            p
        }
        Outcome::Left(cb) => panic!("consent was skipped: {}", cb.url),
    }
}

async fn p19_third_party_client_consent_allow(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let third = s.client(&["--third-party"]).await;
    assert_eq!(third.json["first_party"], serde_json::json!(false));
    let browser = s.browser();
    let authz = Authz::new(&third);
    let page = consent_page(&browser, &authz, &f.user).await;
    assert!(
        page.body.contains("Test App"),
        "client name on the consent page\n{}",
        page.describe()
    );
    for scope in ["profile", "email"] {
        assert!(
            page.body.contains(scope),
            "scope {scope} listed\n{}",
            page.describe()
        );
    }
    let r = browser
        .post_form(
            "/consent",
            &[("csrf_token", &page.csrf()), ("decision", "allow")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.describe());
    let cb = match browser.navigate(r, None, None).await {
        Outcome::Left(cb) => cb,
        Outcome::Page(p) => panic!("no callback after allow\n{}", p.describe()),
    };
    assert!(
        cb.url.as_str().starts_with(&format!("{REDIRECT}?")),
        "{}",
        cb.url
    );
    assert_eq!(cb.get("state"), authz.get("state"));
    assert_eq!(cb.get("iss"), Some(s.base.as_str()));
    Tokens::from_resp(s.redeem(&third, &authz, cb.code()).await);
    // A first-party client is not asked.
    let cb = s.code(&browser, &Authz::new(&f.client), &f.user).await;
    assert!(cb.get("code").is_some());
}

async fn p02_consent_deny_access_denied(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let third = s.client(&["--third-party"]).await;
    let browser = s.browser();
    let authz = Authz::new(&third);
    let page = consent_page(&browser, &authz, &f.user).await;
    let r = browser
        .post_form(
            "/consent",
            &[("csrf_token", &page.csrf()), ("decision", "deny")],
        )
        .await;
    let r = match browser.navigate(r, None, None).await {
        Outcome::Left(cb) => cb,
        Outcome::Page(p) => panic!("deny must redirect to the client\n{}", p.describe()),
    };
    assert!(
        r.url.as_str().starts_with(&format!("{REDIRECT}?")),
        "{}",
        r.url
    );
    assert_eq!(r.get("error"), Some("access_denied"), "{}", r.url);
    assert_eq!(r.get("state"), authz.get("state"));
    assert_eq!(r.get("iss"), Some(s.base.as_str()));
    assert!(r.get("code").is_none());
}

async fn p19_prompt_consent_for_first_party(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let browser = s.browser();
    let authz = Authz::new(&f.client).set("prompt", "consent");
    let page = consent_page(&browser, &authz, &f.user).await;
    let r = browser
        .post_form(
            "/consent",
            &[("csrf_token", &page.csrf()), ("decision", "allow")],
        )
        .await;
    let cb = match browser.navigate(r, None, None).await {
        Outcome::Left(cb) => cb,
        Outcome::Page(p) => panic!("no callback after allow\n{}", p.describe()),
    };
    Tokens::from_resp(s.redeem(&f.client, &authz, cb.code()).await);
}

async fn s06_consent_requires_csrf(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let third = s.client(&["--third-party"]).await;
    let browser = s.browser();
    let authz = Authz::new(&third);
    let page = consent_page(&browser, &authz, &f.user).await;
    for form in [
        vec![("decision", "allow")],
        vec![("csrf_token", "forged"), ("decision", "allow")],
    ] {
        let r = browser.post_form("/consent", &form).await;
        assert_eq!(
            r.status,
            403,
            "consent POST with {form:?}\n{}",
            r.describe()
        );
        assert!(r.header("location").is_none(), "{}", r.describe());
    }
    // The genuine token still completes the flow.
    let r = browser
        .post_form(
            "/consent",
            &[("csrf_token", &page.csrf()), ("decision", "allow")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.describe());
}

async fn s09_client_name_escaped_on_consent(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let name = "<script>alert(1)</script>\"'&";
    let third = s
        .client_with(&["--name", name, "--redirect-uri", REDIRECT, "--third-party"])
        .await;
    let browser = s.browser();
    let page = consent_page(&browser, &Authz::new(&third), &f.user).await;
    assert!(
        !page.body.contains("<script>alert(1)</script>"),
        "client name rendered unescaped\n{}",
        page.describe()
    );
    assert!(
        page.body.contains("&lt;script&gt;"),
        "escaped client name expected\n{}",
        page.describe()
    );
}
