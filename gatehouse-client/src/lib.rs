//! Gatehouse single sign-on for axum/tower sub-applications.
//!
//! - **Browser login** by redirect ([`Gatehouse::routes`]): OpenID Connect discovery, the
//!   authorization code flow with PKCE, `state` and `nonce`, a callback at
//!   [`CALLBACK_PATH`], the user kept in the tower-sessions session, and RP-initiated logout
//!   through Gatehouse's `end_session_endpoint`.
//! - **API guard** ([`GatehouseLayer`]): every request needs a token (bearer header or the
//!   login session) for which Gatehouse's `checkApiByToken` says yes for this method and path;
//!   otherwise 401, 403 or 503 (fail closed) are answered by the layer.
//! - **Current user** ([`GatehouseUser`]): an axum extractor.
//! - **Seed 001 hand-off** ([`signdata`]): verify and decrypt the `signdata`/`sign` pair of
//!   Gatehouse's unified login page.
//!
//! Features: `middleware` (default) brings the first three (axum, tower, openidconnect,
//! reqwest, tokio). [`signdata`] is always built and needs none of them, so
//! `default-features = false` gives a small crypto-only dependency (Gatehouse itself uses it
//! that way).
//!
#![cfg_attr(feature = "middleware", doc = "```no_run")]
#![cfg_attr(not(feature = "middleware"), doc = "```ignore")]
//! use axum::{Router, routing::get};
//! use gatehouse_client::{Gatehouse, GatehouseConfig, GatehouseUser};
//!
//! # async fn run(store: impl tower_sessions::SessionStore + Clone) -> Result<(), gatehouse_client::Error> {
//! let config = GatehouseConfig::new("https://sso.example.com", "my-client-id", "https://app.example.com")
//!     .with_client_secret("…");
//! let gh = Gatehouse::discover(config).await?;
//! let app: Router = Router::new()
//!     .route("/api/reports", get(|u: GatehouseUser| async move { format!("hello {}", u.display_name()) }))
//!     .route_layer(gh.layer()) // guards the routes above
//!     .merge(gh.routes()) // /login, /auth/callback, /logout
//!     .layer(tower_sessions::SessionManagerLayer::new(store));
//! # Ok(()) }
//! ```
//!
//! Not done locally: access tokens are not verified against the JWKS before asking Gatehouse;
//! `checkApiByToken` verifies them (signature, expiry, revocation) on every uncached call, which
//! a local check could only short-cut for rejected tokens. See the crate's README.md for the
//! exact answers of the layer.

#![warn(missing_docs)]

pub mod signdata;

#[cfg(feature = "middleware")]
mod cache;
#[cfg(feature = "middleware")]
mod check;
#[cfg(feature = "middleware")]
mod config;
#[cfg(feature = "middleware")]
mod error;
#[cfg(feature = "middleware")]
mod layer;
#[cfg(feature = "middleware")]
mod login;
#[cfg(feature = "middleware")]
mod user;

#[cfg(feature = "middleware")]
use std::sync::{Arc, Mutex, PoisonError, RwLock};
#[cfg(feature = "middleware")]
use std::time::{Duration, Instant};

#[cfg(feature = "middleware")]
use axum::Router;
#[cfg(feature = "middleware")]
use openidconnect::core::CoreClient;
#[cfg(feature = "middleware")]
use openidconnect::{
    ClientId, ClientSecret, EndSessionUrl, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    IssuerUrl, ProviderMetadataWithLogout, RedirectUrl,
};
#[cfg(feature = "middleware")]
use url::Url;

#[cfg(feature = "middleware")]
pub use check::Decision;
#[cfg(feature = "middleware")]
pub use config::GatehouseConfig;
#[cfg(feature = "middleware")]
pub use error::Error;
#[cfg(feature = "middleware")]
pub use layer::{GatehouseLayer, GatehouseService};
#[cfg(feature = "middleware")]
pub use user::GatehouseUser;

/// Path of the route that starts a login (`?return_to=/local/path` optional).
#[cfg(feature = "middleware")]
pub const LOGIN_PATH: &str = "/login";
/// Path of the OAuth callback; register `{public_url}/auth/callback` as the redirect URI.
#[cfg(feature = "middleware")]
pub const CALLBACK_PATH: &str = "/auth/callback";
/// Path of the logout route (POST only: with the session cookie's `SameSite=Lax`, another site
/// cannot make the browser log out).
#[cfg(feature = "middleware")]
pub const LOGOUT_PATH: &str = "/logout";

/// Upper bound of the decision and user-info caches.
#[cfg(feature = "middleware")]
const CACHE_MAX: usize = 10_000;

#[cfg(feature = "middleware")]
type OidcClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// A connection to Gatehouse for one sub-application: cheap to clone, shared by the routes,
/// the layer and the extractor.
#[cfg(feature = "middleware")]
#[derive(Clone)]
pub struct Gatehouse {
    inner: Arc<Inner>,
}

