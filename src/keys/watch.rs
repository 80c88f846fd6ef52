//! Following the keys directory while the server runs.
//!
//! [`KeyRing`] holds the current [`KeySet`] behind a lock that is only written on a change:
//! request handlers take a snapshot (`Arc` clone) and sign or verify with keys parsed long
//! before. [`KeyWatcher`] rescans the directory (names only), parses just the files it has not
//! seen, re-evaluates the time-based states and hands back a new set when anything changed.
//! The server polls it every half second, so a rotation made by the CLI (or through another
//! instance sharing the directory) is published within a second.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use anyhow::Context;

use super::files::{self, KeyFile};
use super::schedule::{self, KeyState};
use super::{KeySet, SECRET_KEY_FILE, SigningKey, Vault};
use crate::crypto::SecretHasher;
use crate::jwt::Alg;

/// The current key set of a running server, swappable as a whole.
pub struct KeyRing {
    current: RwLock<Arc<KeySet>>,
    // Never change while the server runs: served without taking a snapshot.
    secret_hasher: Arc<SecretHasher>,
    vault: Arc<Vault>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("KeyRing").field(&self.current()).finish()
    }
}

impl KeyRing {
    /// A ring starting with `set`.
    pub fn new(set: KeySet) -> Self {
        Self {
            secret_hasher: Arc::clone(&set.secret_hasher),
            vault: Arc::clone(&set.vault),
            current: RwLock::new(Arc::new(set)),
        }
    }

    /// The current set. Hold it for one operation: a later call may see a newer set.
    pub fn current(&self) -> Arc<KeySet> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Installs `set`; returns the one it replaces.
    pub fn replace(&self, set: KeySet) -> Arc<KeySet> {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *current, Arc::new(set))
    }

    /// The keyed hash used for client secrets.
    pub fn secret_hasher(&self) -> &SecretHasher {
        &self.secret_hasher
    }

    /// The key that seals client secrets.
    pub fn vault(&self) -> &Vault {
        &self.vault
    }
}

/// What a set was built from: one entry per loaded key file, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    file: String,
    alg: Alg,
    kid: String,
    signs_from: i64,
    state: KeyState,
}

/// Rescans a keys directory and builds a new [`KeySet`] when the files or the states changed.
pub struct KeyWatcher {
    dir: PathBuf,
    retention: i64,
    /// Parsed keys by file name: a file is read once, however often the directory is scanned.
    parsed: HashMap<String, Arc<SigningKey>>,
    /// The view the current set was built from.
    view: Vec<Seen>,
    /// A view that could not be turned into a set (reported once).
    rejected: Option<Vec<Seen>>,
    /// Files that could not be loaded (reported once each, retried every scan).
    unloadable: HashSet<String>,
    unreadable: bool,
    secret_hasher: Arc<SecretHasher>,
    vault: Arc<Vault>,
}

impl std::fmt::Debug for KeyWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyWatcher")
            .field("dir", &self.dir)
            .field("retention", &self.retention)
            .finish()
    }
}

