//! The OAuth 2.0 / OpenID Connect protocol core: typed requests in, typed results or
//! [`error::OAuthError`] out. Nothing here knows about HTTP frameworks.

pub mod authorize;
pub mod claims;
pub mod client_auth;
pub mod error;
pub mod grants;
pub mod introspect;
pub mod params;
pub mod pkce;
pub mod provider;
pub mod scope;
pub mod tokens;
pub mod userinfo;

pub use error::{AuthorizeError, ErrorCode, OAuthError};
pub use params::Params;
pub use provider::Provider;
