//! The example sub-application (`examples/subapp`, package `gatehouse-subapp`) as a child
//! process.
//!
//! Cargo sets `CARGO_BIN_EXE_<name>` only for binaries of the package under test, and the
//! example is another workspace member, so the binary is built here with
//! `cargo build -p gatehouse-subapp` (once per test process; a no-op when it is up to date)
//! and found through cargo's JSON messages, which name the executable wherever the target
//! directory is. This always runs the current source, also under `cargo test --test it`,
//! which by itself does not build other members. (Building only this package resolves
//! features apart from the workspace's test build, so a fresh target directory compiles about
//! 80 dependencies a second time, once; the alternatives meant rebuilding the running test
//! binary or every target of the workspace.)

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, mpsc};

use crate::common::{BIN, START_TIMEOUT, TestServer};

const PACKAGE: &str = "gatehouse-subapp";

/// Builds the example once for all tests of this process and returns its executable.
fn binary() -> PathBuf {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(build).clone()
}

fn build() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_owned());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args([
        "build",
        "-p",
        PACKAGE,
        "--bin",
        PACKAGE,
        "--message-format=json-render-diagnostics",
    ]);
    // Same profile as the gatehouse binary under test (`target/<profile dir>/gatehouse`).
    let profile_dir = Path::new(BIN)
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("debug");
    if profile_dir != "debug" {
        cmd.args(["--profile", profile_dir]);
    }
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "building the example sub-application failed: {cmd:?}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == PACKAGE)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo named no executable for {PACKAGE}"))
}

/// A running example app; killed when dropped (its output is shown if the test failed).
pub struct SubApp {
    /// `http://127.0.0.1:PORT`, as the app printed it.
    pub base: String,
    child: Child,
    output: Arc<Mutex<String>>,
}

impl SubApp {
    /// Starts the app for `client_id` against `server` (the app runs discovery at start).
    pub async fn start(server: &TestServer, client_id: &str, secret: &str) -> SubApp {
        let exe = tokio::task::spawn_blocking(binary)
            .await
            .expect("build thread");
        let mut cmd = Command::new(&exe);
        cmd.env_remove("PUBLIC_URL")
            .env_remove("DECISION_TTL_MS")
            .env("GATEHOUSE_ISSUER", &server.issuer)
            .env("CLIENT_ID", client_id)
            .env("CLIENT_SECRET", secret)
            .env("LISTEN", "127.0.0.1:0")
            .env("SUBAPP_LOG", "info,gatehouse_client=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", exe.display()));
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel::<String>();
        let out = child.stdout.take().expect("stdout pipe");
        let buf = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("listening on ") {
                    let _ = tx.send(rest.trim().to_owned());
                }
                buf.lock().expect("output").push_str(&format!("{line}\n"));
            }
        });
        let mut err = child.stderr.take().expect("stderr pipe");
        let buf = output.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = err.read(&mut chunk) {
                let text = String::from_utf8_lossy(&chunk[..n]).into_owned();
                buf.lock().expect("output").push_str(&text);
            }
        });
        let got = tokio::task::spawn_blocking(move || rx.recv_timeout(START_TIMEOUT))
            .await
            .expect("waiting thread");
        let mut app = SubApp {
            base: String::new(),
            child,
            output,
        };
        match got {
            Ok(base) => app.base = base.trim_end_matches('/').to_owned(),
            Err(e) => {
                let _ = app.child.kill();
                let status = app.child.wait();
                std::thread::sleep(std::time::Duration::from_millis(200));
                panic!(
                    "example app did not print `listening on` ({e:?}; {status:?})\n{}",
                    app.output()
                );
            }
        }
        app
    }

    /// An absolute URL on the app.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// What the app printed so far.
    pub fn output(&self) -> String {
        self.output.lock().map(|o| o.clone()).unwrap_or_default()
    }
}

impl Drop for SubApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- example app ({}) output ---\n{}",
                self.base,
                self.output()
            );
        }
    }
}
