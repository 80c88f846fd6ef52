//! [`GatehouseLayer`]: every request must carry a token Gatehouse accepts for this method and
//! path, or it is answered here with 401, 403 or 503 and never reaches the handler.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Json;
use axum::extract::OriginalUri;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tower::{Layer, Service};
use tower_sessions::Session;

use crate::check::Decision;
use crate::{Gatehouse, login};

/// What the layer found out, left in the request's extensions for [`crate::GatehouseUser`].
#[derive(Clone)]
pub(crate) struct Authenticated {
    pub(crate) gh: Gatehouse,
    pub(crate) token: String,
    /// The token came from the login session (else from `Authorization: Bearer`).
    pub(crate) from_session: bool,
}

/// A JSON error answer; 401s carry `WWW-Authenticate: Bearer` (RFC 6750 §3).
pub(crate) fn reject(
    status: StatusCode,
    error: &'static str,
    description: &'static str,
) -> Response {
    let mut res = (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response();
    let h = res.headers_mut();
    if status == StatusCode::UNAUTHORIZED {
        let challenge = if error == "invalid_token" {
            "Bearer error=\"invalid_token\""
        } else {
            "Bearer"
        };
        h.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// A tower [`Layer`] that guards every route under it with Gatehouse's `checkApiByToken`.
///
/// The token is the `Authorization: Bearer` header, else the access token of the login
/// session (put the layer inside tower-sessions' `SessionManagerLayer` for that). Answers:
/// no token or a token Gatehouse refuses → 401 with `WWW-Authenticate: Bearer`; a valid token
/// without a permission covering the method and path → 403; Gatehouse unreachable or failing
/// → 503 (fail closed). Decisions are cached per (token, method, path) for
/// [`decision_ttl`](crate::GatehouseConfig::decision_ttl). The path asked about is the
/// request's original path (before any `Router::nest` stripped a prefix).
#[derive(Clone, Debug)]
pub struct GatehouseLayer {
    gh: Gatehouse,
}

impl GatehouseLayer {
    /// A layer asking `gh`.
    pub fn new(gh: Gatehouse) -> Self {
        Self { gh }
    }
}

impl<S> Layer<S> for GatehouseLayer {
    type Service = GatehouseService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GatehouseService {
            gh: self.gh.clone(),
            inner,
        }
    }
}

/// The service [`GatehouseLayer`] wraps around a handler or router.
#[derive(Clone, Debug)]
pub struct GatehouseService<S> {
    gh: Gatehouse,
    inner: S,
}

impl<S, B> Service<Request<B>> for GatehouseService<S>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let gh = self.gh.clone();
        // The clone that was polled ready serves this request (tower's usual dance).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            match authorize(&gh, &mut req).await {
                Ok(()) => inner.call(req).await,
                Err(res) => Ok(res),
            }
        })
    }
}

/// The `Authorization` header's bearer token: `Ok(None)` without the header, `Err` for
/// another scheme or an unreadable value.
fn bearer<B>(req: &Request<B>) -> Result<Option<String>, ()> {
    let Some(v) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let v = v.to_str().map_err(|_| ())?;
    let (scheme, token) = v.split_once(' ').ok_or(())?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(());
    }
    Ok(Some(token.to_owned()))
}

async fn authorize<B>(gh: &Gatehouse, req: &mut Request<B>) -> Result<(), Response> {
    let (token, from_session) = match bearer(req) {
        Err(()) => {
            return Err(reject(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "use Authorization: Bearer <access token>",
            ));
        }
        Ok(Some(t)) => (t, false),
        Ok(None) => {
            let session = req.extensions().get::<Session>().cloned();
            let token = match &session {
                Some(s) => login::session_token(gh, s)
                    .await
                    .map_err(|e| crate::user::error_response(&e))?,
                None => None,
            };
            match token {
                Some(t) => (t, true),
                None => {
                    return Err(reject(
                        StatusCode::UNAUTHORIZED,
                        "login_required",
                        "sign in or send a bearer token",
                    ));
                }
            }
        }
    };
    let path = req
        .extensions()
        .get::<OriginalUri>()
        .map(|u| u.0.path().to_owned())
        .unwrap_or_else(|| req.uri().path().to_owned());
    let method = req.method().as_str().to_owned();
    match gh.check(&token, &method, &path).await {
        Decision::Allowed => {
            req.extensions_mut().insert(Authenticated {
                gh: gh.clone(),
                token,
                from_session,
            });
            Ok(())
        }
        Decision::Forbidden => Err(reject(
            StatusCode::FORBIDDEN,
            "forbidden",
            "you lack a permission for this API",
        )),
        Decision::LoginRequired => {
            // The SSO session ended (logout elsewhere, revocation): the local login is over too.
            if from_session && let Some(s) = req.extensions().get::<Session>() {
                login::forget_login(s)
                    .await
                    .map_err(|e| crate::user::error_response(&e))?;
            }
            Err(reject(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the access token is expired or revoked",
            ))
        }
        Decision::Unavailable => Err(reject(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the permission service is unavailable; try again",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(auth: Option<&str>) -> Request<()> {
        let mut b = Request::builder();
        if let Some(a) = auth {
            b = b.header(header::AUTHORIZATION, a);
        }
        b.body(()).unwrap_or_default()
    }

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(bearer(&req(None)), Ok(None));
        assert_eq!(bearer(&req(Some("Bearer abc"))), Ok(Some("abc".into())));
        assert_eq!(bearer(&req(Some("bearer  abc "))), Ok(Some("abc".into())));
        assert_eq!(bearer(&req(Some("Basic abc"))), Err(()));
        assert_eq!(bearer(&req(Some("Bearer "))), Err(()));
        assert_eq!(bearer(&req(Some("Bearer"))), Err(()));
    }
}