impl KeyWatcher {
    /// Opens `dir` (created when missing), generates a key for every algorithm without one,
    /// loads the secrets and every key, and returns the watcher with the set at `now`. Any
    /// unreadable key file is an error here: a server does not start with a broken directory.
    pub fn open(dir: &Path, retention: i64, now: i64) -> anyhow::Result<(Self, KeySet)> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create keys dir {}", dir.display()))?;
        super::generate_missing(dir, now)?;
        let secret = files::load_or_create_secret(&dir.join(SECRET_KEY_FILE))?;
        let mut watcher = Self {
            dir: dir.to_path_buf(),
            retention,
            parsed: HashMap::new(),
            view: Vec::new(),
            rejected: None,
            unloadable: HashSet::new(),
            unreadable: false,
            secret_hasher: Arc::new(SecretHasher::new(&secret)),
            vault: Arc::new(super::load_vault(dir)?),
        };
        let files = files::key_files(dir).with_context(|| format!("reading {}", dir.display()))?;
        for file in &files {
            let key = SigningKey::read(dir, file)?;
            watcher.parsed.insert(file.name.clone(), Arc::new(key));
        }
        let (view, slots) = watcher.evaluate(&files, now);
        let set = watcher.assemble(&files, slots)?;
        watcher.view = view;
        Ok((watcher, set))
    }

    /// The retention window of superseded keys, in seconds.
    pub fn retention(&self) -> i64 {
        self.retention
    }

    /// Changes the retention window (the longest token lifetime changed); applied at the next
    /// [`poll`](Self::poll).
    pub fn set_retention(&mut self, retention: i64) {
        self.retention = retention;
    }

    /// Rescans the directory and re-evaluates the states at `now`: a new set when anything
    /// changed, `None` otherwise or when the change cannot be applied (then logged, and the
    /// current set stays). Parses only files it has not seen before.
    pub fn poll(&mut self, now: i64) -> Option<KeySet> {
        let files = match files::key_files(&self.dir) {
            Ok(files) => {
                if std::mem::take(&mut self.unreadable) {
                    tracing::info!(dir = %self.dir.display(), "keys directory readable again");
                }
                files
            }
            Err(e) => {
                if !std::mem::replace(&mut self.unreadable, true) {
                    tracing::warn!(dir = %self.dir.display(), error = %e,
                        "cannot read the keys directory; keeping the current keys");
                }
                return None;
            }
        };
        let present: HashSet<&str> = files.iter().map(|f| f.name.as_str()).collect();
        self.parsed
            .retain(|name, _| present.contains(name.as_str()));
        self.unloadable
            .retain(|name| present.contains(name.as_str()));
        for file in &files {
            if self.parsed.contains_key(&file.name) {
                continue;
            }
            match SigningKey::read(&self.dir, file) {
                Ok(key) => {
                    self.unloadable.remove(&file.name);
                    self.parsed.insert(file.name.clone(), Arc::new(key));
                }
                Err(e) => {
                    if self.unloadable.insert(file.name.clone()) {
                        tracing::warn!(file = %file.name, error = format!("{e:#}"),
                            "key file ignored: it cannot be loaded");
                    }
                }
            }
        }
        let (view, slots) = self.evaluate(&files, now);
        // Only published keys matter: a retired file being pruned changes nothing.
        let published = |v: &[Seen]| -> Vec<Seen> {
            v.iter().filter(|s| s.state.published()).cloned().collect()
        };
        if published(&view) == published(&self.view) {
            return None;
        }
        match self.assemble(&files, slots) {
            Ok(set) => {
                log_changes(&self.view, &view, &set);
                self.view = view;
                self.rejected = None;
                Some(set)
            }
            Err(e) => {
                if self.rejected.as_ref() != Some(&view) {
                    tracing::error!(error = %e,
                        "keys directory change not applied; still using the previous keys");
                    self.rejected = Some(view);
                }
                None
            }
        }
    }

    /// The loaded files among `files`, their keys and states at `now`.
    fn evaluate(&self, files: &[KeyFile], now: i64) -> (Vec<Seen>, Vec<schedule::Slot>) {
        let loaded: Vec<(&KeyFile, &Arc<SigningKey>)> = files
            .iter()
            .filter_map(|f| self.parsed.get(&f.name).map(|k| (f, k)))
            .collect();
        let times: Vec<(Alg, i64)> = loaded.iter().map(|(f, _)| (f.alg, f.signs_from)).collect();
        let slots = schedule::evaluate(&times, now, self.retention);
        let view = loaded
            .iter()
            .zip(&slots)
            .map(|((f, k), s)| Seen {
                file: f.name.clone(),
                alg: f.alg,
                kid: k.kid.clone(),
                signs_from: f.signs_from,
                state: s.state,
            })
            .collect();
        (view, slots)
    }

    fn assemble(&self, files: &[KeyFile], slots: Vec<schedule::Slot>) -> anyhow::Result<KeySet> {
        let keys = files
            .iter()
            .filter_map(|f| self.parsed.get(&f.name).map(|k| (f, k)))
            .zip(slots)
            .map(|((f, k), slot)| (Arc::clone(k), slot, f.name.clone()))
            .collect();
        KeySet::assemble(
            keys,
            Arc::clone(&self.secret_hasher),
            Arc::clone(&self.vault),
        )
    }
}

