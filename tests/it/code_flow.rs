//! The authorization code flow end to end with the `openidconnect` crate as relying party
//! (P-07, P-09, P-10, P-16, P-19, P-21, S-01, S-04), plus SSO and prompt semantics.

use openidconnect::core::CoreUserInfoClaims;
use openidconnect::{AuthorizationCode, Nonce, OAuth2TokenResponse, TokenResponse};
use serde_json::json;

use crate::common::*;

matrix!(
    p19_full_flow_with_openidconnect_rp,
    p14_id_token_signed_with_client_alg_es256,
    p14_id_token_signed_with_client_alg_eddsa,
    p19_sso_session_skips_login,
    p19_prompt_none_without_session_login_required,
    p19_prompt_login_shows_login_form_with_session,
    p19_max_age_forces_reauthentication,
    p19_post_authorize_and_unknown_params,
    p16_authorization_response_carries_iss,
    s01_session_cookie_httponly_samesite_lax,
    s01_https_issuer_uses_host_prefixed_secure_cookie,
    p08_code_is_long_and_unique,
);

/// The definition of done: discovery → authorize → real form login (CSRF from the page) → code
/// exchange → ID token signature/nonce/at_hash → userinfo → refresh (old token refused, replay kills the
/// family) → revoke → introspection active:false → logout → prompt=none gives login_required.
async fn p19_full_flow_with_openidconnect_rp(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let rp = Rp::discover(s, &f.client).await;
    assert_eq!(rp.provider.issuer().as_str(), s.base);

    // authorize → 303 /login (no session yet)
    let pending = rp.authorize_url(&["profile", "email"]);
    let browser = s.browser();
    let r = browser.get(pending.url.as_str()).await;
    assert_eq!(
        r.status,
        303,
        "no session: authorize must send the browser to /login\n{}",
        r.describe()
    );
    assert_eq!(r.location().expect("Location").path(), "/login");
    // real form login with the CSRF token taken from the page
    let page = browser.get(r.location().expect("Location").as_str()).await;
    assert_eq!(page.status, 200, "{}", page.describe());
    assert!(
        is_login_form(&page.body),
        "login form expected\n{}",
        page.describe()
    );
    let r = browser
        .submit_login(&page, &f.user.username, &f.user.password)
        .await;
    assert_eq!(r.status, 303, "successful login must 303\n{}", r.describe());
    let cb = match browser.navigate(r, None, None).await {
        Outcome::Left(cb) => cb,
        Outcome::Page(p) => panic!("did not reach the client after login\n{}", p.describe()),
    };
    assert!(
        cb.url.as_str().starts_with(&format!("{REDIRECT}?")),
        "callback {}",
        cb.url
    );
    assert_eq!(
        cb.get("state"),
        Some(pending.state.secret().as_str()),
        "state echoed"
    );
    assert_eq!(cb.get("iss"), Some(s.base.as_str()), "RFC 9207 iss");

    // code exchange
    let token = rp
        .client
        .exchange_code(AuthorizationCode::new(cb.code().to_string()))
        .expect("token endpoint known")
        .set_pkce_verifier(pending.verifier)
        .request_async(&rp.http)
        .await
        .unwrap_or_else(|e| panic!("code exchange failed: {e:?}"));
    assert_eq!(
        token.token_type().as_ref(),
        "bearer",
        "token_type Bearer (case-insensitive)"
    );
    let id_token = token.id_token().expect("openid scope → id_token");
    let claims = rp.verify_id_token(id_token, token.access_token(), &pending.nonce);
    assert_eq!(claims.issuer().as_str(), s.base);
    assert_eq!(claims.audiences().len(), 1, "aud is just the client");
    assert_eq!(claims.audiences()[0].as_str(), f.client.id);
    let sub = claims.subject().clone();
    // A wrong nonce must not verify (proves the nonce is really checked).
    assert!(
        id_token
            .claims(
                &rp.client.id_token_verifier(),
                &Nonce::new("other-nonce".into())
            )
            .is_err(),
        "ID token verified with a wrong nonce"
    );

    // userinfo through the RP
    let info: CoreUserInfoClaims = rp
        .client
        .user_info(token.access_token().clone(), Some(sub.clone()))
        .expect("userinfo endpoint known")
        .request_async(&rp.http)
        .await
        .unwrap_or_else(|e| panic!("userinfo failed: {e:?}"));
    assert_eq!(info.subject(), &sub);
    assert_eq!(info.email().map(|e| e.as_str()), Some("alice@example.com"));

    // refresh: rotation, then the old token is refused and the replay kills the family
    let rt1 = token.refresh_token().expect("refresh_token").clone();
    let refreshed = rp
        .client
        .exchange_refresh_token(&rt1)
        .expect("token endpoint known")
        .request_async(&rp.http)
        .await
        .unwrap_or_else(|e| panic!("refresh failed: {e:?}"));
    let rt2 = refreshed
        .refresh_token()
        .expect("rotated refresh token")
        .clone();
    assert_ne!(rt1.secret(), rt2.secret(), "P-09: refresh tokens rotate");
    if let Some(new_id) = refreshed.id_token() {
        // P-10: same iss/sub/aud; no nonce in a refreshed ID token is acceptable.
        let c = new_id
            .claims(&rp.client.id_token_verifier(), |_: Option<&Nonce>| Ok(()))
            .unwrap_or_else(|e| panic!("refreshed ID token did not verify: {e:?}"));
        assert_eq!(c.subject(), &sub);
        assert_eq!(c.issuer().as_str(), s.base);
        assert_eq!(c.audiences()[0].as_str(), f.client.id);
    }
    let at2 = refreshed.access_token().secret().clone();
    assert_eq!(
        s.userinfo(&at2).await.status,
        200,
        "fresh access token works"
    );
    let replay = s.refresh(&f.client, rt1.secret(), None).await;
    assert_oauth_error(&replay, 400, "invalid_grant");
    let after = s.refresh(&f.client, rt2.secret(), None).await;
    assert_oauth_error(&after, 400, "invalid_grant");
    let r = s.userinfo(&at2).await;
    assert_eq!(
        r.status,
        401,
        "P-09: the family's access tokens die with it\n{}",
        r.describe()
    );

    // a new grant through the existing SSO session (no login form), then revoke + introspect
    let pending = rp.authorize_url(&["profile"]);
    let r = browser.get(pending.url.as_str()).await;
    assert_eq!(r.status, 303, "{}", r.describe());
    let cb = Callback::new(r.location().expect("Location"));
    assert!(
        cb.url.as_str().starts_with(REDIRECT),
        "SSO: straight back to the client, got {}",
        cb.url
    );
    let token = rp
        .client
        .exchange_code(AuthorizationCode::new(cb.code().to_string()))
        .expect("token endpoint known")
        .set_pkce_verifier(pending.verifier)
        .request_async(&rp.http)
        .await
        .unwrap_or_else(|e| panic!("second code exchange failed: {e:?}"));
    let id_token_jwt = token.id_token().expect("id_token").to_string();
    rp.verify_id_token(
        token.id_token().expect("id_token"),
        token.access_token(),
        &pending.nonce,
    );
    let at3 = token.access_token().secret().clone();
    let rt3 = token
        .refresh_token()
        .expect("refresh_token")
        .secret()
        .clone();
    assert!(
        s.is_active(&f.client.auth(), &at3).await,
        "new access token is active"
    );
    let r = s.revoke(&f.client.auth(), &at3).await;
    assert_eq!(r.status, 200, "{}", r.describe());
    assert!(
        !s.is_active(&f.client.auth(), &at3).await,
        "revoked access token must be active:false"
    );
    assert_eq!(
        s.userinfo(&at3).await.status,
        401,
        "revoked access token at userinfo"
    );
    let r = s.revoke(&f.client.auth(), &rt3).await;
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_oauth_error(
        &s.refresh(&f.client, &rt3, None).await,
        400,
        "invalid_grant",
    );

    // logout with id_token_hint → back to the registered post-logout URI with state
    let logout = format!(
        "/oauth/logout?{}",
        form_encode(&[
            ("id_token_hint", &id_token_jwt),
            ("post_logout_redirect_uri", POST_LOGOUT),
            ("state", "bye-123"),
        ])
    );
    let r = browser.get(&logout).await;
    assert_eq!(r.status, 303, "{}", r.describe());
    assert_eq!(
        r.location().expect("Location").as_str(),
        format!("{POST_LOGOUT}?state=bye-123")
    );

    // S-04: the session is gone
    let cb = browser.prompt_none(&f.client).await;
    assert_eq!(
        cb.get("error"),
        Some("login_required"),
        "after logout: {}",
        cb.url
    );
    assert_eq!(cb.get("iss"), Some(s.base.as_str()));
}

