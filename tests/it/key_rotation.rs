//! Signing-key rotation (P-14, R-09). `gatehouse keys rotate` writes new keys into the keys
//! directory; a running server (every instance sharing the directory) publishes them in /jwks
//! within 1 s, signs with them once the publish lead has passed, and keeps the superseded keys
//! published and accepted until every token they signed has expired (successor's signs-from +
//! the longest token lifetime + 60 s of clock skew), then drops them.
//!
//! That window is at least 120 s (a `tk` lives 60 s). Rather than wait for it, the retirement
//! part moves the successors' signs-from back in time by renaming their files: the file name is
//! the schedule, and the server must follow a renamed file like any change of the directory.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use openidconnect::{AuthorizationCode, OAuth2TokenResponse, TokenResponse};
use serde_json::Value;

use crate::common::*;
use crate::multi_instance::{ISSUER, backends, drop_keys, second_instance};

/// How soon a rotation must be published by every instance (the issue's bound).
const PROPAGATION: Duration = Duration::from_secs(1);

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn kid_of(token: &str) -> String {
    let (header, _) = jwt::decode(token);
    header["kid"]
        .as_str()
        .unwrap_or_else(|| panic!("no kid in {header}"))
        .to_string()
}

async fn jwks(s: &TestServer) -> Value {
    let r = s.get("/jwks").await;
    assert_eq!(r.status, 200, "{}", r.describe());
    r.json()
}

async fn jwks_kids(s: &TestServer) -> BTreeSet<String> {
    jwks(s).await["keys"]
        .as_array()
        .expect("keys array")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_string())
        .collect()
}

