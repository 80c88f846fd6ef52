//! Errors at /oauth/authorize: never redirect to an unverified URI (P-01, P-02), error redirects only to the
//! registered one with state and iss (P-02, P-17, RFC 9207), duplicated parameters.

use crate::common::*;

matrix!(
    p01_unregistered_redirect_uri_no_redirect,
    p01_redirect_uri_variant_corpus_never_redirects,
    p01_duplicated_redirect_uri_no_redirect,
    p02_unknown_client_no_redirect,
    p02_missing_client_id_or_redirect_uri_no_redirect,
    p17_unsupported_response_type_error_redirect,
    p02_missing_response_type_error_redirect,
    p02_invalid_scope_error_redirect,
    r01_duplicated_parameter_invalid_request,
);

async fn p01_unregistered_redirect_uri_no_redirect(b: Backend) {
    let f = fixture(b).await;
    let authz = Authz::new(&f.client).set("redirect_uri", "https://evil.example/cb");
    let r = f.server.browser().get(&authz.path()).await;
    assert_error_page(&r);
    assert!(
        !r.body.contains("code="),
        "no code on the error page\n{}",
        r.describe()
    );
}

/// The P-01 corpus (prefix/suffix/path/traversal/userinfo/case/scheme/port/query/fragment/scheme-less/
/// control characters/IDN) — every variant must give the 400 page without a Location, with the value
/// rendered escaped.
pub fn redirect_variants() -> Vec<String> {
    let v = [
        "https://app.example.evil/cb",
        "https://evilapp.example/cb",
        "https://app.example/cb/x",
        "https://app.example/cbx",
        "https://app.example/cb/",
        "https://app.example/cb/../x",
        "https://app.example/cb/%2e%2e/x",
        "https://app.example/cb%252f..%252f",
        "https://app.example/cb/..;/x",
        "https://app.example/cb/..",
        "https://app.example@evil.example/cb",
        "https://app.example:443@evil.example/cb",
        "https://app.example@evil.example@evil2.example/cb",
        "https://app.example\\@evil.example/cb",
        "HTTPS://APP.EXAMPLE/CB",
        "https://app.example/CB",
        "https://APP.example/cb",
        "HTTPS://app.example/cb",
        "http://app.example/cb",
        "https://app.example:443/cb",
        "https://app.example:8443/cb",
        "https://app.example/cb?x=1",
        "https://app.example/cb?",
        "https://app.example/cb#frag",
        "https://app.example/cb#",
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "//evil.example/cb",
        "/\\evil.example/cb",
        "https://app.example/cb\t",
        "https://app.example/cb\r\nLocation: https://evil.example/",
        "https://app.example/cb\n",
        "https://app.example./cb",
        "https://\u{0430}pp.example/cb",
        " https://app.example/cb",
        "https://app.example/cb ",
        "https://app.example/cb%20",
        "https://app.example/cb%00",
        "https://app.example/%63b",
        "https://app.example//cb",
        "https://app.example/./cb",
        "https://evil.example/cb",
        "https://evil.example/?https://app.example/cb",
        "https://evil.example/#https://app.example/cb",
        "https:app.example/cb",
        "https:/app.example/cb",
        "https://127.0.0.1/cb",
        "",
        "https://app.example/cb\"><script>alert(1)</script>",
    ];
    v.iter().map(|s| s.to_string()).collect()
}

async fn p01_redirect_uri_variant_corpus_never_redirects(b: Backend) {
    let f = fixture(b).await;
    let browser = f.server.browser();
    let variants = redirect_variants();
    assert!(variants.len() >= 40, "P-01 wants a ≥40-entry corpus");
    let mut failures = Vec::new();
    for v in &variants {
        let authz = Authz::new(&f.client).set("redirect_uri", v);
        let r = browser.get(&authz.path()).await;
        if r.status != 400 || r.header("location").is_some() || !r.is_html() {
            failures.push(format!(
                "{v:?} → {} Location={:?}",
                r.status,
                r.header("location")
            ));
        }
        if r.body.contains("<script>alert(1)</script>") {
            failures.push(format!("{v:?} rendered unescaped (S-09)"));
        }
    }
    assert!(
        failures.is_empty(),
        "P-01: {} of {} variants misbehaved:\n{}",
        failures.len(),
        variants.len(),
        failures.join("\n")
    );
}