async fn id_token_alg_case(b: Backend, alg: &str) {
    let s = TestServer::start(b, &[]).await;
    let client = s.client(&["--id-token-alg", alg]).await;
    assert_eq!(client.json["id_token_signed_response_alg"], json!(alg));
    let user = s.user("alice", ALICE_PASSWORD).await;
    let rp = Rp::discover(&s, &client).await;
    let pending = rp.authorize_url(&[]);
    let browser = s.browser();
    let first = browser.get(pending.url.as_str()).await;
    let cb = match browser.navigate(first, Some(&user), None).await {
        Outcome::Left(cb) => cb,
        Outcome::Page(p) => panic!("flow stopped\n{}", p.describe()),
    };
    let token = rp
        .client
        .exchange_code(AuthorizationCode::new(cb.code().to_string()))
        .expect("token endpoint")
        .set_pkce_verifier(pending.verifier)
        .request_async(&rp.http)
        .await
        .unwrap_or_else(|e| panic!("code exchange failed: {e:?}"));
    let id = token.id_token().expect("id_token");
    let (header, _) = jwt::decode(&id.to_string());
    assert_eq!(header["alg"], json!(alg), "ID token header alg");
    let jwks = s.get("/jwks").await.json();
    let kid = header["kid"].as_str().expect("ID token header has a kid");
    assert!(
        jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .any(|k| k["kid"] == json!(kid) && k["alg"] == json!(alg)),
        "kid {kid} is a published {alg} key"
    );
    rp.verify_id_token(id, token.access_token(), &pending.nonce);
}

