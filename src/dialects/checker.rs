//! `checkApiByToken`: may the user behind a token call `path` of the application the token was
//! issued to? Effective permissions are those of `crate::authz` (direct and group-inherited
//! roles); this module adds the caches that keep the answer close to the HTTP ceiling.
//!
//! Freshness: every directory write made through this process bumps a generation number, and a
//! cached subject compiled under an older generation is recompiled, so a permission, role,
//! group or user change is seen by the next call. With Redis, the change is also announced to
//! the other instances (`crate::ephemeral::CacheEvents`), which bump theirs within a round trip.
//! Writes made by another process (the CLI), or announcements lost while Redis was unreachable,
//! are seen within [`SUBJECT_REFRESH_SECS`]. Token revocation is checked on every call.
//!
//! Speed: a compiled subject remembers its answers by (method, raw path) — a pure function of
//! its items — within per-subject and per-process bounds, so repeated questions skip path
//! normalisation and pattern matching; the memo is dropped with the subject.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use super::path;
use super::tokens::{self, AppTokenCache, Principal};
use crate::authz::{self, ADMIN_APP, CompiledItem, SubjectInfo};
use crate::ephemeral::{Broadcaster, CacheEvent};
use crate::oauth::{OAuthError, Provider};
use crate::store::permissions::Subject;
use crate::store::users;

/// Longest time a compiled subject is trusted without reading the store again.
pub const SUBJECT_REFRESH_SECS: i64 = 5;
/// Upper bound of the subject cache; it is simply emptied when full.
const SUBJECTS_MAX: usize = 50_000;
/// Remembered answers per compiled subject, and in the whole process (memory bound).
const MEMO_PER_SUBJECT: usize = 256;
const MEMO_TOTAL: usize = 100_000;
/// Longer paths (and methods) are answered every time, never remembered.
const MEMO_PATH_MAX: usize = 256;
const MEMO_METHOD_MAX: usize = 16;

/// What one user may call in one application, compiled. `getUser` lists the same items, so
/// both answers come from one engine.
#[derive(Debug)]
pub struct Compiled {
    generation: u64,
    fetched_at: i64,
    /// The user may sign in until this time (`i64::MAX` without a trial); 0 = not at all.
    pub usable_until: i64,
    /// Everything (the super administrator, in Gatehouse's own application only).
    pub everything: bool,
    /// The granted items of the application (direct and group-inherited roles).
    pub items: Vec<Arc<CompiledItem>>,
    /// Answers already given, by method then raw path. An answer is a pure function of the
    /// items above, so it lives exactly as long as they do (a directory change compiles a new
    /// subject with an empty memo).
    memo: RwLock<Memo>,
    /// Remembered answers of the whole process, shared by every subject.
    budget: Arc<AtomicUsize>,
}

#[derive(Debug, Default)]
struct Memo {
    len: usize,
    by_method: HashMap<String, HashMap<String, bool>>,
}

impl Drop for Compiled {
    fn drop(&mut self) {
        let len = self.memo.get_mut().map_or(0, |m| m.len);
        self.budget.fetch_sub(len, Ordering::Relaxed);
    }
}

impl Compiled {
    fn allows(&self, method: &str, path: &str) -> bool {
        if self.everything {
            return true;
        }
        // split (and vet) the path once, not once per pattern
        let Some(segs) = crate::authz::pattern::split_request_path(path) else {
            return false;
        };
        self.items.iter().any(|i| i.allows_segments(method, &segs))
    }

    /// One answer: the normalised path must be covered by a granted item. Remembered (within
    /// bounds) so that a sub-app asking about the same paths skips normalising and matching.
    fn decide(&self, method: &str, raw: &str) -> bool {
        if let Some(&answer) = self
            .memo
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .by_method
            .get(method)
            .and_then(|m| m.get(raw))
        {
            return answer;
        }
        let answer = path::normalize(raw).is_some_and(|p| self.allows(method, &p));
        if raw.len() <= MEMO_PATH_MAX && method.len() <= MEMO_METHOD_MAX {
            self.remember(method, raw, answer);
        }
        answer
    }

