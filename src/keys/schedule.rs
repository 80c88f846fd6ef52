//! The key schedule: at a given `now`, which key of each algorithm signs, which are published
//! ahead of signing, which are kept for verification after being superseded, and which are
//! retired. Pure functions of file names and time; the server and the CLI share them.
//!
//! A key file's number is the time from which it signs ("signs from"):
//! - **next**: signs from a future time. Published in the JWKS and accepted, never used to sign,
//!   so relying parties' JWKS caches learn it before the first token signed with it.
//! - **active**: the newest key whose signs-from is not in the future; it signs. (Should an
//!   algorithm have only future keys, e.g. after the active file was deleted in an emergency,
//!   the earliest of them signs at once.)
//! - **retiring**: superseded, still published and accepted until its successor's signs-from
//!   plus the retention window (the longest lifetime of anything it can have signed plus the
//!   clock-skew margin): every token it signed has expired by then.
//! - **retired**: neither published nor accepted. `gatehouse keys rotate` deletes the file once
//!   it has been retired for one more retention window.

use serde::Serialize;

use crate::jwt::Alg;

/// Clock-skew margin added to every retention window: instances' clocks and the 0.5 s rescan
/// may let a superseded key sign a little after its successor's signs-from.
pub const CLOCK_SKEW_MARGIN: i64 = 60;

/// `max-age` of the `/jwks` response. The publish lead must exceed it so that a relying party
/// which fetched the JWKS just before a rotation still refreshes it before the new key signs.
pub const JWKS_MAX_AGE: i64 = 300;

/// `Cache-Control` of the `/jwks` response (must say [`JWKS_MAX_AGE`]).
pub const JWKS_CACHE_CONTROL: &str = "public, max-age=300";

/// Default time between publishing a rotated key and signing with it: twice the JWKS max-age.
pub const DEFAULT_PUBLISH_LEAD: i64 = 2 * JWKS_MAX_AGE;

/// Where a key stands in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Published and accepted; will sign from its signs-from time.
    Next,
    /// Signs new tokens of its algorithm.
    Active,
    /// Superseded; published and accepted until every token it signed has expired.
    Retiring,
    /// No longer published nor accepted.
    Retired,
}

impl KeyState {
    /// The name used by `gatehouse keys list` and the logs.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Active => "active",
            KeyState::Retiring => "retiring",
            KeyState::Retired => "retired",
        }
    }

    /// Whether the key is in the JWKS and accepted for verification.
    pub fn published(self) -> bool {
        self != KeyState::Retired
    }
}

/// A key's state at one instant, and when it stops (or stopped) being published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub state: KeyState,
    /// For superseded keys: the successor's signs-from plus the retention window.
    pub retires_at: Option<i64>,
}

/// The retention window of superseded keys: the longest lifetime (seconds) of anything a key
/// can have signed, plus [`CLOCK_SKEW_MARGIN`].
pub fn retention(longest_lifetime: i64) -> i64 {
    longest_lifetime.max(0) + CLOCK_SKEW_MARGIN
}

/// The state at `now` of every key, given as `(alg, signs_from)`, in the order given. Keys of
/// the same algorithm with equal signs-from are ordered as given (callers pass file-name order).
pub fn evaluate(keys: &[(Alg, i64)], now: i64, retention: i64) -> Vec<Slot> {
    let mut slots = vec![
        Slot {
            state: KeyState::Retired,
            retires_at: None,
        };
        keys.len()
    ];
    for alg in Alg::ALL {
        let mut order: Vec<usize> = (0..keys.len()).filter(|&i| keys[i].0 == alg).collect();
        // Stable: ties keep the caller's order.
        order.sort_by_key(|&i| keys[i].1);
        let Some(&first) = order.first() else {
            continue;
        };
        let active = order
            .iter()
            .rev()
            .find(|&&i| keys[i].1 <= now)
            .copied()
            .unwrap_or(first);
        for (pos, &i) in order.iter().enumerate() {
            slots[i] = if i == active {
                Slot {
                    state: KeyState::Active,
                    retires_at: None,
                }
            } else if keys[i].1 > now {
                Slot {
                    state: KeyState::Next,
                    retires_at: None,
                }
            } else {
                // Not active yet not in the future: a later key has taken over, and this one
                // stopped signing when its immediate successor started.
                let successor = order.get(pos + 1).map_or(now, |&j| keys[j].1);
                let retires_at = successor.saturating_add(retention);
                Slot {
                    state: if now < retires_at {
                        KeyState::Retiring
                    } else {
                        KeyState::Retired
                    },
                    retires_at: Some(retires_at),
                }
            };
        }
    }
    slots
}

