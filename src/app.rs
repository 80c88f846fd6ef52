//! Wiring: build the state from the configuration, the router, and serve with graceful shutdown.
//! This is the only file that knows how the parts fit together.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::accounts::password::{self, Passwords};
use crate::config::Config;
use crate::ephemeral::{
    CacheEvent, CacheEvents, Ephemeral, Invalidation, MemoryEphemeral, RedisEphemeral,
    SessionBackend,
};
use crate::keys::{KeySet, KeyWatcher};
use crate::oauth::Provider;
use crate::oauth::provider::{self, Lifetimes};
use crate::state::{AppState, Inner};
use crate::store::tenants::DEFAULT_TENANT;
use crate::store::{self, Db};
use crate::templates::Templates;
use crate::{clock, crypto, http};

/// Connects and migrates the database named by the configuration.
pub async fn open_database(config: &Config) -> anyhow::Result<Db> {
    let timeout = Duration::from_millis(config.db_timeout_ms);
    let db = Db::connect_with(&config.database_url, timeout).await?;
    db.migrate().await?;
    Ok(db)
}

/// Starts the server: listener first (liveness at once, R-10), then database, keys, bootstrap
/// admin and state; returns when shut down.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    crate::jwt::ring_provider::install();
    // TLS (rediss://, PostgreSQL sslmode) on ring, whatever other crates' features enable;
    // an error only means a provider is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    return_large_allocations_to_the_os();
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let bound = listener.local_addr()?;
    let switch = http::starting::Switch::new();
    let server = axum::serve(
        listener,
        switch
            .router()
            .into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal());
    let mut server = tokio::spawn(std::future::IntoFuture::into_future(server));
    tracing::info!(%bound, "accepting connections; starting");
    let db = tokio::select! {
        started = start(config, bound, &switch) => started?,
        // SIGTERM while still starting.
        done = &mut server => return Ok(done.context("the server task failed")??),
    };
    server.await.context("the server task failed")??;
    db.close().await;
    Ok(())
}

/// Everything between a bound listener and a ready instance; opens the switch at the end.
async fn start(
    config: Config,
    bound: std::net::SocketAddr,
    switch: &http::starting::Switch,
) -> anyhow::Result<Db> {
    let db = open_database_patiently(&config).await?;
    let retention = provider::key_retention(&db, &Lifetimes::from_config(&config)).await?;
    let (key_watcher, keys) = KeyWatcher::open(&config.keys_dir, retention, clock::now())
        .context("while loading signing keys")?;
    bootstrap_admin(&db, &config).await?;
    let issuer = config.issuer_for(bound);

    let store = EphemeralStore::open(&config)?;
    let events = cache_events(&config)?;
    let (state, sessions) = build_state(config, issuer.clone(), db.clone(), keys, store.shared())?;
    if let Some(events) = events {
        spawn_cache_events(&state, events);
    }
    match &store {
        EphemeralStore::Memory(_) => {
            let warmed = state.provider.warm_revocations(clock::now()).await?;
            tracing::info!(revocations = warmed, "revocations loaded");
        }
        EphemeralStore::Redis(redis) => {
            // Redis down at start is not fatal: requests answer 503 until it is back.
            if let Err(e) = warm_redis(&state, redis).await {
                tracing::warn!(error = %e, "revocations not loaded into Redis yet; retrying");
            }
            spawn_redis_rewarm(state.clone(), redis.clone());
        }
    }
    spawn_housekeeping(state.clone(), store.memory());
    spawn_key_watch(state.clone(), key_watcher);

    switch.open(http::routes(state, sessions));
    println!("listening on http://{bound}");
    tracing::info!(%issuer, "gatehouse ready");
    Ok(db)
}

