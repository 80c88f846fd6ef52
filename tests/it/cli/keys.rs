//! Signing keys (P-14): `keys init` and generation of missing keys at start.

use serde_json::Value;

use super::sorted;
use crate::common::*;

matrix!(
    p14_keys_init_generates_all_keys_idempotently,
    p14_server_generates_missing_keys_at_start,
);

fn key_files(dir: &std::path::Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("keys dir {}: {e}", dir.display()))
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    out.sort();
    out
}

async fn p14_keys_init_generates_all_keys_idempotently(b: Backend) {
    let s = TestServer::prepare(
        b,
        Opts {
            no_keys: true,
            ..Opts::default()
        },
    )
    .await;
    assert!(!s.keys_dir.exists());
    let j = s.cli(&["keys", "init", "--json"]).await;
    let keys = j["keys"]
        .as_array()
        .unwrap_or_else(|| panic!("keys array: {j}"));
    let mut algs: Vec<&str> = keys
        .iter()
        .map(|k| k["alg"].as_str().expect("alg"))
        .collect();
    algs.sort();
    assert_eq!(algs, vec!["ES256", "EdDSA", "RS256"], "{j}");
    assert!(
        keys.iter()
            .all(|k| k["kid"].as_str().is_some_and(|v| !v.is_empty())),
        "{j}"
    );
    let files = key_files(&s.keys_dir);
    assert!(!files.is_empty(), "keys written to the keys dir");
    let contents: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(s.keys_dir.join(f)).expect("read"))
        .collect();
    // Running it again generates nothing new.
    let again = s.cli(&["keys", "init", "--json"]).await;
    let kids = |v: &Value| {
        sorted(&Value::Array(
            v["keys"]
                .as_array()
                .expect("keys")
                .iter()
                .map(|k| k["kid"].clone())
                .collect(),
        ))
    };
    assert_eq!(kids(&j), kids(&again), "keys init is idempotent");
    assert_eq!(key_files(&s.keys_dir), files);
    for (f, c) in files.iter().zip(contents) {
        assert_eq!(
            std::fs::read(s.keys_dir.join(f)).expect("read"),
            c,
            "{f} rewritten"
        );
    }
}

async fn p14_server_generates_missing_keys_at_start(b: Backend) {
    let mut s = TestServer::start_with(
        b,
        Opts {
            no_keys: true,
            ..Opts::default()
        },
    )
    .await;
    assert!(!key_files(&s.keys_dir).is_empty(), "server wrote its keys");
    let jwks = s.get("/jwks").await.json();
    let mut algs: Vec<String> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["alg"].as_str().expect("alg").to_string())
        .collect();
    algs.sort();
    assert_eq!(algs, vec!["ES256", "EdDSA", "RS256"]);
    // Restarting loads the same keys.
    s.restart().await;
    let again = s.get("/jwks").await.json();
    assert_eq!(jwks, again, "keys must persist across restarts");
}
