//! Seed 002 ("inc" SDK): the `tk` browser hand-off, the session of its tokens and the
//! sub-applications' operation log.
//!
//! The `tk` is a compact JWS signed with Gatehouse's own ES256 key, header `typ: inc-tk+jwt`,
//! claims `iss`, `sub` (user id), `aud` (the application's id = seed `appId`), `iat`,
//! `exp = iat + 60`, `jti`. Unlike the seed's sample it carries **no** user credential (the
//! seed put the user's bearer `token` in clear into the URL): the token is issued only when
//! `parseTk` redeems the `jti`, once, from the ephemeral code store (single use holds on every
//! instance sharing that store). A tk is refused anywhere an access or ID token is expected
//! (their `typ` differs) and vice versa.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;

use super::tokens::{self, AppTokenCache, Principal, TokenKind};
use crate::crypto::{random_token, sha256_b64};
use crate::ephemeral::{CodeRecord, CodeTake, RevocationKind};
use crate::jwt::{self, Alg, Expect, JwtError};
use crate::oauth::{OAuthError, Provider};
use crate::store::audit::{self, Entry, NewEntry};
use crate::store::clients::{self, Application, Client};
use crate::store::op_logs::{self, Scope};
use crate::store::users::{self, User};

/// `typ` header of a tk; nothing else is accepted as one.
pub const TK_TYP: &str = "inc-tk+jwt";
/// Lifetime of a tk, in seconds.
pub const TK_TTL: i64 = 60;
const TK_ALG: Alg = Alg::ES256;
/// `target_type` of the audit entries written by `/api/log/save`.
pub const LOG_TARGET_TYPE: &str = "op_log";
/// Longest accepted `referer`.
const MAX_REFERER_BYTES: usize = 2048;

/// Claims of a tk.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TkClaims {
    pub iss: String,
    /// The user id.
    pub sub: String,
    /// The application (`appId`).
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

/// The storage key of a tk's `jti`. The `tk:` prefix (never produced by SHA-256 base64url)
/// keeps it apart from authorization codes, so a `jti` is never redeemable as a code.
fn jti_key(jti: &str) -> String {
    format!("tk:{}", sha256_b64(jti.as_bytes()))
}

/// `referer` as it will be used, if it lies under one of the `registered` URLs: same origin
/// (scheme, host, port) and a path equal to the registered path or below it at a `/`
/// boundary (stricter than a plain prefix: `/app` does not admit `/application`). No
/// userinfo; no percent-encoded `/`, `\` or `.`, and no `..;` segment in the path (servers
/// that decode them would resolve to somewhere else). Query and fragment are free.
pub fn referer_allowed(referer: &str, registered: &[String]) -> Option<Url> {
    if referer.is_empty() || referer.len() > MAX_REFERER_BYTES {
        return None;
    }
    let url = Url::parse(referer).ok()?;
    if !matches!(url.scheme(), "https" | "http")
        || url.host().is_none()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return None;
    }
    let path = url.path();
    let lower = path.to_ascii_lowercase();
    if ["%2f", "%5c", "%2e", "..;"]
        .iter()
        .any(|s| lower.contains(s))
    {
        return None;
    }
    let allowed = registered
        .iter()
        .filter_map(|r| Url::parse(r).ok())
        .any(|r| r.origin() == url.origin() && path_within(path, r.path()));
    allowed.then_some(url)
}

fn path_within(path: &str, base: &str) -> bool {
    match path.strip_prefix(base) {
        Some(rest) => rest.is_empty() || base.ends_with('/') || rest.starts_with('/'),
        None => false,
    }
}

/// The enabled application `app_id` and the referer it may be sent back to. Refusals are
/// `invalid_request` (shown, never redirected to).
pub async fn target(
    provider: &Provider,
    app_id: &str,
    referer: &str,
) -> Result<(Application, Url), OAuthError> {
    let unknown = || OAuthError::invalid_request("Unknown or disabled application.");
    if app_id.is_empty() || app_id.len() > 256 {
        return Err(unknown());
    }
    let app = clients::get_application(&provider.db, app_id)
        .await?
        .filter(|a| a.enabled)
        .ok_or_else(unknown)?;
    let url = referer_allowed(referer, &app.legacy_callback_urls).ok_or_else(|| {
        OAuthError::invalid_request("The referer is not registered for this application.")
    })?;
    Ok((app, url))
}

/// The Gatehouse URL a browser opens to sign in for `app_id` and come back to `referer`.
pub fn sso_url(issuer: &str, app_id: &str, referer: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("appId", app_id)
        .append_pair("referer", referer)
        .finish();
    format!("{issuer}/api/auth/getSSO?{query}")
}

