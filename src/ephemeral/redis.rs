//! Redis implementation of [`Ephemeral`], shared by every instance of a scaled-out deployment.
//!
//! Keys, all under the configured prefix:
//! - `sess:<id>`: the session body, expiring with the session.
//! - `code:<hash>`: a hash `{rec: <CodeRecord JSON>, grant: <grant id>}`. The first take removes
//!   `rec` inside a Lua script, so exactly one caller sees it; `grant` stays as the tombstone that
//!   turns a replay into [`CodeTake::Replayed`] until `expires_at` + 10 minutes.
//! - `rev:<grant|sid|jti>:<value>`: a revocation, expiring at its `until`.
//! - `cnt:<name>`: a login-throttling counter, expiring at the end of its fixed window.
//! - `meta:revocations-loaded`: set once the durable revocations were copied in. Redis without
//!   persistence comes back empty after a restart; without this marker revoked tokens would then
//!   pass, so `is_revoked` fails closed until the revocations are loaded again.
//!
//! Every call (pool wait, connect, command) runs under one timeout; a Redis error or timeout is
//! an [`EphemeralError`], which callers answer with 503.
//!
//! Connections: deadpool checks a connection with a round trip (UNWATCH + PING) every time it
//! is handed out, which cost a third of the round trips of a signed-in authorization. Redis
//! connections are multiplexed (any number of concurrent commands share one socket), so a few
//! of them are taken out of the pool once and shared by every request ([`LANES`], chosen round
//! robin); a lane whose command fails or times out is dropped and refilled from the pool, which
//! connects (with its timeout) when Redis is back.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::redis::aio::MultiplexedConnection;
use deadpool_redis::redis::{
    self, AsyncConnectionConfig, Client, Cmd, ConnectionInfo, FromRedisValue, IntoConnectionInfo,
    Pipeline, TlsCertificates,
};
use deadpool_redis::{Connection, Manager, Pool, Runtime, Timeouts};

use super::{
    CodeRecord, CodeTake, Count, Ephemeral, EphemeralError, EphemeralResult, RevocationKind,
};
use crate::clock;
use crate::crypto::random_token;

/// How long a consumed code is remembered, so a late replay still revokes its grant (as in memory).
const CODE_TOMBSTONE_SECS: i64 = 600;

const LOADED: &str = "meta:revocations-loaded";
const WARMING: &str = "meta:revocations-warming";

/// Takes a code: `{1, record}` the first time, `{2, grant}` afterwards, `{0, ''}` when unknown.
/// HDEL keeps the key's expiry, so the tombstone lives as long as the code would have.
const TAKE_SCRIPT: &str = r"
local rec = redis.call('HGET', KEYS[1], 'rec')
if rec then
  redis.call('HDEL', KEYS[1], 'rec')
  return {1, rec}
end
local grant = redis.call('HGET', KEYS[1], 'grant')
if grant then return {2, grant} end
return {0, ''}
";

/// Records a revocation, never shortening one that lasts longer.
const REVOKE_SCRIPT: &str = r"
local left = redis.call('TTL', KEYS[1])
if left == -1 or left >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
return 1
";

/// Hits counters: `{value1, ttl1, value2, ttl2, …}`. The expiry is set when a counter is
/// created (a fixed window), and repaired should a counter ever be found without one.
const HIT_SCRIPT: &str = r"
local out = {}
for _, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  local ttl = redis.call('TTL', key)
  if n == 1 or ttl < 0 then
    redis.call('EXPIRE', key, ARGV[1])
    ttl = tonumber(ARGV[1])
  end
  out[#out + 1] = n
  out[#out + 1] = ttl
end
return out
";

/// Takes one back from counters that still exist and are above zero.
const RELEASE_SCRIPT: &str = r"
for _, key in ipairs(KEYS) do
  local n = tonumber(redis.call('GET', key) or '0')
  if n > 0 then redis.call('DECR', key) end
end
return 0
";

/// Sets the loaded marker only if no other warm-up started since, and Redis was not emptied
/// in between (the warming nonce would be gone).
const FINISH_WARM_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], '1')
return 1
";

/// Shared multiplexed connections (see the module documentation).
const LANES: usize = 4;

/// The shared connections; `None` until first used or after a failure.
#[derive(Default)]
struct Lanes {
    slots: [Mutex<Option<MultiplexedConnection>>; LANES],
    next: AtomicUsize,
}

/// Sessions, codes and revocations in Redis through a deadpool connection pool.
#[derive(Clone)]
pub struct RedisEphemeral {
    pool: Pool,
    lanes: Arc<Lanes>,
    prefix: String,
    timeout: Duration,
}