async fn p14_id_token_signed_with_client_alg_es256(b: Backend) {
    id_token_alg_case(b, "ES256").await;
}

async fn p14_id_token_signed_with_client_alg_eddsa(b: Backend) {
    id_token_alg_case(b, "EdDSA").await;
}

async fn p19_sso_session_skips_login(b: Backend) {
    let f = fixture(b).await;
    let browser = f.server.browser();
    let first = f
        .server
        .code(&browser, &Authz::new(&f.client), &f.user)
        .await;
    let authz = Authz::new(&f.client);
    let r = browser.get(&authz.path()).await;
    assert_eq!(r.status, 303, "{}", r.describe());
    let cb = Callback::new(r.location().expect("Location"));
    assert!(
        cb.url.as_str().starts_with(&format!("{REDIRECT}?")),
        "went to {}",
        cb.url
    );
    assert_eq!(cb.get("state"), authz.get("state"));
    assert_ne!(cb.code(), first.code(), "a new code per request");
    Tokens::from_resp(f.server.redeem(&f.client, &authz, cb.code()).await);
    // prompt=none with a session → a code, not an error
    let cb = browser.prompt_none(&f.client).await;
    assert!(
        cb.get("code").is_some(),
        "prompt=none with a session must succeed: {}",
        cb.url
    );
}

async fn p19_prompt_none_without_session_login_required(b: Backend) {
    let f = fixture(b).await;
    let authz = Authz::new(&f.client).set("prompt", "none");
    let r = f.server.browser().get(&authz.path()).await;
    assert_error_redirect(
        &r,
        REDIRECT,
        "login_required",
        authz.get("state"),
        &f.server.base,
    );
}