/// Whether a key's file may be deleted at `now`: retired for longer than the retention window.
pub fn prunable(slot: &Slot, now: i64, retention: i64) -> bool {
    slot.state == KeyState::Retired
        && slot
            .retires_at
            .is_some_and(|at| now >= at.saturating_add(retention))
}

#[cfg(test)]
mod tests {
    use super::*;
    use KeyState::*;

    fn states(keys: &[(Alg, i64)], now: i64, retention: i64) -> Vec<KeyState> {
        evaluate(keys, now, retention)
            .into_iter()
            .map(|s| s.state)
            .collect()
    }

    const R: i64 = 1000;

    #[test]
    fn a_single_key_signs_from_its_creation() {
        assert_eq!(states(&[(Alg::RS256, 100)], 100, R), [Active]);
        assert_eq!(states(&[(Alg::RS256, 100)], 1_000_000, R), [Active]);
    }

    #[test]
    fn rotation_walks_next_active_retiring_retired() {
        // Old key since 100; a rotation at 500 with a 600 s lead: the new key signs from 1100.
        let keys = [(Alg::ES256, 100), (Alg::ES256, 1100)];
        assert_eq!(states(&keys, 500, R), [Active, Next], "published ahead");
        assert_eq!(states(&keys, 1099, R), [Active, Next]);
        assert_eq!(states(&keys, 1100, R), [Retiring, Active], "takes over");
        assert_eq!(states(&keys, 2099, R), [Retiring, Active]);
        assert_eq!(
            states(&keys, 2100, R),
            [Retired, Active],
            "successor's signs-from + retention"
        );
        let slots = evaluate(&keys, 1500, R);
        assert_eq!(slots[0].retires_at, Some(2100));
        assert_eq!(slots[1].retires_at, None);
    }

    #[test]
    fn each_key_retires_after_its_immediate_successor_took_over() {
        let keys = [(Alg::EdDSA, 100), (Alg::EdDSA, 200), (Alg::EdDSA, 300)];
        let slots = evaluate(&keys, 350, R);
        assert_eq!(slots[0].retires_at, Some(200 + R));
        assert_eq!(slots[1].retires_at, Some(300 + R));
        assert_eq!(states(&keys, 1250, R), [Retired, Retiring, Active]);
        assert_eq!(states(&keys, 1300, R), [Retired, Retired, Active]);
    }

    #[test]
    fn algorithms_are_scheduled_independently_and_order_is_kept() {
        let keys = [
            (Alg::RS256, 900),
            (Alg::ES256, 100),
            (Alg::RS256, 100),
            (Alg::EdDSA, 5000),
        ];
        assert_eq!(states(&keys, 950, R), [Active, Active, Retiring, Active]);
        assert_eq!(states(&keys, 50, R), [Next, Active, Active, Active]);
    }

    #[test]
    fn only_future_keys_the_earliest_signs() {
        // The active file was deleted after a rotation: the next key signs at once.
        let keys = [(Alg::RS256, 2000), (Alg::RS256, 1500)];
        assert_eq!(states(&keys, 1000, R), [Next, Active]);
    }

    #[test]
    fn equal_signs_from_the_later_name_wins() {
        let keys = [(Alg::RS256, 100), (Alg::RS256, 100)];
        assert_eq!(states(&keys, 100, R), [Retiring, Active]);
    }

    #[test]
    fn prune_after_one_more_retention_window() {
        let keys = [(Alg::ES256, 100), (Alg::ES256, 1100)];
        let at = |now| evaluate(&keys, now, R)[0];
        assert!(!prunable(&at(2099), 2099, R), "retiring");
        assert!(!prunable(&at(2100), 2100, R), "just retired");
        assert!(!prunable(&at(3099), 3099, R));
        assert!(prunable(&at(3100), 3100, R));
        assert!(!prunable(&evaluate(&keys, 9999, R)[1], 9999, R), "active");
    }

    #[test]
    fn retention_adds_the_skew_margin_and_defaults_are_consistent() {
        assert_eq!(retention(3600), 3600 + CLOCK_SKEW_MARGIN);
        assert_eq!(retention(-5), CLOCK_SKEW_MARGIN);
        const { assert!(DEFAULT_PUBLISH_LEAD > JWKS_MAX_AGE) };
        assert_eq!(
            JWKS_CACHE_CONTROL,
            format!("public, max-age={JWKS_MAX_AGE}")
        );
    }
}
