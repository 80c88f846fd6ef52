//! Running the `gatehouse` binary as a command (the CLI), with a deadline and a clean
//! environment, and the CLI against a test server's database.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{BIN, CLI_TIMEOUT, TestServer};

#[derive(Debug)]
pub struct CliOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    pub fn describe(&self) -> String {
        format!(
            "exit: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Runs a command to completion with a deadline (killed and reported when it is exceeded).
pub(super) fn run_blocking(
    mut cmd: Command,
    stdin: Option<String>,
    timeout: Duration,
) -> CliOutput {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let shown = format!("{cmd:?}");
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {shown}: {e}"));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        // Ignore EPIPE: a CLI that does not read stdin is judged by its exit status instead.
        let _ = pipe.write_all(input.as_bytes());
    }
    let out = drain(child.stdout.take().expect("stdout pipe"));
    let err = drain(child.stderr.take().expect("stderr pipe"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait().expect("try_wait") {
            Some(s) => break s,
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{shown} did not finish within {timeout:?}\nstdout: {}\nstderr: {}",
                    out.join().unwrap_or_default(),
                    err.join().unwrap_or_default()
                );
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    CliOutput {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

fn drain(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// A `gatehouse` command with a clean environment: no GATEHOUSE_* leaks in from the developer's shell.
pub fn gatehouse_cmd(cwd: &Path, env: &[(String, String)]) -> Command {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("GATEHOUSE_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.current_dir(cwd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

pub async fn run_cmd(cmd: Command, stdin: Option<String>, timeout: Duration) -> CliOutput {
    tokio::task::spawn_blocking(move || run_blocking(cmd, stdin, timeout))
        .await
        .expect("command runner thread")
}

// The CLI against the same database as a test server.

impl TestServer {
    pub async fn cli_raw(&self, args: &[&str], stdin: Option<&str>) -> CliOutput {
        let mut cmd = gatehouse_cmd(self.dir.path(), self.env());
        cmd.args(args);
        run_cmd(cmd, stdin.map(str::to_string), CLI_TIMEOUT).await
    }

    /// Runs a CLI command that must succeed and print one JSON object.
    pub async fn cli(&self, args: &[&str]) -> Value {
        self.cli_stdin(args, None).await
    }

    pub async fn cli_stdin(&self, args: &[&str], stdin: Option<&str>) -> Value {
        let out = self.cli_raw(args, stdin).await;
        assert!(
            out.status.success(),
            "gatehouse {args:?} failed\n{}",
            out.describe()
        );
        serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "gatehouse {args:?} did not print one JSON object ({e})\n{}",
                out.describe()
            )
        })
    }
}
