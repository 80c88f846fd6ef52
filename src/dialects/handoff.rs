//! A browser hand-off to a sub-application waiting for the user to sign in: where the browser
//! goes afterwards and in which dialect. Parked in the browser session by the dialect's entry
//! point (`/views/login`, `/api/auth/getSSO`) and completed at `/sso/resume` after login.

use serde::{Deserialize, Serialize};

/// A pending hand-off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "dialect", rename_all = "snake_case")]
pub enum Handoff {
    /// Seed 001: back to `callback` with `signdata` + `sign` (+ `code` when
    /// `response_type=code`, and `scope`).
    Signdata {
        client_id: String,
        callback: String,
        scope: Option<String>,
        response_type: Option<String>,
    },
    /// Seed 002: back to `referer` with `tk`.
    Tk { client_id: String, referer: String },
}

impl Handoff {
    /// The application the hand-off is for.
    pub fn client_id(&self) -> &str {
        match self {
            Handoff::Signdata { client_id, .. } | Handoff::Tk { client_id, .. } => client_id,
        }
    }
}
