//! Seed 002 user data and decisions, called server to server by sub-applications (POST, JSON
//! body, envelope `{code, msg, data}`):
//!
//! - `POST /api/auth/checkApiByToken` `{token, apiPath, method?}` → `data: true|false`, or the
//!   batch form `{token, checks: [{apiPath, method?}, …]}` (at most [`MAX_CHECKS`]) →
//!   `data: [bool, …]` in order. `method` is a Gatehouse extension: absent, only items without a
//!   method restriction count (seed 002 checks the path only). A token that is not live answers
//!   `false` (code 0, so old SDKs deny); a store failure is 503/500, never `true`.
//! - `POST /api/auth/getUser` `{token?}` → `data: {user: {…}}` (seed 002's User object).
//! - `POST /api/auth/getUserDataPerm` `{token?}` → `data: {list: [{_id, permissionId,
//!   permissionName, api}]}`.
//!
//! The token comes from the body, else `Authorization: Bearer`, else the `token` header; never
//! the query. Parameter errors are HTTP 400: `104001` (missing `token`/`apiPath`), `104002`
//! (malformed JSON, wrong types, unknown fields, too many checks). `getUser` and
//! `getUserDataPerm` answer `100401` (HTTP 200) without a live token.

use std::borrow::Cow;
use std::fmt;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::de::{Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use super::envelope::{self, LOGIN_REQUIRED, MISSING_PARAMETER, PARAMETER_ERROR};
use crate::dialects::checker::Request as Check;
use crate::dialects::profile;
use crate::http::MAX_BODY_BYTES;
use crate::state::AppState;

/// Most questions in one batch `checkApiByToken` call.
pub const MAX_CHECKS: usize = 100;

/// Server-to-server routes.
pub fn api_routes() -> Router<AppState> {
    Router::new()
        .route("/api/auth/checkApiByToken", post(check_api_by_token))
        .route("/api/auth/getUser", post(get_user))
        .route("/api/auth/getUserDataPerm", post(get_user_data_perm))
}

/// A JSON string, borrowed from the body unless it held escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

fn text<'s>(t: &'s Option<Text<'_>>) -> Option<&'s str> {
    t.as_ref().map(|t| t.0.as_ref())
}

/// Body of `checkApiByToken`: the single form or the batch form.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckBody<'a> {
    #[serde(borrow, default)]
    token: Option<Text<'a>>,
    #[serde(borrow, default, rename = "apiPath")]
    api_path: Option<Text<'a>>,
    #[serde(borrow, default)]
    method: Option<Text<'a>>,
    #[serde(borrow, default)]
    checks: Option<Vec<CheckItem<'a>>>,
}

/// One question of the batch form.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckItem<'a> {
    #[serde(borrow, default, rename = "apiPath")]
    api_path: Option<Text<'a>>,
    #[serde(borrow, default)]
    method: Option<Text<'a>>,
}

/// Body of `getUser` and `getUserDataPerm` (may be empty).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TokenBody<'a> {
    #[serde(borrow, default)]
    token: Option<Text<'a>>,
}

/// A parameter error: HTTP 400 with the envelope.
fn bad(code: i64, msg: &str) -> Response {
    (StatusCode::BAD_REQUEST, envelope::fail(code, msg)).into_response()
}

/// A pre-serialised JSON envelope (the hot path skips `serde_json::Value`).
fn json_bytes(body: impl Into<Bytes>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.into(),
    )
        .into_response()
}

const TRUE: &[u8] = br#"{"code":0,"msg":"SUCCESS","data":true}"#;
const FALSE: &[u8] = br#"{"code":0,"msg":"SUCCESS","data":false}"#;

/// Why a request is answered before it reaches the engine.
enum Refusal {
    Unreadable,
    Malformed,
    LoginRequired,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Unreadable => bad(PARAMETER_ERROR, "the body is too large or unreadable"),
            Refusal::Malformed => bad(
                PARAMETER_ERROR,
                "the body must be a JSON object with the documented fields",
            ),
            Refusal::LoginRequired => envelope::fail(LOGIN_REQUIRED, "login required"),
        }
    }
}

/// Reads the whole body (bounded like every other route).
async fn body_of(req: Request) -> Result<(HeaderMap, Bytes), Refusal> {
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => Ok((parts.headers, b)),
        Err(_) => Err(Refusal::Unreadable),
    }
}

/// A JSON object body (serde would also read a struct from an array).
fn object<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Option<T> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace())?;
    if *first != b'{' {
        return None;
    }
    serde_json::from_slice(bytes).ok()
}