/// A PostgreSQL server that is not up yet (started together with us, restarting) is waited
/// for, with backoff, up to `db_start_wait`, while `/readyz` says "starting"; SQLite problems
/// are configuration problems and stop the start at once.
async fn open_database_patiently(config: &Config) -> anyhow::Result<Db> {
    let patient = !config.database_url.starts_with("sqlite:");
    let give_up = tokio::time::Instant::now() + Duration::from_secs(config.db_start_wait);
    let mut backoff = Duration::from_millis(200);
    loop {
        match open_database(config).await {
            Ok(db) => return Ok(db),
            Err(e) if patient && tokio::time::Instant::now() < give_up => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "database not reachable yet; retrying"
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Builds the shared state and the session layer.
pub fn build_state(
    config: Config,
    issuer: String,
    db: Db,
    keys: KeySet,
    ephemeral: Arc<dyn Ephemeral>,
) -> anyhow::Result<(AppState, SessionManagerLayer<SessionBackend>)> {
    let secure_cookies = issuer.starts_with("https://");
    let lifetimes = Lifetimes::from_config(&config);
    // Anonymous sessions (login form, pending authorization) live at most login_session_ttl.
    let anonymous_ttl = config.login_session_ttl.min(lifetimes.session);
    let backend = SessionBackend::new(ephemeral.clone())
        .anonymous_life(anonymous_ttl, |r| !r.data.contains_key(http::session::USER));
    let sessions = SessionManagerLayer::new(backend)
        // S-01: __Host- prefix pins the cookie to our origin; it requires Secure.
        .with_name(if secure_cookies {
            "__Host-gatehouse_session"
        } else {
            "gatehouse_session"
        })
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(secure_cookies)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(time::Duration::seconds(
            lifetimes.session,
        )));
    let discovery = serde_json::to_vec(&http::discovery_document(&issuer))?;
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let inner = Inner {
        provider: Provider::new(issuer, db, keys, ephemeral, lifetimes),
        passwords: Passwords::new(workers).map_err(|e| anyhow::anyhow!(e))?,
        templates: Templates::load()?,
        discovery,
        checker: Default::default(),
        secure_cookies,
        trusted_proxies: http::client_ip::TrustedProxies::parse(&config.trusted_proxies)?,
        login_throttle: crate::accounts::throttle::LoginThrottle::new(config.login_policy()),
        config,
    };
    Ok((AppState(Arc::new(inner)), sessions))
}

/// Creates the `admin` user when there is no administrator; never a default password (L-15).
async fn bootstrap_admin(db: &Db, config: &Config) -> anyhow::Result<()> {
    if store::users::count_admins(db).await? > 0 {
        return Ok(());
    }
    let (password, generated) = match &config.admin_password {
        Some(p) if !p.is_empty() => (p.clone(), false),
        _ => (crypto::random_token()[..24].to_owned(), true),
    };
    let hash = password::hash_now(&password).map_err(|e| anyhow::anyhow!(e))?;
    // The built-in super administrator: can be neither deleted nor disabled.
    let new = store::users::NewAccount {
        tenant_id: DEFAULT_TENANT.into(),
        username: "admin".into(),
        password_hash: Some(hash),
        user_type: "ADMIN".into(),
        profile: store::users::Profile {
            name: Some("Administrator".into()),
            ..Default::default()
        },
        attrs: Default::default(),
        sys_attrs: Default::default(),
        trial_end_at: None,
        register_source: "bootstrap".into(),
        must_change_password: false,
        builtin: true,
    };
    store::users::insert_account(db, &new, clock::now()).await?;
    if generated {
        println!(
            "created the bootstrap administrator: username `admin`, password `{password}` (shown once; change it)"
        );
    } else {
        tracing::info!("created the bootstrap administrator `admin` from GATEHOUSE_ADMIN_PASSWORD");
    }
    Ok(())
}

/// Where sessions, codes and revocations live: in process, or in Redis when `redis_url` is set.
enum EphemeralStore {
    Memory(Arc<MemoryEphemeral>),
    Redis(Arc<RedisEphemeral>),
}

impl EphemeralStore {
    fn open(config: &Config) -> anyhow::Result<Self> {
        match config.redis_url.as_deref().filter(|u| !u.trim().is_empty()) {
            None => Ok(Self::Memory(Arc::new(MemoryEphemeral::new()))),
            Some(url) => {
                let timeout = Duration::from_millis(config.redis_timeout_ms);
                let redis =
                    RedisEphemeral::new(redis_target(config, url)?, &config.redis_prefix, timeout)?;
                tracing::info!(prefix = %config.redis_prefix, "ephemeral state in Redis");
                Ok(Self::Redis(Arc::new(redis)))
            }
        }
    }

    fn shared(&self) -> Arc<dyn Ephemeral> {
        match self {
            Self::Memory(m) => m.clone(),
            Self::Redis(r) => r.clone(),
        }
    }

    /// The in-process store, which needs purging (Redis expires keys itself).
    fn memory(&self) -> Option<Arc<MemoryEphemeral>> {
        match self {
            Self::Memory(m) => Some(m.clone()),
            Self::Redis(_) => None,
        }
    }
}

/// With Redis, the channel on which instances tell each other that their caches are stale.
fn cache_events(config: &Config) -> anyhow::Result<Option<CacheEvents>> {
    match config.redis_url.as_deref().filter(|u| !u.trim().is_empty()) {
        None => Ok(None),
        Some(url) => {
            let timeout = Duration::from_millis(config.redis_timeout_ms);
            CacheEvents::new(redis_target(config, url)?, &config.redis_prefix, timeout).map(Some)
        }
    }
}

/// The configured Redis, with the CA of `redis_ca_file` when set (read once per call: at start).
fn redis_target(config: &Config, url: &str) -> anyhow::Result<redis::ConnectionInfo> {
    let ca = match &config.redis_ca_file {
        Some(path) => Some(
            std::fs::read(path)
                .with_context(|| format!("cannot read redis_ca_file {}", path.display()))?,
        ),
        None => None,
    };
    crate::ephemeral::redis_target(url, ca)
}

/// Applies the other instances' cache events here, and announces this one's to them.
fn spawn_cache_events(state: &AppState, events: CacheEvents) {
    let target = state.clone();
    let tx = events.spawn(move |invalidation| match invalidation {
        Invalidation::Event(CacheEvent::Directory) => target.checker.stale(),
        Invalidation::Event(CacheEvent::Client(id)) => target.provider.forget_cached_client(&id),
        Invalidation::Everything => {
            target.checker.stale();
            target.provider.forget_all_clients();
            target.provider.events.set_subscribed(true);
        }
        Invalidation::Lost => target.provider.events.set_subscribed(false),
    });
    state.checker.events.connect(tx.clone());
    state.provider.events.connect(tx);
}

/// Copies the durable revocations into Redis and marks them loaded (unless Redis lost its data
/// or another instance started the same copy meanwhile: then the next round does it).
async fn warm_redis(state: &AppState, redis: &RedisEphemeral) -> anyhow::Result<()> {
    let nonce = redis.begin_warm().await?;
    let warmed = state.provider.warm_revocations(clock::now()).await?;
    let marked = redis.finish_warm(&nonce).await?;
    tracing::info!(
        revocations = warmed,
        marked,
        "revocations loaded into Redis"
    );
    Ok(())
}

/// Redis without persistence comes back empty: reload the revocations as soon as the marker is
/// gone (until then revocation checks fail closed).
fn spawn_redis_rewarm(state: AppState, redis: Arc<RedisEphemeral>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut healthy = true;
        loop {
            tick.tick().await;
            let result = match redis.revocations_loaded().await {
                Ok(true) => Ok(()),
                Ok(false) => warm_redis(&state, &redis).await,
                Err(e) => Err(e.into()),
            };
            match result {
                Ok(()) if !healthy => {
                    tracing::info!("Redis is back");
                    healthy = true;
                }
                Err(e) if healthy => {
                    tracing::warn!(error = %e, "Redis unavailable; requests that need it answer 503");
                    healthy = false;
                }
                _ => {}
            }
        }
    });
}

