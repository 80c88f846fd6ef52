//! Seed 002 ("inc" SDK): the login hand-off (`/api/auth/getSSO` → login → `referer?tk=…`,
//! `/api/auth/parseTk`), the session of its tokens (`islogin`, `logout`,
//! `getChangePasswordUri`) and the operation log (`/api/log/save`, `/api/log/listWithPaging`).
//! The rules live in [`crate::dialects::tk`].
//!
//! Requests: `POST` with a JSON object body (or a form); `getSSO` also `GET` with a query.
//! Unknown fields, wrong types and malformed or oversized bodies are answered with HTTP 4xx
//! and the envelope (`104001` missing, `104002` malformed); a missing, unknown, expired or
//! revoked token with `100401` (HTTP 200, the SDKs read `code`).

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};
use tower_sessions::Session;
use url::Url;

use super::envelope::{self, LOGIN_REQUIRED, MISSING_PARAMETER, PARAMETER_ERROR};
use crate::clock;
use crate::dialects::handoff::Handoff;
use crate::dialects::tk::{self, Caller, Exchange};
use crate::ephemeral::RevocationKind;
use crate::http::account_password;
use crate::http::authorize::active_user;
use crate::http::errors::error_page;
use crate::http::login::ClientIp;
use crate::http::session;
use crate::oauth::authorize::SessionUser;
use crate::oauth::{ErrorCode, OAuthError, Params, client_auth};
use crate::state::AppState;

/// Largest body of these endpoints (a log `detail` is the biggest field).
const MAX_BODY_BYTES: usize = 64 * 1024;
/// Most fields in one request.
const MAX_FIELDS: usize = 32;
/// Longest `detail` of a log entry, in bytes.
const MAX_DETAIL_BYTES: usize = 16 * 1024;
/// Largest `pageSize`; larger values are lowered to it.
const MAX_PAGE_SIZE: i64 = 100;