/// Mints a tk for the signed-in user, stores its `jti` for single use, and returns the
/// referer with `tk` added to its query (an earlier `tk` there is replaced).
pub async fn mint(
    provider: &Provider,
    client_id: &str,
    user: &crate::oauth::authorize::SessionUser,
    referer: &Url,
    now: i64,
) -> Result<String, OAuthError> {
    let claims = TkClaims {
        iss: provider.issuer.clone(),
        sub: user.user_id.clone(),
        aud: client_id.to_owned(),
        iat: now,
        exp: now + TK_TTL,
        jti: random_token(),
    };
    let tk = jwt::sign(&provider.keys.current(), TK_ALG, TK_TYP, &claims)
        .map_err(OAuthError::server_error)?;
    let record = CodeRecord {
        // the grant the token of the first redemption will live in: a replay revokes it
        grant_id: uuid::Uuid::now_v7().to_string(),
        client_id: client_id.to_owned(),
        user_id: user.user_id.clone(),
        redirect_uri: referer.to_string(),
        scope: TK_TYP.to_owned(),
        nonce: None,
        code_challenge: None,
        auth_time: user.auth_time,
        sid: user.sid.clone(),
        expires_at: claims.exp,
    };
    provider
        .ephemeral
        .code_insert(&jti_key(&claims.jti), record)
        .await?;
    Ok(with_tk(referer, &tk))
}

fn with_tk(referer: &Url, tk: &str) -> String {
    let mut url = referer.clone();
    if url.query_pairs().any(|(k, _)| k == "tk") {
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "tk")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        url.set_query(None);
        if !kept.is_empty() {
            url.query_pairs_mut().extend_pairs(kept);
        }
    }
    url.query_pairs_mut().append_pair("tk", tk);
    url.to_string()
}

