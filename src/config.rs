//! Runtime configuration: defaults, then `gatehouse.toml` (or `--config FILE`), then `GATEHOUSE_*` env.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Everything an instance needs to start. Every field can be set in the TOML file under the same
/// name, or with the environment variable `GATEHOUSE_<NAME>` (upper case).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `GATEHOUSE_LISTEN`: socket address to bind; port 0 picks a free port.
    pub listen: SocketAddr,
    /// `GATEHOUSE_ISSUER`: the issuer URL. When unset, `http://<bound address>` (development only).
    /// Never derived from request headers (RFC 9700 §4.13, checklist P-16).
    pub issuer: Option<String>,
    /// `GATEHOUSE_DATABASE_URL`: `sqlite://path` (created when missing) or `postgres://…`.
    pub database_url: String,
    /// `GATEHOUSE_KEYS_DIR`: signing keys and the client-secret hashing key.
    pub keys_dir: PathBuf,
    /// `GATEHOUSE_KEY_PUBLISH_LEAD`: seconds between `gatehouse keys rotate` publishing a new
    /// signing key in the JWKS and the key signing (longer than the JWKS `max-age`, 300 s).
    pub key_publish_lead: i64,
    /// `GATEHOUSE_ACCESS_TOKEN_TTL`: seconds.
    pub access_token_ttl: i64,
    /// `GATEHOUSE_REFRESH_TOKEN_TTL`: seconds, absolute lifetime of a refresh-token family.
    pub refresh_token_ttl: i64,
    /// `GATEHOUSE_ID_TOKEN_TTL`: seconds.
    pub id_token_ttl: i64,
    /// `GATEHOUSE_CODE_TTL`: seconds an authorization code lives (1..=60).
    pub code_ttl: i64,
    /// `GATEHOUSE_SESSION_TTL`: seconds of inactivity after which the browser SSO session ends.
    pub session_ttl: i64,
    /// `GATEHOUSE_LOGIN_SESSION_TTL`: seconds a browser session lives while nobody is signed in
    /// (a login form, a pending authorization); at most `session_ttl`. Bounds what anonymous
    /// visits to the login page can pile up in the session store.
    pub login_session_ttl: i64,
    /// `GATEHOUSE_SESSION_MAX_AGE`: seconds after a sign-in when the browser SSO session ends
    /// however active it is (absolute timeout, S-05); signing in again starts a new period.
    pub session_max_age: i64,
    /// `GATEHOUSE_LEGACY_MD5_UNTIL`: retirement date (unix seconds) of seed 001's md5 `sign`
    /// (G-02). Applications flagged `legacy_md5_sign` get md5 only before it; unset or past, every
    /// application gets HMAC-SHA256.
    pub legacy_md5_until: Option<i64>,
    /// `GATEHOUSE_APP_TOKEN_TTL`: seconds an opaque sub-application token (seed 002 `token`,
    /// seed 001 `access_token`) lives; logout, revocation or disabling ends it sooner.
    pub app_token_ttl: i64,
    /// `GATEHOUSE_ADMIN_PASSWORD`: password of the bootstrap `admin` user, used only when the
    /// database has no user yet. When unset a random one is generated and printed once.
    pub admin_password: Option<String>,
    /// `GATEHOUSE_LOG`: tracing filter, e.g. `info` or `gatehouse=debug`.
    pub log: String,
    /// `GATEHOUSE_REDIS_URL`: `redis://[:password@]host[:port][/db]` keeps sessions, codes and
    /// revocations in Redis, shared by several instances. Unset or empty: in process.
    pub redis_url: Option<String>,
    /// `GATEHOUSE_REDIS_PREFIX`: prefix of every Redis key, so deployments (or tests) can share
    /// one Redis.
    pub redis_prefix: String,
    /// `GATEHOUSE_REDIS_TIMEOUT_MS`: bound of each Redis call, waiting for a connection included;
    /// beyond it the request fails with 503.
    pub redis_timeout_ms: u64,
    /// `GATEHOUSE_REDIS_CA_FILE`: PEM file of the CA that signed the Redis server's certificate
    /// (`rediss://` only); unset: the system's roots.
    pub redis_ca_file: Option<PathBuf>,
    /// `GATEHOUSE_DB_START_WAIT`: seconds a starting instance waits for an unreachable
    /// PostgreSQL (serving liveness, not ready) before giving up with exit code 1; 0: at once.
    pub db_start_wait: u64,
    /// `GATEHOUSE_DB_TIMEOUT_MS`: bound of each database call, waiting for a pool connection
    /// included; beyond it the request fails with 503.
    pub db_timeout_ms: u64,
    /// `GATEHOUSE_TRUSTED_PROXIES`: comma-separated addresses or CIDR blocks of the reverse
    /// proxies whose `X-Forwarded-For` is believed. Empty (the default): the header is ignored
    /// and the TCP peer is the client.
    pub trusted_proxies: String,
    /// `GATEHOUSE_LOGIN_WINDOW`: seconds of a login-throttling window (L-04); a lock ends with it.
    pub login_window: i64,
    /// `GATEHOUSE_LOGIN_LIMIT_PER_SOURCE`: password checks per account and client address per window.
    pub login_limit_per_source: u64,
    /// `GATEHOUSE_LOGIN_LIMIT_PER_ACCOUNT`: password checks per account from all addresses per window.
    pub login_limit_per_account: u64,
    /// `GATEHOUSE_LOGIN_LIMIT_PER_ADDRESS`: failed password checks per client address, over all
    /// accounts, per window.
    pub login_limit_per_address: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            issuer: None,
            database_url: "sqlite://data/gatehouse.db".into(),
            keys_dir: PathBuf::from("keys"),
            key_publish_lead: crate::keys::schedule::DEFAULT_PUBLISH_LEAD,
            access_token_ttl: 900,
            refresh_token_ttl: 30 * 24 * 3600,
            id_token_ttl: 3600,
            code_ttl: 60,
            session_ttl: 8 * 3600,
            login_session_ttl: 1800,
            session_max_age: 12 * 3600,
            app_token_ttl: 8 * 3600,
            legacy_md5_until: None,
            admin_password: None,
            log: "info".into(),
            redis_url: None,
            redis_prefix: "gatehouse:".into(),
            redis_timeout_ms: 2000,
            redis_ca_file: None,
            db_start_wait: 60,
            db_timeout_ms: 2000,
            trusted_proxies: String::new(),
            login_window: 900,
            login_limit_per_source: 10,
            login_limit_per_account: 25,
            login_limit_per_address: 200,
        }
    }
}

