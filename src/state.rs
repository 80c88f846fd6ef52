//! `AppState`: everything a request handler may touch, built once in `app.rs`.

use std::sync::Arc;

use crate::accounts::password::Passwords;
use crate::config::Config;
use crate::oauth::Provider;
use crate::templates::Templates;

/// Cheap to clone; shared by every handler.
#[derive(Clone, Debug)]
pub struct AppState(pub Arc<Inner>);

/// The shared parts.
#[derive(Debug)]
pub struct Inner {
    pub config: Config,
    pub provider: Provider,
    pub passwords: Passwords,
    pub templates: Templates,
    /// Pre-rendered discovery document.
    pub discovery: Vec<u8>,
    /// `checkApiByToken` decisions and their caches.
    pub checker: crate::dialects::Checker,
    /// Cookies get `Secure` (and the `__Host-` prefix) when the issuer is https.
    pub secure_cookies: bool,
    /// Whose `X-Forwarded-For` is believed.
    pub trusted_proxies: crate::http::client_ip::TrustedProxies,
    /// Bounds password guessing on every login path (L-04, L-05).
    pub login_throttle: crate::accounts::throttle::LoginThrottle,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
