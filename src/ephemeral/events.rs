//! Cache invalidation across instances, over Redis pub/sub.
//!
//! Each process caches compiled permission decisions (`Checker`, generation counter) and client
//! registrations (`Provider`). A change made through one instance is announced on the channel
//! `<prefix>events` as `directory` or `client:<id>`; every instance (the sender included:
//! applying a change twice is harmless) subscribes and drops the matching cache entries, so the
//! others see the change within one Redis round trip.
//!
//! Bounds: publishing is best effort. A failed publish is logged and never fails the write that
//! caused it, and events sent while an instance is not subscribed are lost; on every
//! (re)subscription the instance therefore drops all its cached decisions and clients. Between a
//! lost event and the next resubscription, the caches' own refresh (`SUBJECT_REFRESH_SECS` and
//! the client cache, 5 s each) bounds staleness. Without Redis nothing is announced and the
//! in-process invalidation alone applies.

use std::sync::OnceLock;
use std::time::Duration;

use deadpool_redis::redis::aio::MultiplexedConnection;
use deadpool_redis::redis::{
    self, AsyncConnectionConfig, Client, IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind,
};
use tokio::sync::mpsc;

/// Events waiting to be published; beyond this they are dropped (and logged).
const QUEUE: usize = 1024;
/// First and longest wait before reconnecting the subscription.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How often the subscription is probed, so a dead connection is noticed.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// A change that makes other instances' caches stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheEvent {
    /// A directory write: every compiled permission decision is stale.
    Directory,
    /// A client registration changed (secret, redirect URIs, enabled flag, deletion).
    Client(String),
}

impl CacheEvent {
    fn encode(&self) -> String {
        match self {
            CacheEvent::Directory => "directory".to_owned(),
            CacheEvent::Client(id) => format!("client:{id}"),
        }
    }

    fn decode(message: &str) -> Option<Self> {
        match message.split_once(':') {
            None if message == "directory" => Some(CacheEvent::Directory),
            Some(("client", id)) if !id.is_empty() => Some(CacheEvent::Client(id.to_owned())),
            _ => None,
        }
    }
}

/// What the subscriber asks the caches to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    /// Another instance (or this one) announced a change.
    Event(CacheEvent),
    /// The subscription was (re)established: events may have been missed, drop everything.
    Everything,
    /// The subscription was lost; until [`Invalidation::Everything`] only the periodic refresh
    /// bounds staleness.
    Lost,
}

/// Announces local changes to the other instances; silent until [`Broadcaster::connect`] is
/// called (no Redis: nothing to tell).
#[derive(Debug, Default)]
pub struct Broadcaster {
    tx: OnceLock<mpsc::Sender<CacheEvent>>,
    /// Whether this process currently hears the other instances (for `/readyz`).
    subscribed: std::sync::atomic::AtomicBool,
}

impl Broadcaster {
    /// Sends future announcements to the publisher task.
    pub fn connect(&self, tx: mpsc::Sender<CacheEvent>) {
        let _ = self.tx.set(tx);
    }

    /// Records whether the subscription is up.
    pub fn set_subscribed(&self, up: bool) {
        self.subscribed
            .store(up, std::sync::atomic::Ordering::Relaxed);
    }