/// `POST /api/auth/checkApiByToken`.
async fn check_api_by_token(State(app): State<AppState>, req: Request) -> Response {
    let (headers, bytes) = match body_of(req).await {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let Some(body) = object::<CheckBody<'_>>(&bytes) else {
        return Refusal::Malformed.into_response();
    };
    let Some(token) = envelope::token(text(&body.token), &headers) else {
        return bad(MISSING_PARAMETER, "token is required");
    };
    let now = crate::clock::now();
    match body.checks {
        None => {
            let Some(path) = text(&body.api_path).filter(|p| !p.is_empty()) else {
                return bad(MISSING_PARAMETER, "apiPath is required");
            };
            let decision = app
                .checker
                .check(&app.provider, token, text(&body.method), &[path], now)
                .await;
            match decision {
                Ok(d) if d.allowed.first() == Some(&true) => json_bytes(TRUE),
                Ok(_) => json_bytes(FALSE),
                Err(e) => envelope::from_oauth(&e),
            }
        }
        Some(checks) => {
            if body.api_path.is_some() || body.method.is_some() {
                return bad(PARAMETER_ERROR, "send either apiPath or checks, not both");
            }
            if checks.len() > MAX_CHECKS {
                return bad(
                    PARAMETER_ERROR,
                    &format!("at most {MAX_CHECKS} checks per call"),
                );
            }
            let mut requests = Vec::with_capacity(checks.len());
            for c in &checks {
                let Some(path) = text(&c.api_path).filter(|p| !p.is_empty()) else {
                    return bad(MISSING_PARAMETER, "every check needs an apiPath");
                };
                requests.push(Check {
                    method: text(&c.method),
                    path,
                });
            }
            match app
                .checker
                .check_each(&app.provider, token, &requests, now)
                .await
            {
                Ok(d) => json_bytes(batch_body(&d.allowed)),
                Err(e) => envelope::from_oauth(&e),
            }
        }
    }
}

/// `{"code":0,"msg":"SUCCESS","data":[true,false,…]}`.
fn batch_body(allowed: &[bool]) -> String {
    let mut s = String::with_capacity(40 + allowed.len() * 6);
    s.push_str(r#"{"code":0,"msg":"SUCCESS","data":["#);
    for (i, a) in allowed.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(if *a { "true" } else { "false" });
    }
    s.push_str("]}");
    s
}

/// The token of a `getUser`-style request.
fn token_of<'b>(headers: &'b HeaderMap, body: &'b TokenBody<'b>) -> Result<&'b str, Refusal> {
    envelope::token(text(&body.token), headers).ok_or(Refusal::LoginRequired)
}

/// Parses an optional JSON body: empty means `{}`.
fn token_body(bytes: &Bytes) -> Result<TokenBody<'_>, Refusal> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(TokenBody::default());
    }
    object(bytes).ok_or(Refusal::Malformed)
}

#[derive(Serialize)]
struct UserData {
    user: profile::IncUser,
}

#[derive(Serialize)]
struct DataPermList {
    list: Vec<profile::DataPerm>,
}

/// `POST /api/auth/getUser`.
async fn get_user(State(app): State<AppState>, req: Request) -> Response {
    let (headers, bytes) = match body_of(req).await {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let body = match token_body(&bytes) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let token = match token_of(&headers, &body) {
        Ok(t) => t,
        Err(r) => return r.into_response(),
    };
    match profile::user(&app.provider, &app.checker, token, crate::clock::now()).await {
        Ok(Some(user)) => envelope::ok(UserData { user }),
        Ok(None) => envelope::fail(LOGIN_REQUIRED, "login required"),
        Err(e) => envelope::from_oauth(&e),
    }
}

/// `POST /api/auth/getUserDataPerm`.
async fn get_user_data_perm(State(app): State<AppState>, req: Request) -> Response {
    let (headers, bytes) = match body_of(req).await {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let body = match token_body(&bytes) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let token = match token_of(&headers, &body) {
        Ok(t) => t,
        Err(r) => return r.into_response(),
    };
    let now = crate::clock::now();
    match profile::data_permissions(&app.provider, &app.checker, token, now).await {
        Ok(Some(list)) => envelope::ok(DataPermList { list }),
        Ok(None) => envelope::fail(LOGIN_REQUIRED, "login required"),
        Err(e) => envelope::from_oauth(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_parse_borrowed_and_escaped() {
        let b: CheckBody<'_> = object(br#" {"token":"t","apiPath":"\/api\/x"}"#).unwrap();
        assert_eq!(text(&b.token), Some("t"));
        assert!(matches!(
            b.token.as_ref().map(|t| &t.0),
            Some(Cow::Borrowed(_))
        ));
        assert_eq!(text(&b.api_path), Some("/api/x"));
        for bad in [
            &br#"{"token":1,"apiPath":"/x"}"#[..],
            br#"{"token":"t","apiPath":"/x","extra":1}"#,
            br#"{"token":"t","checks":[{"apiPath":"/x","x":1}]}"#,
            br#"{"token":"t","checks":"/x"}"#,
            br#"["t"]"#,
            br#"["t", "/x"]"#,
            b"null",
            b"{",
            b"",
        ] {
            assert!(object::<CheckBody<'_>>(bad).is_none());
        }
    }

    #[test]
    fn batch_body_is_an_envelope() {
        let v: serde_json::Value = serde_json::from_str(&batch_body(&[true, false])).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"code": 0, "msg": "SUCCESS", "data": [true, false]})
        );
        assert_eq!(batch_body(&[]), r#"{"code":0,"msg":"SUCCESS","data":[]}"#);
    }
}
