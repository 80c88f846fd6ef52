//! Serving while the instance starts (checklist R-10). The listener is bound first and answers
//! at once: `/healthz` 200 (liveness does not depend on the database), `/readyz` 503
//! `{"status": "starting"}`, every other request 503 with `Retry-After`. Once the database is
//! reachable and migrated and the state is built, [`Switch::open`] hands every request to the
//! real router, for good.

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tower::ServiceExt;

/// The router requests go to: the starting answers until [`Switch::open`].
#[derive(Clone, Default)]
pub struct Switch {
    ready: Arc<OnceLock<Router>>,
}

impl Switch {
    /// A switch still starting.
    pub fn new() -> Self {
        Self::default()
    }

    /// From now on every request goes to `router`.
    pub fn open(&self, router: Router) {
        // Set once; a second call would be a wiring bug and changes nothing.
        let _ = self.ready.set(router);
    }

    /// The service to serve: one atomic load and a router clone (an `Arc`) per request.
    pub fn router(&self) -> Router {
        let ready = self.ready.clone();
        Router::new().fallback_service(tower::service_fn(move |req: Request| {
            let router = ready.get().cloned();
            async move {
                match router {
                    Some(router) => router.oneshot(req).await,
                    None => Ok::<_, Infallible>(starting(&req)),
                }
            }
        }))
    }
}

/// The answer before the instance is ready.
fn starting(req: &Request<Body>) -> Response {
    match req.uri().path() {
        "/healthz" => "ok".into_response(),
        "/readyz" => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "status": "starting", "database": "connecting" })),
        )
            .into_response(),
        _ => {
            let body = json!({
                "error": "temporarily_unavailable",
                "error_description": "the server is starting",
            });
            let mut res = (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            res
        }
    }
}