    /// `None` without Redis; else whether changes made by other instances are being heard.
    pub fn subscribed(&self) -> Option<bool> {
        self.tx.get()?;
        Some(self.subscribed.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Queues `event` for publishing; never blocks nor fails (the caller's write stands).
    pub fn announce(&self, event: CacheEvent) {
        let Some(tx) = self.tx.get() else { return };
        if let Err(e) = tx.try_send(event) {
            tracing::warn!(error = %e, "cache event not published; other instances refresh within 5 s");
        }
    }
}

/// The publish/subscribe pair of one process.
pub struct CacheEvents {
    client: Client,
    channel: String,
    timeout: Duration,
}

impl CacheEvents {
    /// Channel `<prefix>events` on the Redis at `target` (see [`super::redis::target`]);
    /// connects lazily.
    pub fn new(
        target: impl IntoConnectionInfo,
        prefix: &str,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let info = target
            .into_connection_info()
            .map_err(|e| anyhow::anyhow!("redis_url is not a usable Redis URL: {e}"))?;
        // RESP3: pushed messages arrive on an ordinary connection, through a tokio channel.
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = Client::open(info.set_redis_settings(settings))
            .map_err(|e| anyhow::anyhow!("redis_url is not a usable Redis URL: {e}"))?;
        Ok(Self {
            client,
            channel: format!("{prefix}events"),
            timeout,
        })
    }

    /// Starts the publisher and the subscriber; returns the sender to give the broadcasters.
    /// `apply` runs for every event received and on every (re)subscription.
    pub fn spawn(
        self,
        apply: impl Fn(Invalidation) + Send + Sync + 'static,
    ) -> mpsc::Sender<CacheEvent> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let publisher = Link {
            client: self.client.clone(),
            channel: self.channel.clone(),
            timeout: self.timeout,
        };
        tokio::spawn(publisher.publish_loop(rx));
        let subscriber = Link {
            client: self.client,
            channel: self.channel,
            timeout: self.timeout,
        };
        tokio::spawn(subscriber.subscribe_loop(apply));
        tx
    }
}

/// One dedicated connection (not from the pool: a subscription holds its connection).
struct Link {
    client: Client,
    channel: String,
    timeout: Duration,
}

impl Link {
    async fn connect(
        &self,
        config: AsyncConnectionConfig,
    ) -> Result<MultiplexedConnection, String> {
        let config = config
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        match tokio::time::timeout(
            self.timeout,
            self.client
                .get_multiplexed_async_connection_with_config(&config),
        )
        .await
        {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("connect timed out".into()),
        }
    }

    async fn publish_loop(self, mut rx: mpsc::Receiver<CacheEvent>) {
        let mut conn: Option<MultiplexedConnection> = None;
        while let Some(event) = rx.recv().await {
            let result = match &mut conn {
                Some(c) => self.publish(c, &event).await,
                None => match self.connect(AsyncConnectionConfig::new()).await {
                    Ok(c) => self.publish(conn.insert(c), &event).await,
                    Err(e) => Err(e),
                },
            };
            if let Err(e) = result {
                // The admin write already succeeded; the others' 5 s refresh is the backstop.
                tracing::warn!(error = %e, event = %event.encode(), "cache event not published");
                conn = None;
            }
        }
    }

    async fn publish(
        &self,
        conn: &mut MultiplexedConnection,
        event: &CacheEvent,
    ) -> Result<(), String> {
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(&self.channel).arg(event.encode());
        match tokio::time::timeout(self.timeout, cmd.query_async::<i64>(conn)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("publish timed out".into()),
        }
    }

    async fn subscribe_loop(self, apply: impl Fn(Invalidation) + Send + Sync + 'static) {
        let mut backoff = BACKOFF_MIN;
        let mut healthy = true;
        loop {
            let e = self.listen(&apply, &mut backoff, &mut healthy).await;
            apply(Invalidation::Lost);
            if healthy {
                tracing::warn!(error = %e, "cache events subscription lost; reconnecting");
                healthy = false;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// Subscribes and applies events until the connection fails; returns why.
    async fn listen(
        &self,
        apply: &(impl Fn(Invalidation) + Send + Sync),
        backoff: &mut Duration,
        healthy: &mut bool,
    ) -> String {
        let (tx, mut rx) = mpsc::unbounded_channel::<PushInfo>();
        let mut conn = match self
            .connect(AsyncConnectionConfig::new().set_push_sender(tx))
            .await
        {
            Ok(c) => c,
            Err(e) => return e,
        };
        match tokio::time::timeout(self.timeout, conn.subscribe(&self.channel)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return e.to_string(),
            Err(_) => return "subscribe timed out".into(),
        }
        // Whatever was announced while we were not listening is unknown: start afresh.
        apply(Invalidation::Everything);
        *backoff = BACKOFF_MIN;
        if !*healthy {
            tracing::info!("cache events subscription restored");
            *healthy = true;
        }
        let mut probe = tokio::time::interval(PROBE_EVERY);
        loop {
            tokio::select! {
                push = rx.recv() => match push {
                    None => return "push channel closed".into(),
                    Some(p) if p.kind == PushKind::Disconnection => return "disconnected".into(),
                    Some(p) if p.kind == PushKind::Message => {
                        let payload = p.data.get(1).and_then(|v| {
                            redis::from_redis_value_ref::<String>(v).ok()
                        });
                        match payload.as_deref().and_then(CacheEvent::decode) {
                            Some(event) => apply(Invalidation::Event(event)),
                            None => tracing::warn!(?payload, "unknown cache event ignored"),
                        }
                    }
                    Some(_) => {}
                },
                _ = probe.tick() => {
                    let ping = redis::cmd("PING");
                    match tokio::time::timeout(self.timeout, ping.query_async::<String>(&mut conn)).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => return e.to_string(),
                        Err(_) => return "ping timed out".into(),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_and_garbage_is_ignored() {
        for e in [CacheEvent::Directory, CacheEvent::Client("app:1".into())] {
            assert_eq!(CacheEvent::decode(&e.encode()), Some(e));
        }
        for bad in ["", "client:", "directory:x", "other", "client"] {
            assert_eq!(CacheEvent::decode(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn a_broadcaster_without_redis_is_silent_and_a_full_queue_does_not_block() {
        Broadcaster::default().announce(CacheEvent::Directory);
        let b = Broadcaster::default();
        let (tx, mut rx) = mpsc::channel(1);
        b.connect(tx);
        b.announce(CacheEvent::Directory);
        b.announce(CacheEvent::Client("x".into()));
        assert_eq!(rx.recv().await, Some(CacheEvent::Directory));
        assert!(rx.try_recv().is_err());
    }
}
