//! Login throttling (checklist L-04, L-05): a bound on how many password guesses are *evaluated*
//! per account, shared by every instance through the ephemeral store (Redis `INCR` in a script,
//! or the in-process map).
//!
//! Three fixed-window counters per attempt, all hit before the password is looked at:
//! - account + source address: the tight limit a single guesser meets first;
//! - account, from anywhere: bounds a distributed guesser (≤ `per_account` per window);
//! - source address, over all accounts: bounds password spraying from one address.
//!
//! An attempt is evaluated only if none of its counters passed its limit; a refused attempt
//! gives its hits back, so only evaluated attempts count and a flood of refused requests
//! neither extends nor deepens a lock. A successful login clears its account + source counter
//! and gives back its hits on the others (they count failures). Windows are fixed: a lock
//! ends when its window does, however hard an attacker keeps knocking (soft lock, no
//! administrator needed to unlock). The account key is the *typed* name, lower-cased, whether
//! or not such an account exists, so a 429 says nothing about existence (L-01).

use crate::crypto::sha256_b64;
use crate::ephemeral::{Count, Ephemeral, EphemeralResult};

/// The limits; see `login_*` in the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Window length, seconds.
    pub window: i64,
    /// Evaluated attempts per account and source address per window.
    pub per_source: u64,
    /// Evaluated attempts per account from all sources per window.
    pub per_account: u64,
    /// Failed attempts per source address, over all accounts, per window.
    pub per_address: u64,
}

/// Whether a login attempt may be evaluated.
#[derive(Debug)]
pub enum Gate {
    /// Go on; report the outcome with [`LoginThrottle::succeeded`] (a failure needs no call).
    Proceed(Attempt),
    /// Refused without looking at the password.
    Refused {
        /// Seconds until the window that refused ends (for `Retry-After`).
        retry_after: i64,
        /// True for the first refusal of this account (and source) in its window: worth one
        /// audit entry, where every refusal would let a flood fill the audit log.
        first: bool,
    },
}

/// The counters one attempt hit.
#[derive(Debug)]
pub struct Attempt {
    source: String,
    account: String,
    address: String,
}

/// The policy over a store.
#[derive(Debug, Clone, Copy)]
pub struct LoginThrottle {
    policy: Policy,
}

impl LoginThrottle {
    /// A throttle with these limits.
    pub fn new(policy: Policy) -> Self {
        Self { policy }
    }

    /// The limits.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Hits the counters of an attempt to sign in as `username` in `scope` (a tenant id, or
    /// the organisation code as typed when it names no tenant) from `address`.
    pub async fn begin(
        &self,
        store: &dyn Ephemeral,
        scope: &str,
        username: &str,
        address: Option<&str>,
    ) -> EphemeralResult<Gate> {
        let attempt = Attempt::new(scope, username, address);
        let keys = attempt.keys();
        let counts = store.counters_hit(&keys, self.policy.window).await?;
        let limits = [
            self.policy.per_source,
            self.policy.per_account,
            self.policy.per_address,
        ];
        let over: Vec<Count> = counts
            .iter()
            .zip(limits)
            .filter(|(count, limit)| count.value > *limit)
            .map(|(count, _)| *count)
            .collect();
        if over.is_empty() {
            return Ok(Gate::Proceed(attempt));
        }
        store.counters_release(&keys).await?;
        let retry_after = over.iter().map(|c| c.ttl).max().unwrap_or(0).max(1);
        // One note per account + source and window: its counter is the first to trip.
        let note = format!("note:{}", attempt.source);
        let noted = store.counters_hit(&[&note], self.policy.window).await?;
        let first = noted.first().is_some_and(|c| c.value == 1);
        Ok(Gate::Refused { retry_after, first })
    }

    /// The password was right: this source starts afresh for this account, and the attempt
    /// is not counted as a failure anywhere.
    pub async fn succeeded(&self, store: &dyn Ephemeral, attempt: Attempt) -> EphemeralResult<()> {
        store.counters_clear(&[&attempt.source]).await?;
        store
            .counters_release(&[&attempt.account, &attempt.address])
            .await
    }
}

