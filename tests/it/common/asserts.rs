//! Assertions on OAuth error responses, error pages and error redirects.

use super::{Callback, Resp};

/// RFC 6749 §5.2: status, JSON content type, `error` code, string `error_description` if present.
#[track_caller]
pub fn assert_oauth_error(r: &Resp, status: u16, error: &str) {
    assert_eq!(
        r.status,
        status,
        "expected {status} {error}\n{}",
        r.describe()
    );
    let ct = r
        .header("content-type")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        ct.starts_with("application/json"),
        "error must be JSON, content-type {ct:?}\n{}",
        r.describe()
    );
    let j = r.json();
    assert_eq!(
        j["error"].as_str(),
        Some(error),
        "wrong error code\n{}",
        r.describe()
    );
    if let Some(d) = j.get("error_description") {
        assert!(
            d.is_string(),
            "error_description must be a string\n{}",
            r.describe()
        );
    }
}

/// 401 invalid_client with a WWW-Authenticate challenge (RFC 6749 §5.2).
#[track_caller]
pub fn assert_invalid_client(r: &Resp) {
    assert_oauth_error(r, 401, "invalid_client");
    assert!(
        r.header("www-authenticate").is_some(),
        "401 invalid_client must carry WWW-Authenticate\n{}",
        r.describe()
    );
}

/// An HTML error page with status 400 and no redirect (P-01/P-02).
#[track_caller]
pub fn assert_error_page(r: &Resp) {
    assert_eq!(
        r.status,
        400,
        "expected an HTML 400 error page\n{}",
        r.describe()
    );
    assert!(
        r.header("location").is_none(),
        "error page must not redirect\n{}",
        r.describe()
    );
    assert!(r.is_html(), "error page must be HTML\n{}", r.describe());
}

/// A 303 error redirect to `redirect_uri` with error, echoed state and the issuer (RFC 9207).
#[track_caller]
pub fn assert_error_redirect(
    r: &Resp,
    redirect_uri: &str,
    error: &str,
    state: Option<&str>,
    issuer: &str,
) -> Callback {
    assert_eq!(
        r.status,
        303,
        "expected a 303 error redirect ({error})\n{}",
        r.describe()
    );
    let loc = r
        .location()
        .unwrap_or_else(|| panic!("303 without Location\n{}", r.describe()));
    assert!(
        loc.as_str().starts_with(&format!("{redirect_uri}?")),
        "error redirect goes to {loc}, not to the registered {redirect_uri}"
    );
    let cb = Callback::new(loc);
    assert_eq!(cb.get("error"), Some(error), "wrong error in {}", cb.url);
    assert_eq!(
        cb.get("state"),
        state,
        "state must be echoed exactly in {}",
        cb.url
    );
    assert_eq!(
        cb.get("iss"),
        Some(issuer),
        "RFC 9207 iss missing/wrong in {}",
        cb.url
    );
    assert!(
        cb.get("code").is_none(),
        "error redirect must carry no code: {}",
        cb.url
    );
    cb
}