/// How often the keys directory is rescanned: a rotation is seen within a second.
const KEY_RESCAN: Duration = Duration::from_millis(500);
/// How often the longest per-application ID token lifetime (key retention) is read again.
const KEY_RETENTION_REFRESH: Duration = Duration::from_secs(60);

/// Follows the keys directory shared by every instance: keys written by `gatehouse keys rotate`
/// (on any host), keys whose signs-from time came, keys retired or deleted. The scan runs on
/// the blocking pool: a slow shared volume must not stall request handling.
fn spawn_key_watch(state: AppState, watcher: KeyWatcher) {
    tokio::spawn(async move {
        let mut watcher = Some(watcher);
        let mut tick = tokio::time::interval(KEY_RESCAN);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut retention_read = tokio::time::Instant::now();
        loop {
            tick.tick().await;
            let Some(mut w) = watcher.take() else { return };
            if retention_read.elapsed() >= KEY_RETENTION_REFRESH {
                retention_read = tokio::time::Instant::now();
                match provider::key_retention(&state.provider.db, &state.provider.lifetimes).await {
                    Ok(r) if r != w.retention() => {
                        tracing::info!(seconds = r, "signing key retention changed");
                        w.set_retention(r);
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "key retention not refreshed"),
                }
            }
            let now = clock::now();
            let polled = tokio::task::spawn_blocking(move || {
                let set = w.poll(now);
                (w, set)
            })
            .await;
            match polled {
                Ok((w, set)) => {
                    if let Some(set) = set {
                        state.provider.install_keys(set);
                    }
                    watcher = Some(w);
                }
                Err(e) => {
                    tracing::error!(error = %e, "key watcher failed; keys are no longer followed");
                    return;
                }
            }
        }
    });
}

/// Drops expired state every minute.
fn spawn_housekeeping(state: AppState, memory: Option<Arc<MemoryEphemeral>>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            let now = clock::now();
            if let Some(memory) = &memory {
                memory.purge(now);
            }
            state.provider.purge_caches(now);
            state.checker.purge(now);
            if let Err(e) = store::revocations::purge_expired(&state.provider.db, now).await {
                tracing::warn!(error = %e, "could not purge expired revocations");
            }
        }
    });
}

/// Argon2id allocates 19 MiB per hash. glibc raises its mmap threshold after such a block is
/// freed and then keeps later ones in the heap, so a few logins would pin ~20 MiB per thread.
/// A fixed threshold keeps large blocks mmapped: returned to the OS as soon as they are freed.
fn return_large_allocations_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const M_MMAP_THRESHOLD: i32 = -3;
        unsafe extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        // SAFETY: mallopt only changes allocator tuning; called once at start before the
        // worker threads allocate, with a documented parameter and a positive value.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM; in-flight requests then finish.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