impl std::fmt::Debug for RedisEphemeral {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: never print it.
        f.debug_struct("RedisEphemeral")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Where Redis is: `redis://[:password@]host[:port][/db]`, or `rediss://…` for TLS (rustls),
/// verified against the system's roots or, given `ca_pem`, against that CA only.
pub fn target(url: &str, ca_pem: Option<Vec<u8>>) -> anyhow::Result<ConnectionInfo> {
    let unusable =
        |e: redis::RedisError| anyhow::anyhow!("redis_url is not a usable Redis URL: {e}");
    match ca_pem {
        None => url.into_connection_info().map_err(unusable),
        Some(pem) => {
            if !url.starts_with("rediss://") {
                anyhow::bail!("redis_ca_file needs a rediss:// (TLS) redis_url");
            }
            let certs = TlsCertificates {
                client_tls: None,
                root_cert: Some(pem),
            };
            let client = Client::build_with_tls(url, certs).map_err(unusable)?;
            Ok(client.get_connection_info().clone())
        }
    }
}

impl RedisEphemeral {
    /// A pool for `target` (see [`target`]); connects lazily, so Redis may be down at this
    /// point. Every call is bounded by `timeout`.
    pub fn new(
        target: impl IntoConnectionInfo,
        prefix: &str,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let connection = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout));
        let manager = Manager::new_with_config(target, connection)
            .map_err(|e| anyhow::anyhow!("redis_url is not a usable Redis URL: {e}"))?;
        let pool = Pool::builder(manager)
            .runtime(Runtime::Tokio1)
            .timeouts(Timeouts {
                wait: Some(timeout),
                create: Some(timeout),
                recycle: Some(timeout),
            })
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the Redis pool: {e}"))?;
        Ok(Self {
            pool,
            lanes: Arc::default(),
            prefix: prefix.to_owned(),
            timeout,
        })
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }

    fn meta(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn revocation_key(&self, kind: RevocationKind, value: &str) -> String {
        format!("{}rev:{}:{value}", self.prefix, kind.as_str())
    }

    /// The connection of `lane`, from the pool when the lane is empty.
    async fn lane(&self, lane: usize) -> Result<MultiplexedConnection, String> {
        let slot = &self.lanes.slots[lane];
        if let Some(conn) = slot.lock().unwrap_or_else(PoisonError::into_inner).clone() {
            return Ok(conn);
        }
        let conn = Connection::take(self.pool.get().await.map_err(|e| e.to_string())?);
        *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(conn.clone());
        Ok(conn)
    }

    /// Runs `op` on a shared connection under the call timeout, mapping failures to
    /// [`EphemeralError`]; a failed or silent connection leaves its lane.
    async fn run<T, F, Fut>(&self, op: F) -> EphemeralResult<T>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: Future<Output = Result<T, String>>,
    {
        let lane = self.lanes.next.fetch_add(1, Ordering::Relaxed) % LANES;
        let result =
            tokio::time::timeout(self.timeout, async { op(self.lane(lane).await?).await }).await;
        let error = match result {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => format!("redis: {e}"),
            Err(_) => format!("redis: no answer within {} ms", self.timeout.as_millis()),
        };
        self.lanes.slots[lane]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        Err(EphemeralError(error))
    }

    async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> EphemeralResult<T> {
        self.run(
            |mut conn| async move { cmd.query_async(&mut conn).await.map_err(|e| e.to_string()) },
        )
        .await
    }

    async fn query_pipe<T: FromRedisValue>(&self, pipe: &Pipeline) -> EphemeralResult<T> {
        self.run(
            |mut conn| async move { pipe.query_async(&mut conn).await.map_err(|e| e.to_string()) },
        )
        .await
    }

    fn eval(script: &str, keys: &[&str]) -> Cmd {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(script).arg(keys.len()).arg(keys);
        cmd
    }

    /// One round trip to Redis.
    pub async fn ping(&self) -> EphemeralResult<()> {
        self.query::<String>(&redis::cmd("PING")).await.map(|_| ())
    }

    /// Whether the durable revocations are loaded into this Redis (false after it restarted empty).
    pub async fn revocations_loaded(&self) -> EphemeralResult<bool> {
        let mut cmd = redis::cmd("EXISTS");
        cmd.arg(self.meta(LOADED));
        Ok(self.query::<i64>(&cmd).await? > 0)
    }

    /// Starts copying revocations in; pass the returned nonce to [`Self::finish_warm`].
    pub async fn begin_warm(&self) -> EphemeralResult<String> {
        let nonce = random_token();
        let mut cmd = redis::cmd("SET");
        // Expires so that a crashed warm-up leaves nothing behind.
        cmd.arg(self.meta(WARMING)).arg(&nonce).arg("EX").arg(3600);
        self.query::<()>(&cmd).await?;
        Ok(nonce)
    }

    /// Marks the revocations loaded; false when another warm-up started meanwhile or Redis lost
    /// its data (then the caller tries again).
    pub async fn finish_warm(&self, nonce: &str) -> EphemeralResult<bool> {
        let warming = self.meta(WARMING);
        let loaded = self.meta(LOADED);
        let mut cmd = Self::eval(FINISH_WARM_SCRIPT, &[&warming, &loaded]);
        cmd.arg(nonce);
        Ok(self.query::<i64>(&cmd).await? == 1)
    }
}

/// Seconds from now until `at`.
fn seconds_until(at: i64) -> i64 {
    at - clock::now()
}

