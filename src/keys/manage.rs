//! What `gatehouse keys rotate|list` do to the directory: write new keys, delete long-retired
//! ones, list every key with its state. Running servers pick the changes up by themselves.

use std::path::Path;

use anyhow::Context;

use super::files::{self, KeyFile};
use super::schedule;
use super::{KeyInfo, SigningKey};
use crate::jwt::Alg;

/// A key written by [`rotate`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rotated {
    pub kid: String,
    pub alg: &'static str,
    pub signs_from: i64,
    pub file: String,
}

/// Writes one new key per algorithm in `algs`, signing from `signs_from` (a later second if
/// that name is taken). The directory is created when missing.
pub fn rotate(dir: &Path, algs: &[Alg], signs_from: i64) -> anyhow::Result<Vec<Rotated>> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create keys dir {}", dir.display()))?;
    let mut out = Vec::new();
    for &alg in algs {
        let der = files::generate(alg)?;
        // Parsed before it is written: a key we could not load is never published.
        let kid = SigningKey::from_pkcs8(alg, signs_from, &der)?.kid;
        let file = files::write_key(dir, alg, signs_from, &der)?;
        out.push(Rotated {
            kid,
            alg: alg.as_str(),
            signs_from: file.signs_from,
            file: file.name,
        });
    }
    Ok(out)
}

/// Deletes the key files retired for longer than `retention` at `now` (names suffice: no key
/// is parsed), and temporary files a crashed writer left. Returns the deleted names.
pub fn prune(dir: &Path, now: i64, retention: i64) -> Vec<String> {
    let mut removed = Vec::new();
    let Ok(found) = files::key_files(dir) else {
        return removed;
    };
    let times: Vec<(Alg, i64)> = found.iter().map(|f| (f.alg, f.signs_from)).collect();
    let slots = schedule::evaluate(&times, now, retention);
    for (file, slot) in found.iter().zip(&slots) {
        if schedule::prunable(slot, now, retention) {
            match std::fs::remove_file(files::path_of(dir, file)) {
                Ok(()) => removed.push(file.name.clone()),
                Err(e) => tracing::warn!(file = %file.name, error = %e, "could not prune"),
            }
        }
    }
    removed.extend(files::remove_stale_temp_files(dir));
    removed
}

/// The key files of a directory, as `gatehouse keys list` shows them.
#[derive(Debug)]
pub struct Inventory {
    /// Every loadable key with its state, retired ones included.
    pub keys: Vec<KeyInfo>,
    /// `(file, reason)` of the key files that cannot be loaded (servers ignore them).
    pub broken: Vec<(String, String)>,
}

/// Every key file in `dir` with its state at `now`.
pub fn inventory(dir: &Path, now: i64, retention: i64) -> anyhow::Result<Inventory> {
    let found = files::key_files(dir).with_context(|| format!("reading {}", dir.display()))?;
    let mut loaded: Vec<(KeyFile, SigningKey)> = Vec::new();
    let mut broken = Vec::new();
    for file in found {
        match SigningKey::read(dir, &file) {
            Ok(key) => loaded.push((file, key)),
            Err(e) => broken.push((file.name, format!("{e:#}"))),
        }
    }
    let times: Vec<(Alg, i64)> = loaded.iter().map(|(f, _)| (f.alg, f.signs_from)).collect();
    let slots = schedule::evaluate(&times, now, retention);
    let keys = loaded
        .iter()
        .zip(slots)
        .map(|((file, key), slot)| KeyInfo::new(key, slot, &file.name))
        .collect();
    Ok(Inventory { keys, broken })
}