async fn p01_duplicated_redirect_uri_no_redirect(b: Backend) {
    let f = fixture(b).await;
    let browser = f.server.browser();
    for second in [REDIRECT, "https://evil.example/cb"] {
        let authz = Authz::new(&f.client).add("redirect_uri", second);
        let r = browser.get(&authz.path()).await;
        assert_error_page(&r);
    }
    // Duplicated client_id can't identify a client either.
    let authz = Authz::new(&f.client).add("client_id", &f.client.id);
    let r = browser.get(&authz.path()).await;
    assert_error_page(&r);
}

async fn p02_unknown_client_no_redirect(b: Backend) {
    let f = fixture(b).await;
    let browser = f.server.browser();
    for redirect in [REDIRECT, "https://evil.example/cb"] {
        let authz = Authz::new(&f.client)
            .set("client_id", "no-such-client")
            .set("redirect_uri", redirect);
        let r = browser.get(&authz.path()).await;
        assert_error_page(&r);
    }
}

async fn p02_missing_client_id_or_redirect_uri_no_redirect(b: Backend) {
    let f = fixture(b).await;
    let browser = f.server.browser();
    let r = browser
        .get(&Authz::new(&f.client).remove("client_id").path())
        .await;
    assert_error_page(&r);
    // redirect_uri is required (contract), even with a single registered URI.
    let r = browser
        .get(&Authz::new(&f.client).remove("redirect_uri").path())
        .await;
    assert_error_page(&r);
    let r = browser.get("/oauth/authorize").await;
    assert_error_page(&r);
}

/// P-17: only `code`; other response types are refused with an error redirect to the registered URI.
async fn p17_unsupported_response_type_error_redirect(b: Backend) {
    let f = fixture(b).await;
    let browser = f.server.browser();
    for rt in [
        "token",
        "id_token token",
        "code id_token",
        "id_token",
        "none",
    ] {
        let authz = Authz::new(&f.client).set("response_type", rt);
        let r = browser.get(&authz.path()).await;
        assert_error_redirect(
            &r,
            REDIRECT,
            "unsupported_response_type",
            authz.get("state"),
            &f.server.base,
        );
    }
}

async fn p02_missing_response_type_error_redirect(b: Backend) {
    let f = fixture(b).await;
    let authz = Authz::new(&f.client).remove("response_type");
    let r = f.server.browser().get(&authz.path()).await;
    assert_eq!(r.status, 303, "{}", r.describe());
    let cb = Callback::new(r.location().expect("Location"));
    assert!(
        cb.url.as_str().starts_with(&format!("{REDIRECT}?")),
        "{}",
        cb.url
    );
    let e = cb.get("error").unwrap_or_default();
    assert!(
        e == "invalid_request" || e == "unsupported_response_type",
        "missing response_type: got error {e:?} in {}",
        cb.url
    );
    assert_eq!(cb.get("state"), authz.get("state"));
    assert_eq!(cb.get("iss"), Some(f.server.base.as_str()));
}

async fn p02_invalid_scope_error_redirect(b: Backend) {
    let f = fixture(b).await;
    let browser = f.server.browser();
    let authz = Authz::new(&f.client).set("scope", "openid no-such-scope");
    let r = browser.get(&authz.path()).await;
    assert_error_redirect(
        &r,
        REDIRECT,
        "invalid_scope",
        authz.get("state"),
        &f.server.base,
    );
    // Without state the error redirect carries no state.
    let authz = Authz::new(&f.client)
        .set("scope", "openid admin")
        .remove("state");
    let r = browser.get(&authz.path()).await;
    assert_error_redirect(&r, REDIRECT, "invalid_scope", None, &f.server.base);
}

/// Duplicated OAuth parameters (other than client_id/redirect_uri) → invalid_request error redirect.
async fn r01_duplicated_parameter_invalid_request(b: Backend) {
    let f = fixture(b).await;
    let browser = f.server.browser();
    for (k, v) in [
        ("scope", "openid"),
        ("response_type", "code"),
        ("code_challenge", "x"),
        ("nonce", "n2"),
    ] {
        let authz = Authz::new(&f.client).add(k, v);
        let r = browser.get(&authz.path()).await;
        assert_eq!(
            r.status,
            303,
            "duplicated {k}: expected an error redirect\n{}",
            r.describe()
        );
        let cb = Callback::new(r.location().expect("Location"));
        assert!(
            cb.url.as_str().starts_with(&format!("{REDIRECT}?")),
            "duplicated {k}: went to {}",
            cb.url
        );
        assert_eq!(
            cb.get("error"),
            Some("invalid_request"),
            "duplicated {k}: {}",
            cb.url
        );
        assert!(
            cb.get("code").is_none(),
            "duplicated {k}: code minted {}",
            cb.url
        );
    }
}
