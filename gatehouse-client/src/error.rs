//! Errors of the client: configuration and discovery at start, token and user-info calls later.

/// What went wrong talking to Gatehouse.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is unusable (bad URL, ...).
    #[error("configuration: {0}")]
    Config(String),
    /// OpenID Connect discovery failed (Gatehouse unreachable, or its document is invalid).
    #[error("discovery: {0}")]
    Discovery(String),
    /// Gatehouse could not be reached or answered with a server error.
    #[error("Gatehouse unavailable: {0}")]
    Unavailable(String),
    /// The token is missing, expired or revoked.
    #[error("login required")]
    LoginRequired,
    /// A login could not be completed (bad code, ID token that does not verify, ...).
    #[error("login failed: {0}")]
    Login(String),
    /// The session store failed.
    #[error("session: {0}")]
    Session(String),
}

impl From<tower_sessions::session::Error> for Error {
    fn from(e: tower_sessions::session::Error) -> Self {
        Error::Session(e.to_string())
    }
}