/// Routes that need the browser session.
pub fn browser_routes() -> Router<AppState> {
    Router::new()
        .route("/api/auth/getSSO", get(get_sso).post(post_sso))
        .route(
            "/account/password",
            get(account_password::get_password).post(account_password::post_password),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// Server-to-server routes.
pub fn api_routes() -> Router<AppState> {
    Router::new()
        .route("/api/auth/parseTk", post(parse_tk))
        .route("/api/auth/islogin", post(is_login))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/getChangePasswordUri", post(change_password_uri))
        .route("/api/log/save", post(save_log))
        .route("/api/log/listWithPaging", post(list_logs))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// Completes a hand-off of this dialect for the signed-in `user`: the redirect to the app.
pub(super) async fn complete(
    app: &AppState,
    user: &SessionUser,
    handoff: Handoff,
) -> Result<Response, OAuthError> {
    let Handoff::Tk { client_id, referer } = handoff else {
        return Err(OAuthError::invalid_request("Not a tk hand-off."));
    };
    let sid = [(RevocationKind::Session, user.sid.as_str())];
    if app.provider.ephemeral.is_revoked(&sid).await? {
        return Err(OAuthError::invalid_request(
            "Your session has ended. Sign in again.",
        ));
    }
    // Checked again: the application or its URLs may have changed during the login.
    let (application, url) = tk::target(&app.provider, &client_id, &referer).await?;
    redirect_with_tk(app, user, &application.id, &url).await
}

async fn redirect_with_tk(
    app: &AppState,
    user: &SessionUser,
    client_id: &str,
    referer: &Url,
) -> Result<Response, OAuthError> {
    let location = tk::mint(&app.provider, client_id, user, referer, clock::now()).await?;
    let mut res = Redirect::to(&location).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// `GET /api/auth/getSSO?appId&referer`: the browser entry point. Signed in: straight back to
/// the referer with a tk; otherwise the hand-off is parked and the login page shown. Unknown
/// or disabled application, or a referer not registered for it: a 400 page, never a redirect.
async fn get_sso(
    State(app): State<AppState>,
    session: Session,
    RawQuery(query): RawQuery,
) -> Response {
    let parsed = Fields::parse_form(query.unwrap_or_default().as_bytes(), &["appId", "referer"])
        .and_then(|f| {
            Ok((
                f.required("appId")?.to_owned(),
                f.required("referer")?.to_owned(),
            ))
        });
    let (app_id, referer) = match parsed {
        Ok(v) => v,
        Err(bad) => return error_page(&app, &OAuthError::invalid_request(bad.msg)),
    };
    let result = async {
        let (application, url) = tk::target(&app.provider, &app_id, &referer).await?;
        if let Some(user) = active_user(&app, &session).await? {
            return redirect_with_tk(&app, &user, &application.id, &url).await;
        }
        let handoff = Handoff::Tk {
            client_id: application.id,
            referer: url.to_string(),
        };
        session::set_handoff(&session, &handoff).await?;
        Ok(Redirect::to("/login").into_response())
    };
    result.await.unwrap_or_else(|e| error_page(&app, &e))
}

/// `POST /api/auth/getSSO {appId, referer}` → `data`: the URL the browser should open.
async fn post_sso(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let f = Fields::read(&headers, body, &["appId", "referer"])?;
        let (app_id, referer) = (f.required("appId")?, f.required("referer")?);
        let (application, url) = tk::target(&app.provider, app_id, referer)
            .await
            .map_err(refusal)?;
        let issuer = &app.provider.issuer;
        Ok(envelope::ok(tk::sso_url(
            issuer,
            &application.id,
            url.as_str(),
        )))
    };
    result.await.unwrap_or_else(|r: Response| r)
}

/// `POST /api/auth/parseTk {tk}` → `data: {token}`. An application may authenticate with
/// `Authorization: Basic` (appId:appSecret); the tk must then be addressed to it.
async fn parse_tk(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let f = Fields::read(&headers, body, &["tk"])?;
        let tk = f.required("tk")?;
        let caller = basic_caller(&app, &headers).await?;
        let outcome = tk::exchange(&app.provider, tk, caller.as_deref(), clock::now())
            .await
            .map_err(|e| envelope::from_oauth(&e))?;
        Ok(match outcome {
            Exchange::Token(token) => no_store(envelope::ok(json!({ "token": token }))),
            Exchange::Malformed => bad(PARAMETER_ERROR, "the tk is malformed").response(),
            Exchange::Refused(reason) => {
                tracing::info!(reason, "tk refused");
                envelope::fail(LOGIN_REQUIRED, "the tk is invalid, expired or already used")
            }
        })
    };
    result.await.unwrap_or_else(|r: Response| r)
}

/// The application that authenticated with `Authorization: Basic appId:appSecret`, if the
/// request carries such a header; a failed authentication is a 401.
async fn basic_caller(app: &AppState, headers: &HeaderMap) -> Result<Option<String>, Response> {
    let Some(h) = crate::http::extract::authorization(headers)
        .filter(|h| h.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("basic ")))
    else {
        return Ok(None);
    };
    match client_auth::authenticate(&app.provider, Some(h), &Params::default()).await {
        Ok(c) => Ok(Some(c.client.id.clone())),
        Err(e)
            if matches!(
                e.code,
                ErrorCode::TemporarilyUnavailable | ErrorCode::ServerError
            ) =>
        {
            Err(envelope::from_oauth(&e))
        }
        Err(_) => Err(with_status(
            StatusCode::UNAUTHORIZED,
            envelope::fail(LOGIN_REQUIRED, "application authentication failed"),
        )),
    }
}

/// `POST /api/auth/islogin {token?}` → `data: true|false` (false for any unusable token).
async fn is_login(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let f = Fields::read(&headers, body, &["token"])?;
        let Some(token) = envelope::token(f.text("token")?, &headers) else {
            return Ok(envelope::ok(false));
        };
        let live = tk::caller(&app.provider, &app.checker.tokens, token, clock::now())
            .await
            .map_err(|e| envelope::from_oauth(&e))?;
        Ok(envelope::ok(live.is_some()))
    };
    result.await.unwrap_or_else(|r: Response| r)
}