/// Polls `/jwks` every 20 ms until `done` holds; the time it took. Fails after `limit`.
async fn jwks_until(
    s: &TestServer,
    limit: Duration,
    what: &str,
    done: impl Fn(&BTreeSet<String>) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let kids = jwks_kids(s).await;
        if done(&kids) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "{}: {what} not seen within {limit:?}; /jwks has {kids:?}",
            s.base
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `(alg, kid, signs_from, file)` of the keys `keys rotate --json` created.
fn created(out: &Value) -> Vec<(String, String, i64, String)> {
    out["created"]
        .as_array()
        .unwrap_or_else(|| panic!("no created array: {out}"))
        .iter()
        .map(|k| {
            (
                k["alg"].as_str().expect("alg").to_string(),
                k["kid"].as_str().expect("kid").to_string(),
                k["signs_from"].as_i64().expect("signs_from"),
                k["file"].as_str().expect("file").to_string(),
            )
        })
        .collect()
}

/// `kid → (state, file)` from `keys list --json`, and the retention window.
async fn listing(s: &TestServer) -> (std::collections::HashMap<String, (String, String)>, i64) {
    let out = s.cli(&["keys", "list", "--json"]).await;
    let keys = out["keys"]
        .as_array()
        .unwrap_or_else(|| panic!("no keys array: {out}"))
        .iter()
        .map(|k| {
            (
                k["kid"].as_str().expect("kid").to_string(),
                (
                    k["state"].as_str().expect("state").to_string(),
                    k["file"].as_str().expect("file").to_string(),
                ),
            )
        })
        .collect();
    (keys, out["retention"].as_i64().expect("retention"))
}

/// Renames key `file` so that it signs from `signs_from` (atomically, as a writer would).
fn reschedule(dir: &Path, file: &str, signs_from: i64) -> String {
    let alg = file.split('-').next().expect("alg prefix");
    let name = format!("{alg}-{signs_from}.pem");
    std::fs::rename(dir.join(file), dir.join(&name))
        .unwrap_or_else(|e| panic!("rename {file} → {name}: {e}"));
    name
}

/// A code flow driven by the openidconnect relying party, which verifies the ID token against
/// the JWKS it fetched at discovery. Returns the ID token's kid.
async fn rp_login(s: &TestServer, f: &Fixture) -> String {
    let rp = Rp::discover(s, &f.client).await;
    let pending = rp.authorize_url(&[]);
    let browser = s.browser();
    let first = browser.get(pending.url.as_str()).await;
    let cb = match browser.navigate(first, Some(&f.user), None).await {
        Outcome::Left(cb) => cb,
        Outcome::Page(p) => panic!("flow stopped\n{}", p.describe()),
    };
    let token = rp
        .client
        .exchange_code(AuthorizationCode::new(cb.code().to_string()))
        .expect("token endpoint")
        .set_pkce_verifier(pending.verifier)
        .request_async(&rp.http)
        .await
        .unwrap_or_else(|e| panic!("code exchange failed: {e:?}"));
    let id = token.id_token().expect("id_token");
    rp.verify_id_token(id, token.access_token(), &pending.nonce);
    kid_of(&id.to_string())
}

#[tokio::test]
async fn p14_rotation_publishes_first_signs_after_the_lead_and_retires_after_the_lifetimes() {
    let f = fixture_env(
        Backend::Sqlite,
        &[
            ("GATEHOUSE_ACCESS_TOKEN_TTL", "120"),
            ("GATEHOUSE_ID_TOKEN_TTL", "60"),
        ],
    )
    .await;
    let s = &f.server;
    let browser = s.browser();
    let t0 = s
        .tokens(&f.client, &browser, &Authz::new(&f.client), &f.user)
        .await;
    let old = jwks_kids(s).await;
    assert_eq!(old.len(), 3, "{old:?}");
    assert!(old.contains(&kid_of(&t0.access)) && old.contains(&kid_of(t0.id_token())));
    let (listed, retention) = listing(s).await;
    assert_eq!(
        retention,
        120 + 60,
        "longest lifetime (access token) + 60 s skew"
    );
    let old_files: Vec<String> = old.iter().map(|k| listed[k].1.clone()).collect();

    // Published at once, not signing yet.
    let out = s
        .cli(&["keys", "rotate", "--publish-lead", "3", "--json"])
        .await;
    let new = created(&out);
    assert_eq!(new.len(), 3, "{out}");
    let new_kids: BTreeSet<String> = new.iter().map(|(_, k, _, _)| k.clone()).collect();
    let signs_from = new.iter().map(|(_, _, t, _)| *t).max().unwrap_or(0);
    let took = jwks_until(s, PROPAGATION, "the rotated keys", |k| {
        new_kids.is_subset(k)
    })
    .await;
    println!("rotated keys in /jwks {took:?} after `keys rotate` returned");
    let t1 = Tokens::from_resp(s.refresh(&f.client, t0.refresh(), None).await);
    assert!(
        unix_now() < signs_from,
        "setup: the refresh must happen within the 3 s lead"
    );
    assert!(
        old.contains(&kid_of(&t1.access)) && old.contains(&kid_of(t1.id_token())),
        "before the lead passes the old keys sign"
    );
    assert!(
        old.is_subset(&jwks_kids(s).await),
        "old keys still published"
    );
    let (listed, _) = listing(s).await;
    for kid in &new_kids {
        assert_eq!(listed[kid].0, "next", "{listed:?}");
    }

    // After the lead: new tokens carry the new kids.
    let wait = signs_from - unix_now();
    if wait > 0 {
        tokio::time::sleep(Duration::from_secs(wait as u64)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut refresh = t1.refresh().to_string();
    let t2 = loop {
        let t = Tokens::from_resp(s.refresh(&f.client, &refresh, None).await);
        if new_kids.contains(&kid_of(&t.access)) && new_kids.contains(&kid_of(t.id_token())) {
            break t;
        }
        refresh = t.refresh().to_string();
        assert!(
            Instant::now() < deadline,
            "new keys do not sign after the lead"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(s.userinfo(&t2.access).await.status, 200);
    let rp_kid = rp_login(s, &f).await;
    assert!(
        new_kids.contains(&rp_kid),
        "the RP verified a new-key ID token"
    );

    // Tokens signed by the superseded keys still verify.
    for t in [&t0, &t1] {
        let r = s.userinfo(&t.access).await;
        assert_eq!(r.status, 200, "old-key token at userinfo\n{}", r.describe());
        assert!(s.is_active(&f.client.auth(), &t.access).await);
    }
    let (listed, _) = listing(s).await;
    for kid in &old {
        assert_eq!(listed[kid].0, "retiring", "{listed:?}");
    }

    // Retirement: successors that signed since (retention - 3) s ago retire the old keys in 3 s.
    // The old files move back first, so they stay the predecessors whenever the shared test
    // keys were made.
    let back = unix_now() - retention + 3;
    let mut old_files: Vec<String> = old_files
        .iter()
        .map(|file| reschedule(&s.keys_dir, file, back - 10))
        .collect();
    let mut moved: Vec<String> = new
        .iter()
        .map(|(_, _, _, file)| reschedule(&s.keys_dir, file, back))
        .collect();
    let took = jwks_until(s, Duration::from_secs(6), "retirement", |k| {
        k.is_disjoint(&old) && new_kids.is_subset(k)
    })
    .await;
    println!("old keys left /jwks {took:?} after the successors' files were moved back");
    for t in [&t0, &t1] {
        let r = s.userinfo(&t.access).await;
        assert_eq!(r.status, 401, "retired-key token\n{}", r.describe());
        assert!(!s.is_active(&f.client.auth(), &t.access).await);
    }
    assert_eq!(s.userinfo(&t2.access).await.status, 200);
    let (listed, _) = listing(s).await;
    for kid in &old {
        assert_eq!(listed[kid].0, "retired", "{listed:?}");
    }

    // Prune: retired for longer than the retention window → deleted by the next rotation.
    let back = unix_now() - 2 * retention - 5;
    old_files = old_files
        .iter()
        .map(|file| reschedule(&s.keys_dir, file, back - 10))
        .collect();
    moved = moved
        .iter()
        .map(|file| reschedule(&s.keys_dir, file, back))
        .collect();
    let out = s
        .cli(&[
            "keys",
            "rotate",
            "--alg",
            "ES256",
            "--publish-lead",
            "0",
            "--json",
        ])
        .await;
    let mut pruned: Vec<String> = out["pruned"]
        .as_array()
        .expect("pruned")
        .iter()
        .map(|v| v.as_str().expect("name").to_string())
        .collect();
    pruned.sort();
    let mut expected = old_files.clone();
    expected.sort();
    assert_eq!(pruned, expected, "{out}");
    for file in &old_files {
        assert!(!s.keys_dir.join(file).exists(), "{file} pruned");
    }
    for file in &moved {
        assert!(s.keys_dir.join(file).exists(), "{file} kept");
    }
    let es = &created(&out)[0].1;
    jwks_until(s, PROPAGATION, "the emergency ES256 key", |k| {
        k.contains(es)
    })
    .await;
}

/// When `file` in `dir` was written.
fn written_at(dir: &Path, file: &str) -> SystemTime {
    std::fs::metadata(dir.join(file))
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[tokio::test]
async fn r09_rotation_through_a_is_published_by_every_instance_within_1s() {
    let Some((url, prefix)) = backends() else {
        return;
    };
    let env = [
        ("GATEHOUSE_REDIS_URL", url.as_str()),
        ("GATEHOUSE_REDIS_PREFIX", prefix.as_str()),
        ("GATEHOUSE_ISSUER", ISSUER),
    ];
    let f = fixture_env(Backend::Postgres, &env).await;
    let a = &f.server;
    let b = second_instance(a).await;
    let c = second_instance(a).await;
    let instances = [("A", a), ("B", &b), ("C", &c)];
    let browser = a.browser();
    let t0 = a
        .tokens(&f.client, &browser, &Authz::new(&f.client), &f.user)
        .await;

    let mut worst = Duration::ZERO;
    let mut last = Vec::new();
    for round in 1..=3 {
        let out = a
            .cli(&["keys", "rotate", "--publish-lead", "2", "--json"])
            .await;
        let returned = Instant::now();
        let new = created(&out);
        let kids: BTreeSet<String> = new.iter().map(|(_, k, _, _)| k.clone()).collect();
        // The rotation exists from the moment its last file was written.
        let made = new
            .iter()
            .map(|(_, _, _, file)| written_at(&a.keys_dir, file))
            .max()
            .expect("files");
        let mut seen: Vec<Option<(Duration, Duration)>> = vec![None; instances.len()];
        while seen.iter().any(Option::is_none) {
            for (i, (name, s)) in instances.iter().enumerate() {
                if seen[i].is_none() && kids.is_subset(&jwks_kids(s).await) {
                    let since_write = made.elapsed().unwrap_or_default();
                    seen[i] = Some((since_write, returned.elapsed()));
                    assert!(
                        since_write < PROPAGATION,
                        "round {round}: {name} published the rotated keys {since_write:?} after \
                         they were written"
                    );
                }
            }
            assert!(
                made.elapsed().unwrap_or_default() < PROPAGATION,
                "round {round}: not every instance published the rotated keys within \
                 {PROPAGATION:?}: {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let shown: Vec<String> = instances
            .iter()
            .zip(&seen)
            .map(|((name, _), t)| {
                let (w, r) = t.unwrap_or_default();
                worst = worst.max(w);
                format!("{name} {w:?} after the write ({r:?} after the CLI returned)")
            })
            .collect();
        println!(
            "round {round}: rotated keys published by {}",
            shown.join(", ")
        );
        // Every instance publishes the same kid set (P-14).
        let docs = [jwks(a).await, jwks(&b).await, jwks(&c).await];
        assert!(docs.iter().all(|d| d == &docs[0]), "JWKS differ: {docs:?}");
        last = new;
    }
    println!("worst propagation over 3 rotations × 3 instances: {worst:?}");

    // After the lead, A signs with the newest keys and B and C accept the tokens.
    let newest: BTreeSet<String> = last.iter().map(|(_, k, _, _)| k.clone()).collect();
    let signs_from = last.iter().map(|(_, _, t, _)| *t).max().unwrap_or(0);
    let wait = signs_from - unix_now();
    if wait > 0 {
        tokio::time::sleep(Duration::from_secs(wait as u64)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut refresh = t0.refresh().to_string();
    let t = loop {
        let t = Tokens::from_resp(a.refresh(&f.client, &refresh, None).await);
        if newest.contains(&kid_of(&t.access)) && newest.contains(&kid_of(t.id_token())) {
            break t;
        }
        refresh = t.refresh().to_string();
        assert!(
            Instant::now() < deadline,
            "A does not sign with the new keys"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let r = b.userinfo(&t.access).await;
    assert_eq!(
        r.status,
        200,
        "B accepts A's new-key token\n{}",
        r.describe()
    );
    assert!(c.is_active(&f.client.auth(), &t.access).await, "C too");
    // And the token from before the rotations still verifies everywhere.
    for (name, s) in instances {
        assert_eq!(s.userinfo(&t0.access).await.status, 200, "{name}: old key");
    }

    drop(b);
    drop(c);
    drop_keys(&url, &prefix).await;
}