#[async_trait]
impl Ephemeral for RedisEphemeral {
    async fn session_load(&self, id: &str) -> EphemeralResult<Option<Vec<u8>>> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.key("sess", id));
        self.query(&cmd).await
    }

    async fn session_store(
        &self,
        id: &str,
        body: Vec<u8>,
        expires_at: i64,
        only_if_absent: bool,
    ) -> EphemeralResult<bool> {
        let key = self.key("sess", id);
        let ttl = seconds_until(expires_at);
        if ttl <= 0 {
            // Already over: nothing to keep, and load must not find it.
            if !only_if_absent {
                let mut cmd = redis::cmd("DEL");
                cmd.arg(&key);
                self.query::<()>(&cmd).await?;
            }
            return Ok(true);
        }
        let mut cmd = redis::cmd("SET");
        cmd.arg(&key).arg(body).arg("EX").arg(ttl);
        if only_if_absent {
            cmd.arg("NX");
        }
        Ok(self.query::<Option<String>>(&cmd).await?.is_some())
    }

    async fn session_delete(&self, id: &str) -> EphemeralResult<()> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.key("sess", id));
        self.query(&cmd).await
    }

    async fn code_insert(&self, code_hash: &str, record: CodeRecord) -> EphemeralResult<()> {
        let key = self.key("code", code_hash);
        let ttl = seconds_until(record.expires_at + CODE_TOMBSTONE_SECS).max(1);
        let json = serde_json::to_string(&record)
            .map_err(|e| EphemeralError(format!("cannot encode a code record: {e}")))?;
        // One transaction: a code is never visible without its expiry.
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("DEL")
            .arg(&key)
            .ignore()
            .cmd("HSET")
            .arg(&key)
            .arg("rec")
            .arg(json)
            .arg("grant")
            .arg(&record.grant_id)
            .ignore()
            .cmd("EXPIRE")
            .arg(&key)
            .arg(ttl)
            .ignore();
        self.query_pipe(&pipe).await
    }

    async fn code_take(&self, code_hash: &str) -> EphemeralResult<CodeTake> {
        let key = self.key("code", code_hash);
        let (state, value): (i64, String) = self.query(&Self::eval(TAKE_SCRIPT, &[&key])).await?;
        match state {
            1 => serde_json::from_str(&value)
                .map(CodeTake::Fresh)
                .map_err(|e| EphemeralError(format!("corrupt code record in Redis: {e}"))),
            2 => Ok(CodeTake::Replayed { grant_id: value }),
            _ => Ok(CodeTake::Unknown),
        }
    }

    async fn revoke(&self, kind: RevocationKind, value: &str, until: i64) -> EphemeralResult<()> {
        let key = self.revocation_key(kind, value);
        // Even a revocation already due is kept a moment: erring on the side of refusing.
        let ttl = seconds_until(until).max(1);
        let mut cmd = Self::eval(REVOKE_SCRIPT, &[&key]);
        cmd.arg(ttl);
        self.query::<i64>(&cmd).await.map(|_| ())
    }

    /// One round trip: the loaded marker and every id. Fails closed while the revocations are
    /// not loaded. An empty `checks` still checks Redis and the marker (`/readyz` relies on it).
    async fn is_revoked(&self, checks: &[(RevocationKind, &str)]) -> EphemeralResult<bool> {
        let mut pipe = redis::pipe();
        pipe.cmd("EXISTS").arg(self.meta(LOADED));
        if !checks.is_empty() {
            pipe.cmd("EXISTS");
            for (kind, value) in checks {
                pipe.arg(self.revocation_key(*kind, value));
            }
        }
        let counts: Vec<i64> = self.query_pipe(&pipe).await?;
        if counts.first().copied().unwrap_or(0) == 0 {
            return Err(EphemeralError(
                "redis: revocations are not loaded yet (Redis restarted empty?)".into(),
            ));
        }
        Ok(counts.get(1).copied().unwrap_or(0) > 0)
    }

    async fn counters_hit(&self, keys: &[&str], window_secs: i64) -> EphemeralResult<Vec<Count>> {
        let keys: Vec<String> = keys.iter().map(|k| self.key("cnt", k)).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let mut cmd = Self::eval(HIT_SCRIPT, &refs);
        cmd.arg(window_secs.max(1));
        let flat: Vec<i64> = self.query(&cmd).await?;
        if flat.len() != 2 * keys.len() {
            return Err(EphemeralError("redis: unexpected counter reply".into()));
        }
        Ok(flat
            .chunks(2)
            .map(|pair| Count {
                value: u64::try_from(pair[0]).unwrap_or(0),
                ttl: pair[1],
            })
            .collect())
    }

    async fn counters_release(&self, keys: &[&str]) -> EphemeralResult<()> {
        let keys: Vec<String> = keys.iter().map(|k| self.key("cnt", k)).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        self.query::<i64>(&Self::eval(RELEASE_SCRIPT, &refs))
            .await
            .map(|_| ())
    }

    async fn counters_clear(&self, keys: &[&str]) -> EphemeralResult<()> {
        let mut cmd = redis::cmd("DEL");
        for k in keys {
            cmd.arg(self.key("cnt", k));
        }
        self.query::<i64>(&cmd).await.map(|_| ())
    }
}

#[cfg(test)]
#[path = "redis_tests.rs"]
mod tests;