async fn p19_prompt_login_shows_login_form_with_session(b: Backend) {
    let f = fixture(b).await;
    let browser = f.server.browser();
    f.server
        .code(&browser, &Authz::new(&f.client), &f.user)
        .await;
    let authz = Authz::new(&f.client).set("prompt", "login");
    let r = browser.get(&authz.path()).await;
    assert_eq!(r.status, 303, "{}", r.describe());
    let loc = r.location().expect("Location");
    assert_eq!(
        loc.path(),
        "/login",
        "prompt=login must show the login form even with a session"
    );
    let page = browser.get(loc.as_str()).await;
    assert!(is_login_form(&page.body), "{}", page.describe());
    let r = browser
        .submit_login(&page, &f.user.username, &f.user.password)
        .await;
    let cb = match browser.navigate(r, None, None).await {
        Outcome::Left(cb) => cb,
        Outcome::Page(p) => panic!("no callback after re-login\n{}", p.describe()),
    };
    assert_eq!(cb.get("state"), authz.get("state"));
    Tokens::from_resp(f.server.redeem(&f.client, &authz, cb.code()).await);
}

/// P-19: POST to /oauth/authorize works like GET; unknown parameters are ignored.
async fn p19_post_authorize_and_unknown_params(b: Backend) {
    let f = fixture(b).await;
    let browser = f.server.browser();
    f.server
        .code(&browser, &Authz::new(&f.client), &f.user)
        .await;
    let authz = Authz::new(&f.client)
        .set("x_unknown_param", "whatever")
        .set("ui_locales", "de");
    let r = browser.post_form("/oauth/authorize", &authz.pairs()).await;
    assert_eq!(r.status, 303, "{}", r.describe());
    let cb = Callback::new(r.location().expect("Location"));
    assert!(
        cb.url.as_str().starts_with(&format!("{REDIRECT}?")),
        "went to {}",
        cb.url
    );
    assert_eq!(cb.get("state"), authz.get("state"));
    let t = Tokens::from_resp(f.server.redeem(&f.client, &authz, cb.code()).await);
    let (_, claims) = jwt::decode(t.id_token());
    assert_eq!(claims["nonce"].as_str(), authz.get("nonce"), "nonce echoed");
}

async fn p16_authorization_response_carries_iss(b: Backend) {
    let f = fixture(b).await;
    let authz = Authz::new(&f.client);
    let cb = f.server.code(&f.server.browser(), &authz, &f.user).await;
    assert_eq!(cb.get("iss"), Some(f.server.base.as_str()), "{}", cb.url);
    assert_eq!(cb.get("state"), authz.get("state"));
    let keys: Vec<&str> = cb.params.iter().map(|(k, _)| k.as_str()).collect();
    for k in ["code", "state", "iss"] {
        assert_eq!(
            keys.iter().filter(|x| **x == k).count(),
            1,
            "{k} exactly once in {}",
            cb.url
        );
    }
}

fn session_cookie_lines(r: &Resp, name: &str) -> Vec<String> {
    r.header_all("set-cookie")
        .into_iter()
        .filter(|c| c.starts_with(&format!("{name}=")))
        .collect()
}

#[track_caller]
fn assert_cookie_attrs(line: &str, secure: bool) {
    let attrs: Vec<String> = line
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    assert!(
        attrs.iter().any(|a| a == "httponly"),
        "S-01: HttpOnly missing: {line}"
    );
    assert!(
        attrs.iter().any(|a| a == "samesite=lax"),
        "S-01: SameSite=Lax missing: {line}"
    );
    assert!(
        attrs.iter().any(|a| a == "path=/"),
        "S-01: Path=/ missing: {line}"
    );
    assert!(
        !attrs.iter().any(|a| a.starts_with("domain")),
        "S-01: no Domain attribute: {line}"
    );
    if secure {
        assert!(
            attrs.iter().any(|a| a == "secure"),
            "S-01: Secure missing: {line}"
        );
    }
}

