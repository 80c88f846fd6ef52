//! Protocol errors as RFC 6749 §4.1.2.1 / §5.2, OIDC Core §3.1.2.6 and RFC 6750 §3 define them.
//! `description` goes to the client; `detail` only to our log.

use std::borrow::Cow;

use crate::ephemeral::EphemeralError;
use crate::store::StoreError;

/// The registered error codes we emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    LoginRequired,
    ConsentRequired,
    InteractionRequired,
    RequestNotSupported,
    RequestUriNotSupported,
    InvalidToken,
    InsufficientScope,
    UnsupportedTokenType,
    TemporarilyUnavailable,
    ServerError,
}

impl ErrorCode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            InvalidRequest => "invalid_request",
            InvalidClient => "invalid_client",
            InvalidGrant => "invalid_grant",
            UnauthorizedClient => "unauthorized_client",
            UnsupportedGrantType => "unsupported_grant_type",
            UnsupportedResponseType => "unsupported_response_type",
            InvalidScope => "invalid_scope",
            AccessDenied => "access_denied",
            LoginRequired => "login_required",
            ConsentRequired => "consent_required",
            InteractionRequired => "interaction_required",
            RequestNotSupported => "request_not_supported",
            RequestUriNotSupported => "request_uri_not_supported",
            InvalidToken => "invalid_token",
            InsufficientScope => "insufficient_scope",
            UnsupportedTokenType => "unsupported_token_type",
            TemporarilyUnavailable => "temporarily_unavailable",
            ServerError => "server_error",
        }
    }
}

/// A protocol error.
#[derive(Debug, Clone)]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: Cow<'static, str>,
    pub detail: Option<String>,
}

impl OAuthError {
    /// An error with a client-facing description.
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            description: description.into(),
            detail: None,
        }
    }
    pub fn invalid_request(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }
    pub fn invalid_client(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidClient, d)
    }
    pub fn invalid_grant(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidGrant, d)
    }
    pub fn invalid_scope(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidScope, d)
    }
    pub fn invalid_token(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidToken, d)
    }
    pub fn unauthorized_client(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::UnauthorizedClient, d)
    }
    /// A failure of ours; the detail is logged, never sent.
    pub fn server_error(detail: impl std::fmt::Display) -> Self {
        Self {
            code: ErrorCode::ServerError,
            description: "internal error".into(),
            detail: Some(detail.to_string()),
        }
    }
    /// A dependency is down: fail closed and tell the client to retry.
    pub fn unavailable(detail: impl std::fmt::Display) -> Self {
        Self {
            code: ErrorCode::TemporarilyUnavailable,
            description: "service temporarily unavailable, retry later".into(),
            detail: Some(detail.to_string()),
        }
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => OAuthError::unavailable(e),
            other => OAuthError::server_error(other),
        }
    }
}

impl From<EphemeralError> for OAuthError {
    fn from(e: EphemeralError) -> Self {
        OAuthError::unavailable(e)
    }
}

/// An /authorize failure: either shown on our own page (the client or its redirect URI cannot be
/// trusted, RFC 6749 §4.1.2.1) or sent back to the verified redirect URI.
#[derive(Debug)]
pub enum AuthorizeError {
    Page(OAuthError),
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: OAuthError,
    },
}

impl From<StoreError> for AuthorizeError {
    fn from(e: StoreError) -> Self {
        AuthorizeError::Page(e.into())
    }
}

impl From<EphemeralError> for AuthorizeError {
    fn from(e: EphemeralError) -> Self {
        AuthorizeError::Page(e.into())
    }
}