impl Config {
    /// Loads defaults, then the TOML file (the given one must exist; `gatehouse.toml` is optional),
    /// then the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) => {
                if !path.exists() {
                    bail!("config file {} does not exist", path.display());
                }
                figment = figment.merge(Toml::file(path));
            }
            None => figment = figment.merge(Toml::file("gatehouse.toml")),
        }
        let config: Config = figment
            .merge(Env::prefixed("GATEHOUSE_").ignore(&["TEST_DATABASE_URL", "TEST_REDIS_URL"]))
            .extract()
            .context("while reading the configuration")?;
        config.validate()?;
        Ok(config)
    }

    /// Rejects values that would make the server insecure or broken.
    pub fn validate(&self) -> anyhow::Result<()> {
        if let Some(issuer) = &self.issuer {
            validate_issuer(issuer)?;
        }
        for (name, value) in [
            ("access_token_ttl", self.access_token_ttl),
            ("refresh_token_ttl", self.refresh_token_ttl),
            ("id_token_ttl", self.id_token_ttl),
            ("session_ttl", self.session_ttl),
            ("login_session_ttl", self.login_session_ttl),
            ("session_max_age", self.session_max_age),
            ("app_token_ttl", self.app_token_ttl),
            ("login_window", self.login_window),
        ] {
            if value <= 0 {
                bail!("{name} must be a positive number of seconds");
            }
        }
        if !(1..=60).contains(&self.code_ttl) {
            bail!(
                "code_ttl must be between 1 and 60 seconds (RFC 9700 recommends short-lived codes)"
            );
        }
        if !(0..=30 * 24 * 3600).contains(&self.key_publish_lead) {
            bail!("key_publish_lead must be between 0 and 2592000 seconds");
        }
        for (name, value) in [
            ("login_limit_per_source", self.login_limit_per_source),
            ("login_limit_per_account", self.login_limit_per_account),
            ("login_limit_per_address", self.login_limit_per_address),
        ] {
            if value == 0 {
                bail!("{name} must be at least 1");
            }
        }
        crate::http::client_ip::TrustedProxies::parse(&self.trusted_proxies)
            .context("trusted_proxies")?;
        if !(1..=60_000).contains(&self.redis_timeout_ms) {
            bail!("redis_timeout_ms must be between 1 and 60000 milliseconds");
        }
        if !(1..=60_000).contains(&self.db_timeout_ms) {
            bail!("db_timeout_ms must be between 1 and 60000 milliseconds");
        }
        if let Some(url) = self.redis_url.as_deref().filter(|u| !u.trim().is_empty())
            && !(url.starts_with("redis://")
                || url.starts_with("rediss://")
                || url.starts_with("redis+unix://"))
        {
            bail!("redis_url must start with redis://, rediss:// (TLS) or redis+unix://");
        }
        Ok(())
    }

    /// The login-throttling limits.
    pub fn login_policy(&self) -> crate::accounts::throttle::Policy {
        crate::accounts::throttle::Policy {
            window: self.login_window,
            per_source: self.login_limit_per_source,
            per_account: self.login_limit_per_account,
            per_address: self.login_limit_per_address,
        }
    }

    /// The issuer: the configured one, else `http://<bound address>`.
    pub fn issuer_for(&self, bound: SocketAddr) -> String {
        match &self.issuer {
            Some(issuer) => issuer.trim_end_matches('/').to_owned(),
            None => format!("http://{bound}"),
        }
    }
}

/// OIDC Discovery §3: https, no query or fragment; plain http only for loopback development.
fn validate_issuer(issuer: &str) -> anyhow::Result<()> {
    let url = url::Url::parse(issuer).with_context(|| format!("issuer {issuer:?} is not a URL"))?;
    if url.query().is_some() || url.fragment().is_some() {
        bail!("issuer must not have a query or fragment");
    }
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => bail!("issuer must be an https URL (http is allowed only on loopback)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_rules() {
        assert!(validate_issuer("https://sso.example.com").is_ok());
        assert!(validate_issuer("http://127.0.0.1:8080").is_ok());
        assert!(validate_issuer("http://sso.example.com").is_err());
        assert!(validate_issuer("https://sso.example.com/?x=1").is_err());
        assert!(validate_issuer("not a url").is_err());
    }

    #[test]
    fn defaults_are_valid() {
        assert!(Config::default().validate().is_ok());
    }
}