/// S-01 for an http issuer: `gatehouse_session`, HttpOnly, SameSite=Lax, Path=/ (set at /authorize and
/// at login).
async fn s01_session_cookie_httponly_samesite_lax(b: Backend) {
    let f = fixture(b).await;
    let browser = f.server.browser();
    let r = browser.get(&Authz::new(&f.client).path()).await;
    assert_eq!(r.status, 303, "{}", r.describe());
    let lines = session_cookie_lines(&r, "gatehouse_session");
    assert!(
        !lines.is_empty(),
        "authorize without session must set gatehouse_session\n{}",
        r.describe()
    );
    for l in &lines {
        assert_cookie_attrs(l, false);
    }
    let page = browser.get(r.location().expect("Location").as_str()).await;
    let r = browser
        .submit_login(&page, &f.user.username, &f.user.password)
        .await;
    assert_eq!(r.status, 303, "{}", r.describe());
    for l in session_cookie_lines(&r, "gatehouse_session") {
        assert_cookie_attrs(&l, false);
    }
    assert!(
        browser.cookie("gatehouse_session").is_some(),
        "session cookie kept"
    );
}

/// S-01 with an https issuer: `__Host-gatehouse_session` with Secure (reached over plain http here,
/// only the Set-Cookie line is inspected).
async fn s01_https_issuer_uses_host_prefixed_secure_cookie(b: Backend) {
    let s = TestServer::start(b, &[("GATEHOUSE_ISSUER", "https://sso.example")]).await;
    let client = s.client(&[]).await;
    let r = s.browser().get(&Authz::new(&client).path()).await;
    assert_eq!(r.status, 303, "{}", r.describe());
    let lines = session_cookie_lines(&r, "__Host-gatehouse_session");
    assert!(
        !lines.is_empty(),
        "expected __Host-gatehouse_session\n{}",
        r.describe()
    );
    for l in &lines {
        assert_cookie_attrs(l, true);
    }
    assert!(
        session_cookie_lines(&r, "gatehouse_session").is_empty(),
        "no un-prefixed session cookie with an https issuer"
    );
}

/// P-08: codes are ≥128 bits (≥22 base64url chars) and never repeat.
async fn p08_code_is_long_and_unique(b: Backend) {
    let f = fixture(b).await;
    let browser = f.server.browser();
    let mut codes = Vec::new();
    for _ in 0..5 {
        let cb = f
            .server
            .code(&browser, &Authz::new(&f.client), &f.user)
            .await;
        let c = cb.code().to_string();
        assert!(c.len() >= 22, "code too short ({} chars): {c}", c.len());
        assert!(!codes.contains(&c), "code repeated: {c}");
        codes.push(c);
    }
}

/// P-19 / OIDC §3.1.2.1: `max_age=1` two seconds after the login requires a new login, and the ID
/// token then carries `auth_time`.
async fn p19_max_age_forces_reauthentication(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let browser = s.browser();
    s.code(&browser, &Authz::new(&f.client), &f.user).await;
    // Within max_age: no login form.
    let authz = Authz::new(&f.client).set("max_age", "600");
    let r = browser.get(&authz.path()).await;
    assert_eq!(r.status, 303, "{}", r.describe());
    assert!(
        r.location()
            .expect("Location")
            .as_str()
            .starts_with(REDIRECT),
        "max_age=600 right after login must not re-authenticate: {:?}",
        r.location()
    );
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let authz = Authz::new(&f.client).set("max_age", "1");
    let r = browser.get(&authz.path()).await;
    assert_eq!(r.status, 303, "{}", r.describe());
    assert_eq!(
        r.location().expect("Location").path(),
        "/login",
        "max_age=1 after 2 s must show the login form"
    );
    let t = s.tokens(&f.client, &browser, &authz, &f.user).await;
    let (_, claims) = jwt::decode(t.id_token());
    let auth_time = claims["auth_time"]
        .as_i64()
        .unwrap_or_else(|| panic!("auth_time required when max_age was sent: {claims}"));
    let iat = claims["iat"].as_i64().expect("iat");
    assert!(
        iat - auth_time <= 5,
        "auth_time must be the fresh login: {claims}"
    );
}