/// `POST /api/auth/logout {token?, rurl?}` → `data`: where to send the browser next. The
/// token's SSO session ends for every application.
async fn logout(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let f = Fields::read(&headers, body, &["token", "rurl"])?;
        let token = envelope::token(f.text("token")?, &headers);
        let rurl = f.text("rurl")?;
        let cache = &app.checker.tokens;
        let url = tk::logout(&app.provider, cache, token, rurl, ip, clock::now())
            .await
            .map_err(|e| envelope::from_oauth(&e))?;
        Ok(envelope::ok(url))
    };
    result.await.unwrap_or_else(|r: Response| r)
}

/// `POST /api/auth/getChangePasswordUri {}` → `data`: the self-service password page.
async fn change_password_uri(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let f = Fields::read(&headers, body, &["token"])?;
        require_caller(&app, &f, &headers).await?;
        Ok(envelope::ok(format!(
            "{}/account/password",
            app.provider.issuer
        )))
    };
    result.await.unwrap_or_else(|r: Response| r)
}

/// `POST /api/log/save {userId, op, detail}` → `data: {}`.
async fn save_log(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let f = Fields::read(&headers, body, &["token", "userId", "op", "detail"])?;
        let caller = require_caller(&app, &f, &headers).await?;
        let user_id = f.required("userId")?;
        let op = f.required("op")?;
        let detail = f.required("detail")?;
        if user_id.len() > 128 || op.chars().count() > 128 || detail.len() > MAX_DETAIL_BYTES {
            return Err(bad(PARAMETER_ERROR, "userId, op or detail is too long").response());
        }
        tk::save_log(
            &app.provider,
            &caller,
            user_id,
            op,
            detail,
            ip,
            clock::now(),
        )
        .await
        .map_err(|e| envelope::from_oauth(&e))?;
        Ok(envelope::ok(json!({})))
    };
    result.await.unwrap_or_else(|r: Response| r)
}

/// `POST /api/log/listWithPaging {page?, pageSize?, filterText?}` → `data: {page, count, list}`.
async fn list_logs(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let allowed = ["token", "page", "pageSize", "filterText"];
        let f = Fields::read(&headers, body, &allowed)?;
        let caller = require_caller(&app, &f, &headers).await?;
        let page = f.number("page")?.unwrap_or(1);
        let page_size = f.number("pageSize")?.unwrap_or(10);
        if !(1..=1_000_000).contains(&page) || page_size < 1 {
            return Err(bad(PARAMETER_ERROR, "page and pageSize must be positive").response());
        }
        let filter = f.text("filterText")?.map(str::trim);
        if filter.is_some_and(|t| t.chars().count() > 256) {
            return Err(bad(PARAMETER_ERROR, "filterText is too long").response());
        }
        let page_size = page_size.min(MAX_PAGE_SIZE);
        let data = tk::list_logs(&app.provider, &caller, page, page_size, filter)
            .await
            .map_err(|e| envelope::from_oauth(&e))?;
        Ok(envelope::ok(data))
    };
    result.await.unwrap_or_else(|r: Response| r)
}

/// The usable caller of the request's token, or the "login required" reply.
async fn require_caller(
    app: &AppState,
    f: &Fields,
    headers: &HeaderMap,
) -> Result<Caller, Response> {
    let login = || envelope::fail(LOGIN_REQUIRED, "login required");
    let Some(token) = envelope::token(f.text("token")?, headers) else {
        return Err(login());
    };
    tk::caller(&app.provider, &app.checker.tokens, token, clock::now())
        .await
        .map_err(|e| envelope::from_oauth(&e))?
        .ok_or_else(login)
}

/// A domain refusal (`invalid_request`) as a 400 envelope; anything else as 5xx.
fn refusal(e: OAuthError) -> Response {
    if e.code == ErrorCode::InvalidRequest {
        bad(PARAMETER_ERROR, &e.description).response()
    } else {
        envelope::from_oauth(&e)
    }
}

fn with_status(status: StatusCode, mut res: Response) -> Response {
    *res.status_mut() = status;
    res
}