/// One log line per key whose state changed, and per published key whose file disappeared.
fn log_changes(old: &[Seen], new: &[Seen], set: &KeySet) {
    for key in new {
        // A renamed file (same key) is the same key.
        let before = old
            .iter()
            .find(|o| o.file == key.file)
            .or_else(|| old.iter().find(|o| o.kid == key.kid))
            .map(|o| o.state);
        if before == Some(key.state) {
            continue;
        }
        let (alg, kid, file) = (key.alg.as_str(), key.kid.as_str(), key.file.as_str());
        match key.state {
            KeyState::Next => tracing::info!(
                alg,
                kid,
                file,
                signs_from = key.signs_from,
                "signing key published; it signs from its signs_from time"
            ),
            KeyState::Active => tracing::info!(alg, kid, file, "signing key now signs"),
            KeyState::Retiring => {
                let until = set
                    .describe()
                    .into_iter()
                    .find(|k| k.file == key.file)
                    .and_then(|k| k.retires_at);
                tracing::info!(
                    alg,
                    kid,
                    file,
                    retires_at = until,
                    "signing key superseded; still published and accepted until retires_at"
                )
            }
            KeyState::Retired => tracing::info!(
                alg,
                kid,
                file,
                "signing key retired: no longer published nor accepted"
            ),
        }
    }
    for key in old {
        if key.state.published() && !new.iter().any(|n| n.file == key.file || n.kid == key.kid) {
            tracing::warn!(alg = key.alg.as_str(), kid = %key.kid, file = %key.file,
                "signing key file gone: no longer published nor accepted");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("gh-watch-{}", crate::crypto::random_token()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        dir
    }

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Claims {
        iss: String,
        sub: String,
        exp: i64,
    }

    fn token(set: &KeySet) -> String {
        let claims = Claims {
            iss: "https://op.example".into(),
            sub: "u1".into(),
            exp: crate::clock::now() + 600,
        };
        crate::jwt::sign(set, Alg::ES256, "JWT", &claims).unwrap_or_default()
    }

    fn verifies(set: &KeySet, token: &str) -> bool {
        let expect = crate::jwt::Expect {
            algs: &[Alg::ES256],
            typ: None,
            issuer: "https://op.example",
            audience: None,
            allow_expired: false,
        };
        crate::jwt::verify::<Claims>(set, token, &expect).is_ok()
    }

    fn kids(set: &KeySet, state: KeyState) -> Vec<String> {
        set.describe()
            .into_iter()
            .filter(|k| k.state == state)
            .map(|k| k.kid)
            .collect()
    }

    #[test]
    fn a_rotation_is_published_then_signs_then_retires() {
        crate::jwt::ring_provider::install();
        let dir = temp_dir();
        let t0 = 1_000_000;
        let r = 100;
        let (mut w, set) = KeyWatcher::open(&dir, r, t0).unwrap_or_else(|e| panic!("{e:#}"));
        let old = set.active(Alg::ES256).kid.clone();
        assert!(w.poll(t0).is_none(), "nothing changed");
        let old_token = token(&set);

        let rotated =
            super::super::rotate(&dir, &[Alg::ES256], t0 + 10).unwrap_or_else(|e| panic!("{e:#}"));
        let new = rotated[0].kid.clone();
        let set = w.poll(t0 + 1).unwrap_or_else(|| panic!("new file seen"));
        assert_eq!(set.active(Alg::ES256).kid, old, "not before its signs-from");
        assert!(
            set.contains(&new) && set.find(&new).is_some(),
            "published ahead"
        );
        assert_eq!(kids(&set, KeyState::Next), std::slice::from_ref(&new));
        let jwks: serde_json::Value = serde_json::from_slice(set.jwks_json()).unwrap_or_default();
        assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(4));
        assert!(w.poll(t0 + 9).is_none(), "no change until signs-from");

        let set = w.poll(t0 + 10).unwrap_or_else(|| panic!("takes over"));
        assert_eq!(set.active(Alg::ES256).kid, new);
        assert_eq!(kids(&set, KeyState::Retiring), std::slice::from_ref(&old));
        assert!(verifies(&set, &old_token), "old key still verifies");
        assert!(verifies(&set, &token(&set)), "the new key signs");
        assert!(w.poll(t0 + 10 + r - 1).is_none());

        let set = w.poll(t0 + 10 + r).unwrap_or_else(|| panic!("retires"));
        assert!(
            !set.contains(&old) && !verifies(&set, &old_token),
            "retired keys are neither published nor accepted"
        );
        let jwks: serde_json::Value = serde_json::from_slice(set.jwks_json()).unwrap_or_default();
        assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(3));

        // Pruned once retired for another window; the watcher does not mind the file going.
        assert!(super::super::prune(&dir, t0 + 10 + 2 * r - 1, r).is_empty());
        let pruned = super::super::prune(&dir, t0 + 10 + 2 * r, r);
        assert_eq!(pruned.len(), 1, "{pruned:?}");
        assert!(
            w.poll(t0 + 10 + 2 * r).is_none(),
            "a retired file going changes nothing"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn unloadable_files_are_skipped_and_a_missing_algorithm_keeps_the_current_set() {
        crate::jwt::ring_provider::install();
        let dir = temp_dir();
        let (mut w, set) = KeyWatcher::open(&dir, 100, 1000).unwrap_or_else(|e| panic!("{e:#}"));
        let es = set.active(Alg::ES256).kid.clone();
        std::fs::write(dir.join("es256-1500.pem"), "not a key").unwrap_or_else(|e| panic!("{e}"));
        assert!(w.poll(1600).is_none(), "garbage is ignored");
        for f in files::key_files(&dir).unwrap_or_default() {
            if f.alg == Alg::ES256 {
                std::fs::remove_file(dir.join(&f.name)).unwrap_or_else(|e| panic!("{e}"));
            }
        }
        assert!(w.poll(1600).is_none(), "no ES256 key: not applied");
        let ring = KeyRing::new(set);
        assert_eq!(ring.current().active(Alg::ES256).kid, es);
        let _ = std::fs::remove_dir_all(dir);
    }
}
