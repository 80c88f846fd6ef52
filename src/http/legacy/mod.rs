//! The HTTP surface of the sub-application dialects (seeds 001 and 002). Paths, parameter
//! names, envelopes and field names follow the seeds exactly; the domain logic is in
//! `crate::dialects`.
//!
//! - `account`: seed 001 (`/views/login` → callback with `signdata` + `sign` (+ `code`),
//!   `/auth/access_token`, `/auth/login`, `/auth/logout`, `/auth/self`).
//! - `inc_session`: seed 002 login hand-off and session (`/api/auth/getSSO`, `parseTk`,
//!   `islogin`, `logout`, `getChangePasswordUri`) and the log API (`/api/log/*`).
//! - `inc_user`: seed 002 user data and decisions (`getUser`, `getUserDataPerm`,
//!   `checkApiByToken`).

mod account;
pub mod envelope;
mod inc_session;
mod inc_user;
mod resume;

use axum::Router;
use axum::routing::get;

use crate::state::AppState;

/// Routes that need the browser session (the SSO cookie).
pub fn browser_routes() -> Router<AppState> {
    Router::new()
        .route("/sso/resume", get(resume::resume))
        .merge(account::browser_routes())
        .merge(inc_session::browser_routes())
}

/// Routes called server to server (no session).
pub fn api_routes() -> Router<AppState> {
    Router::new()
        .merge(account::api_routes())
        .merge(inc_session::api_routes())
        .merge(inc_user::api_routes())
}