/// What `parseTk` makes of a tk.
#[derive(Debug)]
pub enum Exchange {
    /// A fresh app token for the tk's user and application.
    Token(String),
    /// Not a JWS at all.
    Malformed,
    /// Forged, expired, replayed, of another type or audience, or its user, application or
    /// session is no longer usable. The reason is for the log only.
    Refused(&'static str),
}

/// Redeems a tk once. `caller`: the application that authenticated the request, if it did;
/// the tk must then be addressed to it.
pub async fn exchange(
    provider: &Provider,
    tk: &str,
    caller: Option<&str>,
    now: i64,
) -> Result<Exchange, OAuthError> {
    let expect = Expect {
        algs: &[TK_ALG],
        typ: Some(TK_TYP),
        issuer: &provider.issuer,
        audience: None,
        allow_expired: false,
    };
    let claims: TkClaims = match jwt::verify(&provider.keys.current(), tk, &expect) {
        Ok(c) => c,
        Err(JwtError::Malformed) => return Ok(Exchange::Malformed),
        Err(_) => return Ok(Exchange::Refused("invalid tk")),
    };
    // No leeway: the issuer is this server.
    if claims.exp <= now || claims.exp - claims.iat > TK_TTL || claims.iat > now + 5 {
        return Ok(Exchange::Refused("expired tk"));
    }
    if caller.is_some_and(|c| c != claims.aud) {
        return Ok(Exchange::Refused("tk of another application"));
    }
    let record = match provider.ephemeral.code_take(&jti_key(&claims.jti)).await? {
        CodeTake::Fresh(r) => r,
        CodeTake::Replayed { grant_id } => {
            // Someone else holds the tk too: the token it already bought is not trustworthy.
            if !grant_id.is_empty() {
                provider.revoke_grant(&grant_id, now).await?;
            }
            return Ok(Exchange::Refused("replayed tk"));
        }
        CodeTake::Unknown => return Ok(Exchange::Refused("unknown tk")),
    };
    if record.expires_at <= now || record.client_id != claims.aud || record.user_id != claims.sub {
        return Ok(Exchange::Refused("tk does not match its record"));
    }
    if !provider
        .client(&record.client_id)
        .await?
        .is_some_and(|c| c.enabled)
    {
        return Ok(Exchange::Refused("application disabled"));
    }
    let usable = users::find(&provider.db, &record.user_id)
        .await?
        .is_some_and(|u| u.may_sign_in(now) && record.auth_time >= u.not_before);
    if !usable {
        return Ok(Exchange::Refused("user may not sign in"));
    }
    let session = [(RevocationKind::Session, record.sid.as_str())];
    if provider.ephemeral.is_revoked(&session).await? {
        return Ok(Exchange::Refused("session ended"));
    }
    let (token, _) = tokens::issue_in_grant(
        provider,
        &record.grant_id,
        &record.user_id,
        &record.client_id,
        &record.sid,
        record.auth_time,
        now,
    )
    .await?;
    Ok(Exchange::Token(token))
}

/// A live token whose user may still act and whose application is enabled.
#[derive(Debug)]
pub struct Caller {
    /// What the token resolved to.
    pub principal: Principal,
    /// The token's user (active, not past a trial).
    pub user: User,
    /// The token's application (enabled).
    pub client: Arc<Client>,
}

/// The caller behind `token`, `None` for any token that is not (or no longer) usable.
pub async fn caller(
    provider: &Provider,
    cache: &AppTokenCache,
    token: &str,
    now: i64,
) -> Result<Option<Caller>, OAuthError> {
    let Some(principal) = tokens::resolve(provider, cache, token, now).await? else {
        return Ok(None);
    };
    let Some(client) = provider
        .client(&principal.client_id)
        .await?
        .filter(|c| c.enabled)
    else {
        return Ok(None);
    };
    let Some(user) = users::find(&provider.db, &principal.user_id)
        .await?
        .filter(|u| u.may_sign_in(now))
    else {
        return Ok(None);
    };
    Ok(Some(Caller {
        principal,
        user,
        client,
    }))
}

/// Logs out with `token`: its SSO session ends (every application's tokens of that browser
/// session, and the browser session itself at its next request); a token without a session
/// loses its grant. Returns where to send the browser: the sign-in entry point of the token's
/// application back to `rurl` (if registered for it) or to its home page (if registered),
/// else the login page.
pub async fn logout(
    provider: &Provider,
    cache: &AppTokenCache,
    token: Option<&str>,
    rurl: Option<&str>,
    ip: Option<String>,
    now: i64,
) -> Result<String, OAuthError> {
    let login = format!("{}/login", provider.issuer);
    let principal = match token {
        Some(t) => tokens::resolve(provider, cache, t, now).await?,
        None => None,
    };
    let (Some(p), Some(token)) = (principal, token) else {
        return Ok(login);
    };
    if let Some(sid) = &p.sid {
        provider.end_session(sid, now).await?;
    }
    match (p.kind, &p.grant_id) {
        (TokenKind::App, _) => {
            tokens::end(provider, cache, token, now).await?;
        }
        (TokenKind::Access, Some(grant)) => provider.revoke_grant(grant, now).await?,
        (TokenKind::Access, None) => {}
    }
    let user = users::find(&provider.db, &p.user_id).await?;
    let entry = NewEntry {
        tenant_id: user.as_ref().map(|u| u.tenant_id.clone()),
        actor_type: "user".into(),
        actor_id: Some(p.user_id.clone()),
        actor_name: user.map(|u| u.username),
        ip,
        module: "auth".into(),
        target_type: "user".into(),
        target_id: Some(p.user_id.clone()),
        operation: "logout".into(),
        outcome: "success".into(),
        details: json!({ "client_id": p.client_id, "via": "/api/auth/logout" }),
    };
    audit::insert(&provider.db, &entry, now).await?;
    let Some(app) = clients::get_application(&provider.db, &p.client_id).await? else {
        return Ok(login);
    };
    let back = rurl
        .and_then(|r| referer_allowed(r, &app.legacy_callback_urls))
        .or_else(|| referer_allowed(&app.home_url, &app.legacy_callback_urls));
    Ok(match back {
        Some(url) if app.enabled => sso_url(&provider.issuer, &app.id, url.as_str()),
        _ => login,
    })
}

/// Appends a seed 002 operation log entry: the actor is the token's user (never the
/// caller-asserted `userId`, which is kept in the details when it differs), the module the
/// token's application, the tenant the application's.
pub async fn save_log(
    provider: &Provider,
    caller: &Caller,
    claimed_user_id: &str,
    op: &str,
    detail: &str,
    ip: Option<String>,
    now: i64,
) -> Result<(), OAuthError> {
    let mut details = json!({ "detail": detail });
    if claimed_user_id != caller.user.id {
        details["userId"] = json!(claimed_user_id);
    }
    let entry = NewEntry {
        tenant_id: Some(caller.client.tenant_id.clone()),
        actor_type: "user".into(),
        actor_id: Some(caller.user.id.clone()),
        actor_name: Some(caller.user.username.clone()),
        ip,
        module: caller.client.id.clone(),
        target_type: LOG_TARGET_TYPE.into(),
        target_id: None,
        operation: op.to_owned(),
        outcome: "success".into(),
        details,
    };
    audit::insert(&provider.db, &entry, now).await?;
    Ok(())
}

/// One page (1-based) of the token's application's operation log, seed 002's `data` shape.
pub async fn list_logs(
    provider: &Provider,
    caller: &Caller,
    page: i64,
    page_size: i64,
    filter: Option<&str>,
) -> Result<Value, OAuthError> {
    let scope = Scope {
        tenant_id: &caller.client.tenant_id,
        module: &caller.client.id,
        target_type: LOG_TARGET_TYPE,
    };
    let offset = (page - 1).saturating_mul(page_size);
    let (count, entries) = op_logs::list(&provider.db, &scope, filter, offset, page_size).await?;
    let mut ids: Vec<String> = entries.iter().filter_map(|e| e.actor_id.clone()).collect();
    ids.sort();
    ids.dedup();
    let people: HashMap<String, User> = users::find_many(&provider.db, &ids, &None)
        .await?
        .into_iter()
        .map(|u| (u.id.clone(), u))
        .collect();
    let list: Vec<Value> = entries
        .iter()
        .map(|e| log_item(e, e.actor_id.as_ref().and_then(|id| people.get(id))))
        .collect();
    Ok(json!({ "page": page, "count": count, "list": list }))
}

fn log_item(e: &Entry, user: Option<&User>) -> Value {
    let detail = match e.details.0.get("detail") {
        Some(Value::String(s)) => s.clone(),
        _ => e.details.0.to_string(),
    };
    let user = match user {
        Some(u) => json!({
            "_id": u.id,
            "id": u.id,
            "name": u.username,
            "userName": u.name.clone().unwrap_or_default(),
            "extra": u.attrs.0.to_string(),
        }),
        None => json!({
            "_id": e.actor_id,
            "id": e.actor_id,
            "name": e.actor_name.clone().unwrap_or_default(),
            "userName": "",
            "extra": "{}",
        }),
    };
    json!({
        "_id": e.id,
        "op": e.operation,
        "detail": detail,
        "created_at": iso_millis(e.created_at),
        "user": user,
    })
}

/// `2020-03-24T08:01:02.000Z`.
fn iso_millis(secs: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => "1970-01-01T00:00:00.000Z".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(urls: &[&str]) -> Vec<String> {
        urls.iter().map(|u| (*u).to_owned()).collect()
    }

    #[test]
    fn g01_referer_rule_is_origin_plus_path_at_a_segment_boundary() {
        let r = reg(&["https://app.example/app/", "https://other.example:8443/x"]);
        for ok in [
            "https://app.example/app/",
            "https://app.example/app/page?a=1#/main",
            "https://APP.example:443/app/deep/er",
            "https://other.example:8443/x",
            "https://other.example:8443/x/y",
        ] {
            assert!(referer_allowed(ok, &r).is_some(), "{ok}");
        }
        for bad in [
            "https://app.example/",
            "https://app.example/ap",
            "https://app.example/application",
            "https://app.example/app/../admin",
            "https://app.example/app/%2e%2e/admin",
            "https://app.example/app/%2E%2E%2Fadmin",
            "https://app.example/app/..;/admin",
            "https://app.example/app%2f..%2fadmin",
            "https://app.example.evil.com/app/",
            "https://evilapp.example/app/",
            "https://app.example@evil.com/app/",
            "https://app.example:443@evil.com/app/",
            "https://u:p@app.example/app/",
            "http://app.example/app/",
            "https://app.example:444/app/",
            "https://other.example:8443/xy",
            "//app.example/app/",
            "/app/",
            "javascript:alert(1)//app.example/app/",
            "data:text/html,https://app.example/app/",
            "",
        ] {
            assert!(referer_allowed(bad, &r).is_none(), "{bad}");
        }
        assert!(referer_allowed(&"https://app.example/app/".repeat(100), &r).is_none());
    }

    #[test]
    fn tk_is_added_to_the_query_and_replaces_an_old_one() {
        let u =
            Url::parse("https://app.example/p?a=1&tk=old#frag").unwrap_or_else(|_| unreachable!());
        let out = Url::parse(&with_tk(&u, "T")).unwrap_or_else(|_| unreachable!());
        let pairs: Vec<(String, String)> = out.query_pairs().into_owned().collect();
        assert_eq!(pairs, [("a".into(), "1".into()), ("tk".into(), "T".into())]);
        assert_eq!(out.fragment(), Some("frag"));
        let plain = Url::parse("https://app.example/p").unwrap_or_else(|_| unreachable!());
        assert_eq!(with_tk(&plain, "T"), "https://app.example/p?tk=T");
    }

    #[test]
    fn times_are_iso_utc_with_millis() {
        assert_eq!(iso_millis(1_584_936_899), "2020-03-23T04:14:59.000Z");
        assert_eq!(iso_millis(0), "1970-01-01T00:00:00.000Z");
    }
}
