//! Redis over TLS (`rediss://`): a throwaway `redis-server` with a certificate from a CA made by
//! the test (openssl). Trusting that CA (GATEHOUSE_REDIS_CA_FILE), Gatehouse signs users in
//! through it; without it the certificate is refused and nothing that needs Redis is served.
//!
//! Needs redis-server (built with TLS, as Debian's is) and openssl; under CI=true (the same
//! switch as the other Redis tests) their absence is a failure.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// Runs a command, panicking with its output when it fails.
fn run(dir: &Path, args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", args[0]));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for IP 127.0.0.1 signed by it (P-256, two days).
fn make_certificates(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec!["openssl", "req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=gatehouse test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]);
    run(dir, &ca);
    let mut csr = vec!["openssl", "req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    run(dir, &csr);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext.cnf");
    run(
        dir,
        &[
            "openssl",
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
}

/// `redis-server` answering TLS only, killed on drop.
struct TlsRedis(Child);

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_tls_redis(dir: &Path) -> (TlsRedis, u16) {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = Command::new("redis-server")
        .args(["--port", "0", "--tls-port", &port.to_string()])
        .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .args([
            "--tls-cert-file",
            "server.pem",
            "--tls-key-file",
            "server.key",
        ])
        .args(["--tls-ca-cert-file", "ca.pem", "--tls-auth-clients", "no"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server must be installed");
    let redis = TlsRedis(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "redis-server (TLS) did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (redis, port)
}

/// Whether the TLS test can run: Redis tests enabled, and openssl available.
fn enabled() -> bool {
    let wanted = std::env::var("GATEHOUSE_TEST_REDIS_URL").is_ok_and(|v| !v.trim().is_empty());
    let ci = std::env::var("CI").as_deref() == Ok("true");
    if !wanted && !ci {
        println!("skipped: GATEHOUSE_TEST_REDIS_URL is not set");
        return false;
    }
    let openssl = Command::new("openssl").arg("version").output().is_ok();
    assert!(
        openssl || !ci,
        "openssl is needed for the Redis TLS test when CI=true"
    );
    openssl
}

#[tokio::test]
async fn rediss_with_the_configured_ca_works_and_an_unknown_certificate_is_refused() {
    if !enabled() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    make_certificates(dir.path());
    let (_redis, port) = start_tls_redis(dir.path());
    let url = format!("rediss://127.0.0.1:{port}");
    let ca = dir.path().join("ca.pem");
    let ca = ca.to_str().expect("utf-8 path");

    let f = fixture_env(
        Backend::Sqlite,
        &[
            ("GATEHOUSE_REDIS_URL", &url),
            ("GATEHOUSE_REDIS_CA_FILE", ca),
            ("GATEHOUSE_REDIS_TIMEOUT_MS", "1000"),
        ],
    )
    .await;
    let s = &f.server;
    let mut ready = s.get("/readyz").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while ready.json()["events"] != "subscribed" && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        ready = s.get("/readyz").await;
    }
    assert_eq!(ready.status, 200, "{}", ready.describe());
    assert_eq!(ready.json()["redis"], "ok");
    assert_eq!(ready.json()["events"], "subscribed", "{}", ready.describe());
    let browser = s.browser();
    let t = s
        .tokens(&f.client, &browser, &Authz::new(&f.client), &f.user)
        .await;
    assert_eq!(s.userinfo(&t.access).await.status, 200);
    assert_eq!(
        browser.prompt_none(&f.client).await.get("error"),
        None,
        "the session lives in the TLS Redis"
    );

    // The system's roots do not know the test CA: refused, fail closed.
    let untrusted = TestServer::start(
        Backend::Sqlite,
        &[
            ("GATEHOUSE_REDIS_URL", &url),
            ("GATEHOUSE_REDIS_TIMEOUT_MS", "1000"),
        ],
    )
    .await;
    let r = untrusted.get("/readyz").await;
    assert_eq!(r.status, 503, "{}", r.describe());
    assert_eq!(r.json()["redis"], "unavailable", "{}", r.describe());
    let r = untrusted.browser().get("/login").await;
    assert_eq!(r.status, 503, "{}", r.describe());
}
