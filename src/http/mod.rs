//! The HTTP edge: routes, thin handlers, extractors and the error-to-response mapping.
//! No SQL and no protocol rules live here.

mod account_password;
pub mod admin;
pub(crate) mod authorize;
pub(crate) mod client_ip;
mod consent;
mod discovery;
pub mod errors;
mod extract;
mod forms;
mod health;
mod legacy;
mod login;
mod logout;
pub(crate) mod session;
pub mod starting;
mod token;
mod userinfo;

pub use discovery::document as discovery_document;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::state::AppState;

/// Largest request body accepted anywhere; OAuth requests are small forms.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; \
                   frame-ancestors 'none'; object-src 'none'";

/// Every route, once. Browser routes get the session layer; the rest do not pay for it.
pub fn routes(
    state: AppState,
    sessions: tower_sessions::SessionManagerLayer<crate::ephemeral::SessionBackend>,
) -> Router {
    let browser = Router::new()
        .route("/", get(login::home))
        .route("/login", get(login::get_login).post(login::post_login))
        .route(
            "/password/change",
            get(login::get_change_password).post(login::post_change_password),
        )
        .route(
            "/password/reset",
            get(login::get_reset).post(login::post_reset),
        )
        .route(
            "/consent",
            get(consent::get_consent).post(consent::post_consent),
        )
        .route(
            "/oauth/authorize",
            get(authorize::authorize).post(authorize::authorize),
        )
        .route("/oauth/authorize/resume", get(authorize::resume))
        .route("/oauth/logout", get(logout::logout).post(logout::logout))
        .merge(legacy::browser_routes())
        .layer(sessions)
        .layer(axum::middleware::map_response_with_state(
            state.clone(),
            session_store_failure,
        ));
    let api = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(discovery::configuration),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery::configuration),
        )
        .route("/jwks", get(discovery::jwks))
        .route("/oauth/token", post(token::post_token))
        .route("/oauth/introspect", post(token::post_introspect))
        .route("/oauth/revoke", post(token::post_revoke))
        .route(
            "/oauth/userinfo",
            get(userinfo::userinfo).post(userinfo::userinfo),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/static/gatehouse.css", get(stylesheet))
        .merge(legacy::api_routes());
    let admin = admin::router(&state);
    browser
        .merge(api)
        .merge(admin)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        // every 503 (OAuth JSON, HTML page, API problem, dialect envelope) says when to
        // retry; the OAuth mapping sets the same value itself.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::RETRY_AFTER,
            |res: &Response| {
                (res.status() == axum::http::StatusCode::SERVICE_UNAVAILABLE)
                    .then(|| HeaderValue::from_static("5"))
            },
        ))
        .with_state(state)
}

/// tower-sessions answers a bare 500 (no body, no content type) when the session store cannot
/// save the session after the handler ran: that is the store being unavailable, so the browser
/// gets the 503 page like every other store outage. Our own 500s always carry a body.
async fn session_store_failure(
    axum::extract::State(app): axum::extract::State<AppState>,
    res: Response,
) -> Response {
    if res.status() == axum::http::StatusCode::INTERNAL_SERVER_ERROR
        && !res.headers().contains_key(header::CONTENT_TYPE)
    {
        return errors::error_page(
            &app,
            &crate::oauth::OAuthError::unavailable("the session store could not save the session"),
        );
    }
    res
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        crate::templates::STYLESHEET,
    )
        .into_response()
}

async fn not_found() -> Response {
    (
        axum::http::StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({ "error": "not_found" })),
    )
        .into_response()
}