    fn remember(&self, method: &str, raw: &str, answer: bool) {
        // Never wait for the lock: another request is remembering; this answer can be recomputed.
        let Ok(mut memo) = self.memo.try_write() else {
            return;
        };
        if memo.len >= MEMO_PER_SUBJECT {
            return;
        }
        if self.budget.fetch_add(1, Ordering::Relaxed) >= MEMO_TOTAL {
            self.budget.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        let paths = memo.by_method.entry(method.to_owned()).or_default();
        if paths.insert(raw.to_owned(), answer).is_none() {
            memo.len += 1;
        } else {
            self.budget.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Whether the user may act at `now` (active, trial not over).
    pub fn usable(&self, now: i64) -> bool {
        self.usable_until > now
    }
}

/// One question of a batch: a path and, optionally, the HTTP method.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: Option<&'a str>,
    pub path: &'a str,
}

/// The decision engine with its caches; one per process, in `AppState`.
#[derive(Debug, Default)]
pub struct Checker {
    generation: AtomicU64,
    /// Verified opaque app tokens.
    pub tokens: AppTokenCache,
    subjects: RwLock<HashMap<(String, String), Arc<Compiled>>>,
    /// Remembered answers across all subjects (see [`MEMO_TOTAL`]).
    memo_budget: Arc<AtomicUsize>,
    /// Tells the other instances about directory changes (silent without Redis).
    pub events: Broadcaster,
}

/// One decision: the principal (when the token is live) and an answer per path.
#[derive(Debug)]
pub struct Decision {
    pub principal: Option<Principal>,
    pub allowed: Vec<bool>,
}

impl Checker {
    /// Marks every cached subject stale (call after any directory write).
    pub fn directory_changed(&self) {
        self.stale();
        self.events.announce(CacheEvent::Directory);
    }

    /// Marks every cached subject stale without announcing it (a change another instance
    /// announced, or a resubscription after events may have been missed).
    pub fn stale(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Answers for each of `paths` whether the token's user may call it with `method` (`None`:
    /// only items without a method restriction apply — the path-only check of seed 002).
    /// Unknown, expired, revoked or forged tokens, unusable users and disabled applications get
    /// `false` everywhere; a store outage is an error (fail closed).
    pub async fn check(
        &self,
        provider: &Provider,
        token: &str,
        method: Option<&str>,
        paths: &[&str],
        now: i64,
    ) -> Result<Decision, OAuthError> {
        let (principal, subject) = self.live_subject(provider, token, now).await?;
        let allowed = match subject {
            Some(s) => {
                let method = upper(method);
                paths.iter().map(|raw| s.decide(&method, raw)).collect()
            }
            None => vec![false; paths.len()],
        };
        Ok(Decision { principal, allowed })
    }

    /// Like [`Checker::check`], with a method per path (the batch form).
    pub async fn check_each(
        &self,
        provider: &Provider,
        token: &str,
        requests: &[Request<'_>],
        now: i64,
    ) -> Result<Decision, OAuthError> {
        let (principal, subject) = self.live_subject(provider, token, now).await?;
        let allowed = match subject {
            Some(s) => requests
                .iter()
                .map(|r| s.decide(&upper(r.method), r.path))
                .collect(),
            None => vec![false; requests.len()],
        };
        Ok(Decision { principal, allowed })
    }

    /// The principal of a live token and, when its application is enabled and its user usable,
    /// the compiled grants (`None`: deny everything).
    async fn live_subject(
        &self,
        provider: &Provider,
        token: &str,
        now: i64,
    ) -> Result<(Option<Principal>, Option<Arc<Compiled>>), OAuthError> {
        let Some(principal) = tokens::resolve(provider, &self.tokens, token, now).await? else {
            return Ok((None, None));
        };
        match provider.client(&principal.client_id).await? {
            Some(c) if c.enabled => {}
            _ => return Ok((Some(principal), None)),
        }
        let subject = self
            .subject(provider, &principal.user_id, &principal.client_id, now)
            .await?;
        if !subject.usable(now) {
            return Ok((Some(principal), None));
        }
        Ok((Some(principal), Some(subject)))
    }

    /// The compiled grants of `user_id` in `app` (cached like the decisions; check
    /// [`Compiled::usable`] before trusting them).
    pub async fn grants(
        &self,
        provider: &Provider,
        user_id: &str,
        app: &str,
        now: i64,
    ) -> Result<Arc<Compiled>, OAuthError> {
        self.subject(provider, user_id, app, now).await
    }

    async fn subject(
        &self,
        provider: &Provider,
        user_id: &str,
        app: &str,
        now: i64,
    ) -> Result<Arc<Compiled>, OAuthError> {
        let generation = self.generation.load(Ordering::Acquire);
        let key = (user_id.to_owned(), app.to_owned());
        if let Some(c) = self
            .subjects
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            && c.generation == generation
            && now - c.fetched_at < SUBJECT_REFRESH_SECS
        {
            return Ok(Arc::clone(c));
        }
        let grants = compile(provider, user_id, app, now).await?;
        let compiled = Arc::new(Compiled {
            generation,
            fetched_at: now,
            usable_until: grants.usable_until,
            everything: grants.everything,
            items: grants.items,
            memo: RwLock::default(),
            budget: Arc::clone(&self.memo_budget),
        });
        let mut map = self
            .subjects
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if map.len() >= SUBJECTS_MAX {
            map.clear();
        }
        map.insert(key, Arc::clone(&compiled));
        Ok(compiled)
    }

    /// Forgets expired cache entries.
    pub fn purge(&self, now: i64) {
        self.tokens.purge(now);
        self.subjects
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, c| now - c.fetched_at < SUBJECT_REFRESH_SECS);
    }
}

/// The method in upper case, borrowed when it already is (the usual case).
fn upper(method: Option<&str>) -> Cow<'_, str> {
    match method {
        None => Cow::Borrowed(""),
        Some(m) if !m.bytes().any(|b| b.is_ascii_lowercase()) => Cow::Borrowed(m),
        Some(m) => Cow::Owned(m.to_ascii_uppercase()),
    }
}

/// What [`compile`] reads from the store.
struct Grants {
    usable_until: i64,
    everything: bool,
    items: Vec<Arc<CompiledItem>>,
}

async fn compile(
    provider: &Provider,
    user_id: &str,
    app: &str,
    now: i64,
) -> Result<Grants, OAuthError> {
    let db = &provider.db;
    let Some(user) = users::find(db, user_id).await? else {
        return Ok(Grants {
            usable_until: 0,
            everything: false,
            items: Vec::new(),
        });
    };
    let usable_until = if !user.may_sign_in(now) {
        0
    } else {
        user.trial_end_at.unwrap_or(i64::MAX)
    };
    let who = SubjectInfo {
        subject: Subject::User(user_id),
        tenant_id: &user.tenant_id,
        user_type: Some(&user.user_type),
    };
    let authority = authz::authority(db, &who, app).await?;
    // Administrator flags are about Gatehouse's own API; in a sub-application only the items
    // granted through roles count.
    let everything = app == ADMIN_APP && authority.super_admin;
    Ok(Grants {
        usable_until,
        everything,
        items: authority.grants.into_iter().map(|(_, i)| i).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::ApiSpec;

    fn subject(budget: &Arc<AtomicUsize>) -> Compiled {
        let spec = |m: Option<&str>, p: &str| ApiSpec {
            method: m.map(str::to_owned),
            path: p.into(),
        };
        Compiled {
            generation: 0,
            fetched_at: 0,
            usable_until: i64::MAX,
            everything: false,
            items: vec![Arc::new(CompiledItem::new(
                "i".into(),
                "c".into(),
                "api".into(),
                &[spec(None, "/api/public/**"), spec(Some("GET"), "/api/r/*")],
            ))],
            memo: RwLock::default(),
            budget: Arc::clone(budget),
        }
    }

    #[test]
    fn remembered_answers_equal_computed_ones_and_stay_bounded() {
        let budget = Arc::new(AtomicUsize::new(0));
        let s = subject(&budget);
        for _ in 0..2 {
            assert!(s.decide("", "/api/public/x"));
            assert!(!s.decide("", "/api/public/../admin"));
            assert!(s.decide("GET", "/api/r/1"));
            assert!(!s.decide("POST", "/api/r/1"));
            assert!(!s.decide("", "/api/r/1"));
        }
        assert_eq!(budget.load(Ordering::Relaxed), 5);
        for i in 0..2 * MEMO_PER_SUBJECT {
            assert!(s.decide("", &format!("/api/public/{i}")));
        }
        let long = format!("/api/public/{}", "a".repeat(MEMO_PATH_MAX));
        assert!(s.decide("", &long));
        assert!(!s.decide(&"X".repeat(MEMO_METHOD_MAX + 1), "/api/r/1"));
        assert_eq!(budget.load(Ordering::Relaxed), MEMO_PER_SUBJECT);
        drop(s);
        assert_eq!(budget.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn methods_are_upper_cased_without_copying_upper_case_ones() {
        assert!(matches!(upper(Some("GET")), Cow::Borrowed("GET")));
        assert_eq!(upper(Some("get")), "GET");
        assert_eq!(upper(None), "");
    }
}