#[cfg(feature = "middleware")]
struct Inner {
    config: GatehouseConfig,
    http: reqwest::Client,
    /// What discovery said; replaced when an ID token does not verify (key rotation).
    provider: RwLock<Arc<Provider>>,
    /// When discovery last ran, to re-run it at most every [`REDISCOVER_AFTER`].
    discovered_at: Mutex<Instant>,
    check_url: Url,
    islogin_url: Url,
    decisions: cache::TtlCache<(String, String, String), Decision>,
    users: cache::TtlCache<String, GatehouseUser>,
    refreshed: cache::TtlCache<String, login::Refreshed>,
    refresh_lock: tokio::sync::Mutex<()>,
}

/// The parts of Gatehouse's discovery document the client uses (with the JWKS).
#[cfg(feature = "middleware")]
struct Provider {
    oidc: OidcClient,
    end_session: Option<EndSessionUrl>,
    userinfo_url: Url,
}

/// Shortest time between two discoveries.
#[cfg(feature = "middleware")]
const REDISCOVER_AFTER: Duration = Duration::from_secs(30);

#[cfg(feature = "middleware")]
impl Provider {
    async fn discover(config: &GatehouseConfig, http: &reqwest::Client) -> Result<Self, Error> {
        let issuer = IssuerUrl::new(config.issuer.clone())
            .map_err(|e| Error::Config(format!("issuer: {e}")))?;
        let metadata = ProviderMetadataWithLogout::discover_async(issuer, http)
            .await
            .map_err(|e| Error::Discovery(format!("{e}")))?;
        let end_session = metadata.additional_metadata().end_session_endpoint.clone();
        let userinfo_url = match metadata.userinfo_endpoint() {
            Some(u) => u.url().clone(),
            None => url(&format!("{}/oauth/userinfo", config.issuer))?,
        };
        let redirect = RedirectUrl::new(config.redirect_uri())
            .map_err(|e| Error::Config(format!("public_url: {e}")))?;
        let oidc = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(config.client_id.clone()),
            config.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(redirect);
        Ok(Self {
            oidc,
            end_session,
            userinfo_url,
        })
    }
}

#[cfg(feature = "middleware")]
impl std::fmt::Debug for Gatehouse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gatehouse")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "middleware")]
impl Gatehouse {
    /// Reads Gatehouse's discovery document (and its JWKS) and prepares the client. Fails when
    /// Gatehouse is unreachable or a URL in `config` is invalid.
    pub async fn discover(config: GatehouseConfig) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            // An OIDC client that follows redirects can be steered at internal hosts (SSRF).
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.http_timeout)
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
        let provider = Provider::discover(&config, &http).await?;
        let check_url = url(&format!("{}/api/auth/checkApiByToken", config.issuer))?;
        let islogin_url = url(&format!("{}/api/auth/islogin", config.issuer))?;
        Ok(Self {
            inner: Arc::new(Inner {
                decisions: cache::TtlCache::new(config.decision_ttl, CACHE_MAX),
                users: cache::TtlCache::new(config.userinfo_ttl, CACHE_MAX),
                refreshed: cache::TtlCache::new(Duration::from_secs(60), CACHE_MAX),
                refresh_lock: tokio::sync::Mutex::new(()),
                provider: RwLock::new(Arc::new(provider)),
                discovered_at: Mutex::new(Instant::now()),
                config,
                http,
                check_url,
                islogin_url,
            }),
        })
    }

    /// The routes of the browser login: [`LOGIN_PATH`], [`CALLBACK_PATH`] and [`LOGOUT_PATH`].
    /// They need tower-sessions' `SessionManagerLayer` around them.
    pub fn routes<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        login::routes().with_state(self.clone())
    }

    /// The layer that guards APIs with `checkApiByToken`.
    pub fn layer(&self) -> GatehouseLayer {
        GatehouseLayer::new(self.clone())
    }

    /// The issuer URL (without a trailing slash).
    pub fn issuer(&self) -> &str {
        &self.inner.config.issuer
    }

    /// The settings this client was made with.
    pub fn config(&self) -> &GatehouseConfig {
        &self.inner.config
    }

    fn provider(&self) -> Arc<Provider> {
        self.inner
            .provider
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Runs discovery again (new signing keys after a rotation at Gatehouse), at most every
    /// [`REDISCOVER_AFTER`]. Whether a new document was loaded.
    async fn rediscover(&self) -> bool {
        {
            let mut at = self
                .inner
                .discovered_at
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if at.elapsed() < REDISCOVER_AFTER {
                return false;
            }
            *at = Instant::now();
        }
        match Provider::discover(&self.inner.config, &self.inner.http).await {
            Ok(p) => {
                *self
                    .inner
                    .provider
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = Arc::new(p);
                tracing::info!("Gatehouse discovery document and keys reloaded");
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "reloading Gatehouse's discovery document failed");
                false
            }
        }
    }
}

#[cfg(feature = "middleware")]
fn url(s: &str) -> Result<Url, Error> {
    Url::parse(s).map_err(|e| Error::Config(format!("{s}: {e}")))
}