impl Attempt {
    fn new(scope: &str, username: &str, address: Option<&str>) -> Self {
        // Trimmed and lower-cased: `Alice`, `alice ` and `alice` share one budget.
        let name = username.trim().to_lowercase();
        let address = address.unwrap_or("unknown");
        // Hashed: bounded key length whatever was typed, and no usernames in Redis.
        let account = sha256_b64(format!("{scope}\0{name}").as_bytes());
        Self {
            source: format!(
                "login:src:{}",
                sha256_b64(format!("{account}\0{address}").as_bytes())
            ),
            account: format!("login:acct:{account}"),
            address: format!("login:addr:{address}"),
        }
    }

    fn keys(&self) -> [&str; 3] {
        [&self.source, &self.account, &self.address]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ephemeral::MemoryEphemeral;

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(Policy {
            window: 60,
            per_source: 3,
            per_account: 5,
            per_address: 8,
        })
    }

    async fn outcome(t: &LoginThrottle, s: &MemoryEphemeral, user: &str, ip: &str) -> bool {
        matches!(
            t.begin(s, "tenant", user, Some(ip)).await,
            Ok(Gate::Proceed(_))
        )
    }

    #[tokio::test]
    async fn the_source_limit_trips_first_and_refusals_do_not_count() {
        let (t, s) = (throttle(), MemoryEphemeral::new());
        for _ in 0..3 {
            assert!(outcome(&t, &s, "alice", "10.0.0.1").await);
        }
        for _ in 0..20 {
            assert!(
                !outcome(&t, &s, "Alice ", "10.0.0.1").await,
                "same account, any case"
            );
        }
        // Another address still gets the rest of the account's budget (5 - 3), not more.
        assert!(outcome(&t, &s, "alice", "10.0.0.2").await);
        assert!(outcome(&t, &s, "alice", "10.0.0.2").await);
        assert!(!outcome(&t, &s, "alice", "10.0.0.3").await);
        // The refusals above did not eat 10.0.0.1's budget for other accounts.
        for user in ["bob", "carol"] {
            assert!(outcome(&t, &s, user, "10.0.0.1").await);
        }
    }

    #[tokio::test]
    async fn the_address_limit_stops_spraying_over_many_accounts() {
        let (t, s) = (throttle(), MemoryEphemeral::new());
        let allowed = {
            let mut n = 0;
            for i in 0..30 {
                if outcome(&t, &s, &format!("user{i}"), "10.9.9.9").await {
                    n += 1;
                }
            }
            n
        };
        assert_eq!(allowed, 8);
    }

    #[tokio::test]
    async fn success_clears_the_source_and_is_no_failure() {
        let (t, s) = (throttle(), MemoryEphemeral::new());
        for _ in 0..2 {
            assert!(outcome(&t, &s, "dave", "10.0.0.1").await);
        }
        let Ok(Gate::Proceed(attempt)) = t.begin(&s, "tenant", "dave", Some("10.0.0.1")).await
        else {
            panic!("third attempt must be evaluated");
        };
        t.succeeded(&s, attempt).await.expect("succeeded");
        // Source counter cleared: three more; the account counter holds the 2 failures.
        for _ in 0..3 {
            assert!(outcome(&t, &s, "dave", "10.0.0.1").await);
        }
        assert!(!outcome(&t, &s, "dave", "10.0.0.1").await);
    }

    #[tokio::test]
    async fn the_first_refusal_is_flagged_once() {
        let (t, s) = (throttle(), MemoryEphemeral::new());
        for _ in 0..3 {
            assert!(outcome(&t, &s, "erin", "10.0.0.1").await);
        }
        let firsts: Vec<bool> = {
            let mut v = Vec::new();
            for _ in 0..4 {
                match t.begin(&s, "tenant", "erin", Some("10.0.0.1")).await {
                    Ok(Gate::Refused { first, retry_after }) => {
                        assert!((1..=60).contains(&retry_after));
                        v.push(first);
                    }
                    other => panic!("expected a refusal, got {other:?}"),
                }
            }
            v
        };
        assert_eq!(firsts, [true, false, false, false]);
    }

    #[tokio::test]
    async fn scopes_are_separate_accounts() {
        let (t, s) = (throttle(), MemoryEphemeral::new());
        for _ in 0..3 {
            assert!(outcome(&t, &s, "frank", "10.0.0.1").await);
        }
        let other = t.begin(&s, "other-tenant", "frank", Some("10.0.0.1")).await;
        assert!(matches!(other, Ok(Gate::Proceed(_))));
    }
}
