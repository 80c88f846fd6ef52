//! Shared keys: generated once per test process (RSA generation is slow), copied into every
//! server.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

use super::process::run_blocking;
use super::{CLI_TIMEOUT, gatehouse_cmd};

pub struct SharedKeys {
    /// (relative path, bytes, permissions) of every file `gatehouse keys init` wrote.
    files: Vec<(PathBuf, Vec<u8>, std::fs::Permissions)>,
    /// The `--json` output: `{"keys":[{"kid","alg"}]}`.
    pub json: Value,
}

pub fn shared_keys() -> &'static SharedKeys {
    static KEYS: OnceLock<Result<SharedKeys, String>> = OnceLock::new();
    KEYS.get_or_init(init_shared_keys)
        .as_ref()
        .unwrap_or_else(|e| panic!("shared `gatehouse keys init` failed: {e}"))
}

fn init_shared_keys() -> Result<SharedKeys, String> {
    let tmp = tempfile::Builder::new()
        .prefix("gatehouse-it-keys-")
        .tempdir()
        .map_err(|e| format!("tempdir: {e}"))?;
    let keys = tmp.path().join("keys");
    let env = vec![
        ("GATEHOUSE_KEYS_DIR".to_string(), keys.display().to_string()),
        (
            "GATEHOUSE_DATABASE_URL".to_string(),
            format!("sqlite://{}/keys-init.db", tmp.path().display()),
        ),
        ("GATEHOUSE_LOG".to_string(), "warn".to_string()),
    ];
    let mut cmd = gatehouse_cmd(tmp.path(), &env);
    cmd.args(["keys", "init", "--json"]);
    let out = run_blocking(cmd, None, CLI_TIMEOUT);
    if !out.status.success() {
        return Err(out.describe());
    }
    let json: Value = serde_json::from_str(out.stdout.trim()).map_err(|e| {
        format!(
            "keys init --json printed no JSON object ({e}):\n{}",
            out.describe()
        )
    })?;
    let mut files = Vec::new();
    collect_files(&keys, &keys, &mut files)
        .map_err(|e| format!("reading {}: {e}", keys.display()))?;
    if files.is_empty() {
        return Err(format!("keys init wrote no file into {}", keys.display()));
    }
    Ok(SharedKeys { files, json })
}

fn collect_files(
    root: &Path,
    dir: &Path,
    out: &mut Vec<(PathBuf, Vec<u8>, std::fs::Permissions)>,
) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            collect_files(root, &path, out)?;
        } else {
            let rel = path.strip_prefix(root).expect("under root").to_path_buf();
            out.push((rel, std::fs::read(&path)?, entry.metadata()?.permissions()));
        }
    }
    Ok(())
}

impl SharedKeys {
    /// Writes the key files into `dir`, with their permissions.
    pub(super) fn copy_into(&self, dir: &Path) {
        for (rel, bytes, perms) in &self.files {
            let dest = dir.join(rel);
            std::fs::create_dir_all(dest.parent().expect("parent")).expect("create keys dir");
            std::fs::write(&dest, bytes).expect("copy key file");
            std::fs::set_permissions(&dest, perms.clone()).expect("key file permissions");
        }
    }

    pub fn kids(&self) -> Vec<(String, String)> {
        self.json["keys"]
            .as_array()
            .unwrap_or_else(|| panic!("keys init JSON has no keys array: {}", self.json))
            .iter()
            .map(|k| {
                (
                    k["kid"].as_str().expect("kid string").to_string(),
                    k["alg"].as_str().expect("alg string").to_string(),
                )
            })
            .collect()
    }
}