fn no_store(mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Bad input: the HTTP status, the envelope code and a message.
struct Bad {
    status: StatusCode,
    code: i64,
    msg: String,
}

fn bad(code: i64, msg: &str) -> Bad {
    Bad {
        status: StatusCode::BAD_REQUEST,
        code,
        msg: msg.to_owned(),
    }
}

impl Bad {
    fn response(self) -> Response {
        with_status(self.status, envelope::fail(self.code, &self.msg))
    }
}

impl From<Bad> for Response {
    fn from(b: Bad) -> Response {
        b.response()
    }
}

/// The fields of a request (JSON object or form), restricted to the endpoint's names.
struct Fields(Map<String, Value>);

impl Fields {
    /// Reads a JSON object body (also without a content type, and an empty body as `{}`) or
    /// an `application/x-www-form-urlencoded` one.
    fn read(
        headers: &HeaderMap,
        body: Result<Bytes, BytesRejection>,
        allowed: &[&str],
    ) -> Result<Fields, Bad> {
        let body = body.map_err(|e| Bad {
            status: e.status(),
            code: PARAMETER_ERROR,
            msg: "the request body is too large or unreadable".into(),
        })?;
        let ctype = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_ascii_lowercase);
        match ctype.as_deref() {
            Some(c) if c.starts_with("application/x-www-form-urlencoded") => {
                Self::parse_form(&body, allowed)
            }
            Some(c) if !(c.starts_with("application/json") || c.contains("+json")) => Err(Bad {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                code: PARAMETER_ERROR,
                msg: "expected a JSON object (application/json) or a form".into(),
            }),
            _ => Self::parse_json(&body, allowed),
        }
    }

    fn parse_json(body: &[u8], allowed: &[&str]) -> Result<Fields, Bad> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Fields(Map::new()));
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Self::check(map, allowed),
            Ok(_) => Err(bad(PARAMETER_ERROR, "the body must be a JSON object")),
            Err(_) => Err(bad(PARAMETER_ERROR, "the body is not valid JSON")),
        }
    }

    fn parse_form(raw: &[u8], allowed: &[&str]) -> Result<Fields, Bad> {
        let mut map = Map::new();
        for (name, value) in form_urlencoded::parse(raw) {
            if map.len() >= MAX_FIELDS {
                return Err(bad(PARAMETER_ERROR, "too many parameters"));
            }
            if map
                .insert(name.to_string(), Value::String(value.into_owned()))
                .is_some()
            {
                return Err(bad(
                    PARAMETER_ERROR,
                    &format!("{} is repeated", short(&name)),
                ));
            }
        }
        Self::check(map, allowed)
    }

    fn check(map: Map<String, Value>, allowed: &[&str]) -> Result<Fields, Bad> {
        if map.len() > MAX_FIELDS {
            return Err(bad(PARAMETER_ERROR, "too many parameters"));
        }
        if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(bad(
                PARAMETER_ERROR,
                &format!("unknown field {}", short(unknown)),
            ));
        }
        Ok(Fields(map))
    }

    /// A string field; absent, `null` or empty → `None`.
    fn text(&self, name: &str) -> Result<Option<&str>, Bad> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str()).filter(|s| !s.is_empty())),
            Some(_) => Err(bad(PARAMETER_ERROR, &format!("{name} must be a string"))),
        }
    }

    /// A string field that must be present and not empty.
    fn required(&self, name: &str) -> Result<&str, Bad> {
        self.text(name)?
            .ok_or_else(|| bad(MISSING_PARAMETER, &format!("{name} is required")))
    }

    /// An integer given as a JSON number or a numeric string (seed 002 sends both).
    fn number(&self, name: &str) -> Result<Option<i64>, Bad> {
        let wrong = || bad(PARAMETER_ERROR, &format!("{name} must be an integer"));
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(wrong),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| wrong()),
            Some(_) => Err(wrong()),
        }
    }
}

/// A field name for a message: at most 64 characters.
fn short(name: &str) -> String {
    name.chars().take(64).collect()
}
