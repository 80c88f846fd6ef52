//! The server process: a `gatehouse` started per test on a fresh database, its output kept for
//! failing tests. Its other helpers live by concept: the CLI in `process`, fixtures (clients,
//! users) in `fixtures`, the OAuth endpoints and flows in `oauth`, the browser in `browser`.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use url::Url;

use super::pg::{PgDb, create_pg_db};
use super::{
    ADMIN_PASSWORD, BIN, Backend, HTTP_TIMEOUT, Resp, START_TIMEOUT, form_encode, gatehouse_cmd,
    post_form_to, shared_keys,
};

struct ServerProc {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How to start a server. `env` overrides the harness defaults; `unset` removes one of them.
#[derive(Default, Clone)]
pub struct Opts {
    pub env: Vec<(String, String)>,
    pub unset: Vec<String>,
    /// Start with a keys dir that does not exist yet (the server must generate its keys).
    pub no_keys: bool,
}

impl Opts {
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.to_string(), v.to_string()));
        self
    }
    pub fn unset(mut self, k: &str) -> Self {
        self.unset.push(k.to_string());
        self
    }
}

pub struct TestServer {
    /// `http://127.0.0.1:PORT` as printed on the `listening on` line.
    pub base: String,
    /// The issuer the server should use: GATEHOUSE_ISSUER when set, else `base`.
    pub issuer: String,
    pub db_url: String,
    pub keys_dir: PathBuf,
    env: Vec<(String, String)>,
    proc: Option<ServerProc>,
    _pg: Option<PgDb>,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
}

impl TestServer {
    pub async fn start(backend: Backend, extra_env: &[(&str, &str)]) -> TestServer {
        let mut opts = Opts::default();
        for (k, v) in extra_env {
            opts = opts.env(k, v);
        }
        Self::start_with(backend, opts).await
    }

    pub async fn start_with(backend: Backend, opts: Opts) -> TestServer {
        let server = Self::prepare(backend, opts).await;
        server.launch().await
    }

    /// Sets up the temp dir, database and keys without starting the process.
    pub async fn prepare(backend: Backend, opts: Opts) -> TestServer {
        let dir = tempfile::Builder::new()
            .prefix("gatehouse-it-")
            .tempdir()
            .expect("create temp dir");
        let keys_dir = dir.path().join("keys");
        if !opts.no_keys {
            let keys = tokio::task::spawn_blocking(shared_keys)
                .await
                .expect("keys init thread");
            keys.copy_into(&keys_dir);
        }
        let (pg, db_url) = match backend {
            Backend::Sqlite => (None, format!("sqlite://{}/gh.db", dir.path().display())),
            Backend::Postgres => {
                let (pg, url) = create_pg_db().await;
                (Some(pg), url)
            }
        };
        let mut env: Vec<(String, String)> = vec![
            ("GATEHOUSE_LISTEN".into(), "127.0.0.1:0".into()),
            ("GATEHOUSE_DATABASE_URL".into(), db_url.clone()),
            ("GATEHOUSE_KEYS_DIR".into(), keys_dir.display().to_string()),
            ("GATEHOUSE_ADMIN_PASSWORD".into(), ADMIN_PASSWORD.into()),
            ("GATEHOUSE_LOG".into(), "warn".into()),
        ];
        for (k, v) in opts.env {
            env.retain(|(ek, _)| *ek != k);
            env.push((k, v));
        }
        env.retain(|(k, _)| !opts.unset.contains(k));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(HTTP_TIMEOUT)
            .build()
            .expect("reqwest client");
        TestServer {
            base: String::new(),
            issuer: String::new(),
            db_url,
            keys_dir,
            env,
            proc: None,
            _pg: pg,
            dir,
            http,
        }
    }

    /// The environment the server (and the CLI) runs with.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// Spawns the server process and waits for its `listening on http://…` line.
    pub async fn launch(mut self) -> TestServer {
        self.spawn_proc().await;
        self
    }

    async fn spawn_proc(&mut self) {
        let mut cmd = gatehouse_cmd(self.dir.path(), &self.env);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {BIN}: {e}"));
        let stdout_buf = Arc::new(Mutex::new(String::new()));
        let stderr_buf = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel::<String>();
        {
            let out = child.stdout.take().expect("stdout pipe");
            let buf = stdout_buf.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if let Some(rest) = line.strip_prefix("listening on ") {
                        let _ = tx.send(rest.trim().to_string());
                    }
                    let mut b = buf.lock().expect("stdout buffer");
                    b.push_str(&line);
                    b.push('\n');
                }
            });
        }
        {
            let mut err = child.stderr.take().expect("stderr pipe");
            let buf = stderr_buf.clone();
            std::thread::spawn(move || {
                let mut chunk = [0u8; 4096];
                loop {
                    match err.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf
                            .lock()
                            .expect("stderr buffer")
                            .push_str(&String::from_utf8_lossy(&chunk[..n])),
                    }
                }
            });
        }
        let mut proc = ServerProc {
            child,
            stdout: stdout_buf,
            stderr: stderr_buf,
        };
        let got = tokio::task::spawn_blocking(move || rx.recv_timeout(START_TIMEOUT))
            .await
            .expect("waiting thread");
        let base = match got {
            Ok(base) => base,
            Err(e) => {
                let exited = proc.child.try_wait().ok().flatten();
                if exited.is_none() {
                    let _ = proc.child.kill();
                }
                let _ = proc.child.wait();
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "server did not print `listening on http://…` ({e:?}; exit status {exited:?}) within {START_TIMEOUT:?}\n\
                     env: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                    self.env,
                    proc.stdout.lock().expect("stdout"),
                    proc.stderr.lock().expect("stderr"),
                );
            }
        };
        assert!(
            base.starts_with("http://127.0.0.1:"),
            "listening line must carry the real bound address, got {base:?}"
        );
        let port: u16 = base["http://127.0.0.1:".len()..]
            .trim_end_matches('/')
            .parse()
            .unwrap_or_else(|e| panic!("port in {base:?}: {e}"));
        assert_ne!(port, 0, "listening line shows port 0, not the bound port");
        self.base = base.trim_end_matches('/').to_string();
        self.issuer = self
            .env
            .iter()
            .find(|(k, _)| k == "GATEHOUSE_ISSUER")
            .map(|(_, v)| v.trim_end_matches('/').to_string())
            .unwrap_or_else(|| self.base.clone());
        self.proc = Some(proc);
    }

    /// Kills the process and starts it again on the same database and keys.
    pub async fn restart(&mut self) {
        self.proc = None;
        self.spawn_proc().await;
    }

    /// Stops the server (e.g. before inspecting files); `restart` brings it back.
    pub fn stop(&mut self) {
        self.proc = None;
    }

    pub fn stdout(&self) -> String {
        self.proc
            .as_ref()
            .map(|p| p.stdout.lock().expect("stdout").clone())
            .unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        self.proc
            .as_ref()
            .map(|p| p.stderr.lock().expect("stderr").clone())
            .unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> Resp {
        Resp::send(self.http.get(self.url(path))).await
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Resp {
        let url = Url::parse(&self.url(path)).expect("URL");
        post_form_to(&self.http, url, &[], form_encode(form)).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Show what the server said: a failing test's output then holds both sides.
            eprintln!(
                "--- server stdout ({}) ---\n{}\n--- server stderr ---\n{}",
                self.base,
                tail(&self.stdout(), 4000),
                tail(&self.stderr(), 12000)
            );
        }
        // The process goes first so that the database can be dropped afterwards.
        self.proc = None;
    }
}

fn tail(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}
