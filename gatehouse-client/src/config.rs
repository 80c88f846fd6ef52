//! Settings of a sub-application: where Gatehouse is, who the sub-application is, and the
//! lifetimes of the client-side caches.

use std::time::Duration;

/// How a sub-application talks to Gatehouse. Build one with [`GatehouseConfig::new`], adjust
/// the public fields, then pass it to [`crate::Gatehouse::discover`].
#[derive(Clone)]
#[non_exhaustive]
pub struct GatehouseConfig {
    /// The Gatehouse issuer URL, e.g. `https://sso.example.com` (no trailing slash needed).
    pub issuer: String,
    /// The sub-application's client id (registered in Gatehouse).
    pub client_id: String,
    /// The client secret of a confidential application; `None` for a public one (PKCE only).
    pub client_secret: Option<String>,
    /// The sub-application's own external base URL, e.g. `https://reports.example.com`.
    /// The redirect URI registered in Gatehouse must be `{public_url}/auth/callback`.
    pub public_url: String,
    /// Scopes asked for besides `openid` (default `profile` and `email`).
    pub scopes: Vec<String>,
    /// How long an answer of `checkApiByToken` (allowed, forbidden or login required) is reused
    /// for the same token, method and path (default 1 s; zero disables the cache). A role change
    /// or a logout is seen at the latest after this long.
    pub decision_ttl: Duration,
    /// How long the user info of a bearer token is reused (default 60 s; zero disables).
    pub userinfo_ttl: Duration,
    /// Timeout of every call to Gatehouse (default 5 s); a timeout answers 503, never "allowed".
    pub http_timeout: Duration,
    /// Path (under `public_url`) Gatehouse sends the browser back to after logout (default `/`).
    /// `{public_url}{post_logout_path}` must be registered as a post-logout redirect URI.
    pub post_logout_path: String,
}

impl GatehouseConfig {
    /// Settings with the defaults described on each field.
    pub fn new(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        public_url: impl Into<String>,
    ) -> Self {
        Self {
            issuer: issuer.into().trim_end_matches('/').to_owned(),
            client_id: client_id.into(),
            client_secret: None,
            public_url: public_url.into().trim_end_matches('/').to_owned(),
            scopes: vec!["profile".to_owned(), "email".to_owned()],
            decision_ttl: Duration::from_secs(1),
            userinfo_ttl: Duration::from_secs(60),
            http_timeout: Duration::from_secs(5),
            post_logout_path: "/".to_owned(),
        }
    }

    /// Sets the client secret (confidential application).
    pub fn with_client_secret(mut self, secret: impl Into<String>) -> Self {
        self.client_secret = Some(secret.into());
        self
    }

    /// Sets how long `checkApiByToken` answers are cached (zero disables the cache).
    pub fn with_decision_ttl(mut self, ttl: Duration) -> Self {
        self.decision_ttl = ttl;
        self
    }

    /// The redirect URI to register in Gatehouse: `{public_url}/auth/callback`.
    pub fn redirect_uri(&self) -> String {
        format!(
            "{}{}",
            self.public_url.trim_end_matches('/'),
            crate::CALLBACK_PATH
        )
    }

    /// The post-logout redirect URI to register in Gatehouse.
    pub fn post_logout_redirect_uri(&self) -> String {
        format!(
            "{}{}",
            self.public_url.trim_end_matches('/'),
            self.post_logout_path
        )
    }
}

impl std::fmt::Debug for GatehouseConfig {
    // The secret stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatehouseConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "…"))
            .field("public_url", &self.public_url)
            .field("scopes", &self.scopes)
            .field("decision_ttl", &self.decision_ttl)
            .field("userinfo_ttl", &self.userinfo_ttl)
            .field("http_timeout", &self.http_timeout)
            .field("post_logout_path", &self.post_logout_path)
            .finish()
    }
}
