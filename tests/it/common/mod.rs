//! Black-box harness: every test spawns its own `gatehouse` process on a fresh database (SQLite file in a
//! temp dir, or a fresh PostgreSQL database when GATEHOUSE_TEST_DATABASE_URL is set) and drives it over
//! real HTTP with a cookie-keeping "browser", a raw OAuth client and an `openidconnect` relying party.
//! Redirects are never followed automatically: tests assert on `Location`.

pub mod api;
pub mod jwt;
pub mod rp;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;
use url::Url;

pub use rp::Rp;

pub const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");
/// PostgreSQL server URL (any database path; a fresh database is created next to it per test).
pub const PG_ENV: &str = "GATEHOUSE_TEST_DATABASE_URL";
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
pub const CLI_TIMEOUT: Duration = Duration::from_secs(60);
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Bootstrap admin password the harness gives every server unless a test unsets it.
pub const ADMIN_PASSWORD: &str = "it-admin-Pw-4c1b9e7d";
/// Registered redirect URI of the default test client (reserved name, never contacted).
pub const REDIRECT: &str = "https://app.example/cb";
pub const POST_LOGOUT: &str = "https://app.example/logged-out";
pub const INCORRECT_LOGIN: &str = "Incorrect username or password.";

// ---------------------------------------------------------------------------------------------
// Backend matrix
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Whether the postgres variant of a scenario runs. Unset URL: skipped locally, a failure under CI=true.
pub fn postgres_available() -> bool {
    match std::env::var(PG_ENV) {
        Ok(v) if !v.trim().is_empty() => true,
        _ => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!(
                    "{PG_ENV} must be set when CI=true: the postgres variants may not be skipped in CI"
                );
            }
            println!("skipped: {PG_ENV} is not set");
            false
        }
    }
}

/// `matrix!(scenario, ...)`: each `async fn scenario(b: Backend)` becomes a module with two tests,
/// `scenario::sqlite` and `scenario::postgres` (the latter skipped when no PostgreSQL URL is given).
macro_rules! matrix {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name($crate::common::Backend::Sqlite).await;
            }
            #[tokio::test]
            async fn postgres() {
                if $crate::common::postgres_available() {
                    super::$name($crate::common::Backend::Postgres).await;
                }
            }
        }
    )+};
}

// ---------------------------------------------------------------------------------------------
// Randomness, PKCE, encoding helpers
// ---------------------------------------------------------------------------------------------

pub fn random_bytes(n: usize) -> Vec<u8> {
    use ring::rand::SecureRandom as _;
    let mut buf = vec![0u8; n];
    ring::rand::SystemRandom::new()
        .fill(&mut buf)
        .expect("system random");
    buf
}

pub fn random_hex(n: usize) -> String {
    random_bytes(n).iter().map(|b| format!("{b:02x}")).collect()
}

pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn b64url_decode(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .unwrap_or_else(|e| panic!("not base64url ({e}): {s:?}"))
}

/// A fresh RFC 7636 verifier (43 chars) — 32 random bytes, base64url.
pub fn pkce_verifier() -> String {
    b64url(&random_bytes(32))
}

pub fn s256(verifier: &str) -> String {
    b64url(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()).as_ref())
}

pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

// ---------------------------------------------------------------------------------------------
// Process helpers
// ---------------------------------------------------------------------------------------------

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
fn run_blocking(mut cmd: Command, stdin: Option<String>, timeout: Duration) -> CliOutput {
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

// ---------------------------------------------------------------------------------------------
// Shared keys: generated once per test process (RSA generation is slow), copied into every server
// ---------------------------------------------------------------------------------------------

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
    fn copy_into(&self, dir: &Path) {
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

// ---------------------------------------------------------------------------------------------
// PostgreSQL: one fresh database per server
// ---------------------------------------------------------------------------------------------

struct PgDb {
    admin_url: String,
    name: String,
}

async fn create_pg_db() -> (PgDb, String) {
    use sqlx::{Connection as _, Executor as _};
    let admin_url = std::env::var(PG_ENV).expect("GATEHOUSE_TEST_DATABASE_URL");
    let name = format!("gh_t_{}", random_hex(12));
    let mut conn = tokio::time::timeout(
        Duration::from_secs(15),
        sqlx::postgres::PgConnection::connect(&admin_url),
    )
    .await
    .unwrap_or_else(|_| panic!("connecting to {admin_url} timed out"))
    .unwrap_or_else(|e| panic!("connecting to {admin_url}: {e}"));
    conn.execute(format!("CREATE DATABASE \"{name}\"").as_str())
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
    let _ = conn.close().await;
    let mut url = Url::parse(&admin_url).expect("GATEHOUSE_TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    (PgDb { admin_url, name }, url.to_string())
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Best effort, on its own runtime: Drop may run inside (or outside) the test's runtime.
        let handle = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                use sqlx::{Connection as _, Executor as _};
                let fut = async {
                    let mut conn = sqlx::postgres::PgConnection::connect(&admin_url)
                        .await
                        .ok()?;
                    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    if conn.execute(sql.as_str()).await.is_err() {
                        let _ = conn
                            .execute(format!("DROP DATABASE IF EXISTS \"{name}\"").as_str())
                            .await;
                    }
                    conn.close().await.ok()
                };
                let _ = tokio::time::timeout(Duration::from_secs(10), fut).await;
            });
        });
        let _ = handle.join();
    }
}

// ---------------------------------------------------------------------------------------------
// The server process
// ---------------------------------------------------------------------------------------------

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

    // -- CLI against the same database --------------------------------------------------------

    pub async fn cli_raw(&self, args: &[&str], stdin: Option<&str>) -> CliOutput {
        let mut cmd = gatehouse_cmd(self.dir.path(), &self.env);
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

    /// `client add` with the default redirect and post-logout URIs plus `extra` flags.
    pub async fn client(&self, extra: &[&str]) -> TestClient {
        let mut args = vec![
            "client",
            "add",
            "--name",
            "Test App",
            "--redirect-uri",
            REDIRECT,
            "--post-logout-redirect-uri",
            POST_LOGOUT,
            "--json",
        ];
        args.extend_from_slice(extra);
        TestClient::from_json(self.cli(&args).await)
    }

    /// `client add` with exactly these flags (plus `--json`).
    pub async fn client_with(&self, flags: &[&str]) -> TestClient {
        let mut args = vec!["client", "add", "--json"];
        args.extend_from_slice(flags);
        TestClient::from_json(self.cli(&args).await)
    }

    pub async fn user(&self, username: &str, password: &str) -> TestUser {
        let email = format!("{username}@example.com");
        let json = self
            .cli(&[
                "user",
                "add",
                "--username",
                username,
                "--password",
                password,
                "--email",
                &email,
                "--name",
                "Alice Example",
                "--json",
            ])
            .await;
        TestUser::from_json(json, password)
    }

    // -- raw HTTP ----------------------------------------------------------------------------

    pub async fn get(&self, path: &str) -> Resp {
        Resp::send(self.http.get(self.url(path))).await
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Resp {
        let url = Url::parse(&self.url(path)).expect("URL");
        post_form_to(&self.http, url, &[], form_encode(form)).await
    }

    pub async fn token(&self, auth: &ClientAuth, form: &[(&str, &str)]) -> Resp {
        self.client_post("/oauth/token", auth, form).await
    }

    pub async fn introspect(&self, auth: &ClientAuth, token: &str) -> Resp {
        self.client_post("/oauth/introspect", auth, &[("token", token)])
            .await
    }

    pub async fn revoke(&self, auth: &ClientAuth, token: &str) -> Resp {
        self.client_post("/oauth/revoke", auth, &[("token", token)])
            .await
    }

    /// Introspects and returns the `active` flag (asserting a well-formed 200 answer).
    pub async fn is_active(&self, auth: &ClientAuth, token: &str) -> bool {
        let r = self.introspect(auth, token).await;
        assert_eq!(
            r.status,
            200,
            "introspection must answer 200\n{}",
            r.describe()
        );
        r.json()["active"]
            .as_bool()
            .unwrap_or_else(|| panic!("introspection without boolean `active`\n{}", r.describe()))
    }

    pub async fn client_post(&self, path: &str, auth: &ClientAuth, form: &[(&str, &str)]) -> Resp {
        let mut pairs: Vec<(&str, &str)> = form.to_vec();
        let mut headers = Vec::new();
        match auth {
            ClientAuth::Basic(id, secret) => {
                let raw = format!("{}:{}", url_encode(id), url_encode(secret));
                let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
                headers.push(("Authorization".to_string(), format!("Basic {b64}")));
            }
            ClientAuth::Post(id, secret) => {
                pairs.push(("client_id", id));
                pairs.push(("client_secret", secret));
            }
            ClientAuth::Public(id) => pairs.push(("client_id", id)),
            ClientAuth::Header(h) => headers.push(("Authorization".to_string(), h.clone())),
            ClientAuth::None => {}
        }
        let url = Url::parse(&self.url(path)).expect("URL");
        post_form_to(&self.http, url, &headers, form_encode(&pairs)).await
    }

    pub async fn userinfo(&self, access_token: &str) -> Resp {
        Resp::send(
            self.http
                .get(self.url("/oauth/userinfo"))
                .bearer_auth(access_token),
        )
        .await
    }

    // -- flows -------------------------------------------------------------------------------

    pub fn browser(&self) -> Browser {
        Browser::new(&self.base)
    }

    /// Authorization code redemption as a raw token request (client auth per client kind).
    pub async fn redeem(&self, client: &TestClient, authz: &Authz, code: &str) -> Resp {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            (
                "redirect_uri",
                authz.get("redirect_uri").unwrap_or(REDIRECT),
            ),
        ];
        if let Some(v) = authz.verifier.as_deref() {
            form.push(("code_verifier", v));
        }
        self.token(&client.auth(), &form).await
    }

    /// Full browser flow (logging in when asked) ending on the client's redirect URI.
    pub async fn code(&self, browser: &Browser, authz: &Authz, user: &TestUser) -> Callback {
        let cb = browser.authorize_as(authz, user).await;
        let expected = authz.get("redirect_uri").unwrap_or(REDIRECT);
        assert!(
            cb.url.as_str().starts_with(&format!("{expected}?")),
            "callback {} is not on the redirect URI {expected}",
            cb.url
        );
        assert!(
            cb.get("error").is_none(),
            "authorization failed: {}",
            cb.url
        );
        cb
    }

    /// Logs in, redeems the code and returns the token response (which must be a 200).
    pub async fn tokens(
        &self,
        client: &TestClient,
        browser: &Browser,
        authz: &Authz,
        user: &TestUser,
    ) -> Tokens {
        let cb = self.code(browser, authz, user).await;
        let r = self.redeem(client, authz, cb.code()).await;
        Tokens::from_resp(r)
    }

    pub async fn refresh(
        &self,
        client: &TestClient,
        refresh_token: &str,
        scope: Option<&str>,
    ) -> Resp {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        self.token(&client.auth(), &form).await
    }

    pub async fn discovery(&self) -> Value {
        let r = self.get("/.well-known/openid-configuration").await;
        assert_eq!(r.status, 200, "discovery\n{}", r.describe());
        r.json()
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

/// A response read off a raw TCP exchange.
#[derive(Debug)]
pub struct RawResp {
    pub status: u16,
    /// Status line and headers of the final response (interim 1xx responses skipped).
    pub head: String,
    pub body: String,
}

impl RawResp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.split("\r\n").skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// A raw HTTP/1.1 exchange over TCP, for requests an HTTP client library refuses to build (a 100 KiB
/// request target) or cannot read the answer to: a server that refuses an oversize body early and closes
/// makes hyper's client fail with EPIPE/IncompleteMessage although the 4xx was sent. The body is written
/// while the response is read, write errors are ignored, and the response is taken as far as it arrived.
pub async fn raw_http(
    base: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> RawResp {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = base.trim_start_matches("http://").to_string();
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    let fut = async move {
        let stream = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        let (mut rd, mut wr) = stream.into_split();
        let writer = tokio::spawn(async move {
            let _ = wr.write_all(&request).await;
            let _ = wr.flush().await;
            wr
        });
        let mut buf = Vec::new();
        let _ = rd.read_to_end(&mut buf).await;
        drop(writer.await);
        buf
    };
    let buf = tokio::time::timeout(HTTP_TIMEOUT, fut)
        .await
        .expect("raw HTTP exchange timed out");
    let mut text = String::from_utf8_lossy(&buf).into_owned();
    // Skip interim responses (100 Continue).
    while text.starts_with("HTTP/1.1 1") {
        match text.find("\r\n\r\n") {
            Some(end) => text = text[end + 4..].to_string(),
            None => break,
        }
    }
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text.as_str(), ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| {
            panic!("no HTTP response (connection closed without a status line): {head:?}")
        });
    RawResp {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

impl RawResp {
    /// As a `Resp` (headers parsed), for the usual assertions.
    pub fn into_resp(self, url: Url) -> Resp {
        let mut headers = HeaderMap::new();
        for line in self.head.split("\r\n").skip(1) {
            if let Some((k, v)) = line.split_once(':')
                && let (Ok(name), Ok(value)) = (
                    reqwest::header::HeaderName::from_bytes(k.trim().as_bytes()),
                    HeaderValue::from_str(v.trim()),
                )
            {
                headers.append(name, value);
            }
        }
        Resp {
            status: self.status,
            headers,
            body: self.body,
            url,
        }
    }
}

/// POSTs a form. Bodies over 16 KiB go over a raw socket (see `raw_http`): a server that refuses them
/// early and closes the connection must still be heard, not turned into a client-side EPIPE.
pub async fn post_form_to(
    http: &reqwest::Client,
    url: Url,
    headers: &[(String, String)],
    body: String,
) -> Resp {
    if body.len() <= 16 * 1024 {
        let mut req = http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded");
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        return Resp::send(req.body(body)).await;
    }
    let base = url.origin().ascii_serialization();
    let target = url[url::Position::BeforePath..].to_string();
    let mut hs: Vec<(&str, &str)> = vec![("Content-Type", "application/x-www-form-urlencoded")];
    hs.extend(headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    raw_http(&base, "POST", &target, &hs, body.as_bytes())
        .await
        .into_resp(url)
}

/// Name/value pairs a browser would submit for the form containing `csrf_token`: its hidden inputs
/// plus the first submit button that has a name.
pub fn form_submission(html: &str) -> Vec<(String, String)> {
    let at = html
        .find("name=\"csrf_token\"")
        .expect("a form with csrf_token");
    let start = html[..at].rfind("<form").expect("<form");
    let end = start + html[start..].find("</form>").expect("</form>");
    let form = &html[start..end];
    let mut out = Vec::new();
    let mut button_seen = false;
    for (i, _) in form.match_indices('<') {
        let tag_end = i + form[i..].find('>').unwrap_or(form.len() - i);
        let tag = &form[i..tag_end];
        let attr = |a: &str| {
            let k = format!("{a}=\"");
            tag.find(&k).map(|p| {
                let v = &tag[p + k.len()..];
                html_unescape(&v[..v.find('"').unwrap_or(v.len())])
            })
        };
        let is_input = tag.starts_with("<input") && attr("type").as_deref() == Some("hidden");
        let is_button = tag.starts_with("<button") && !button_seen;
        if let (true, Some(n)) = (is_input || is_button, attr("name")) {
            if is_button {
                button_seen = true;
            }
            out.push((n, attr("value").unwrap_or_default()));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct TestClient {
    pub id: String,
    pub secret: Option<String>,
    pub json: Value,
}

impl TestClient {
    pub fn from_json(json: Value) -> Self {
        let id = json["client_id"]
            .as_str()
            .unwrap_or_else(|| panic!("client add JSON without client_id: {json}"))
            .to_string();
        let secret = json["client_secret"].as_str().map(str::to_string);
        TestClient { id, secret, json }
    }

    /// Basic auth for confidential clients, bare client_id for public ones.
    pub fn auth(&self) -> ClientAuth {
        match &self.secret {
            Some(s) => ClientAuth::Basic(self.id.clone(), s.clone()),
            None => ClientAuth::Public(self.id.clone()),
        }
    }

    pub fn post_auth(&self) -> ClientAuth {
        ClientAuth::Post(
            self.id.clone(),
            self.secret.clone().expect("confidential client"),
        )
    }
}

#[derive(Clone, Debug)]
pub struct TestUser {
    pub id: String,
    pub username: String,
    pub password: String,
}

impl TestUser {
    pub fn from_json(json: Value, password: &str) -> Self {
        assert!(
            json["id"].as_str().is_some_and(|v| !v.is_empty()),
            "user add JSON without id: {json}"
        );
        TestUser {
            id: json["id"].as_str().unwrap_or_default().to_string(),
            username: json["username"]
                .as_str()
                .unwrap_or_else(|| panic!("user add JSON without username: {json}"))
                .to_string(),
            password: password.to_string(),
        }
    }
}

pub const ALICE_PASSWORD: &str = "correct horse battery staple";

/// A started server with one confidential client (default flags) and the user `alice`.
pub struct Fixture {
    pub server: TestServer,
    pub client: TestClient,
    pub user: TestUser,
}

pub async fn fixture(b: Backend) -> Fixture {
    fixture_env(b, &[]).await
}

pub async fn fixture_env(b: Backend, env: &[(&str, &str)]) -> Fixture {
    let server = TestServer::start(b, env).await;
    let client = server.client(&[]).await;
    let user = server.user("alice", ALICE_PASSWORD).await;
    Fixture {
        server,
        client,
        user,
    }
}

#[derive(Clone, Debug)]
pub enum ClientAuth {
    Basic(String, String),
    Post(String, String),
    Public(String),
    /// A raw Authorization header value.
    Header(String),
    None,
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
    pub url: Url,
}

impl Resp {
    pub async fn send(req: reqwest::RequestBuilder) -> Resp {
        let r = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("HTTP request failed: {e:?}"));
        Resp::read(r).await
    }

    pub async fn read(r: reqwest::Response) -> Resp {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let url = r.url().clone();
        let bytes = r
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("reading body of {url}: {e:?}"));
        Resp {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            url,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("<non-ascii header>"))
    }

    pub fn header_all(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap_or("<non-ascii header>").to_string())
            .collect()
    }

    /// The Location header resolved against the request URL.
    pub fn location(&self) -> Option<Url> {
        self.header("location").map(|l| {
            self.url
                .join(l)
                .unwrap_or_else(|e| panic!("unparsable Location {l:?}: {e}"))
        })
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("expected a JSON body ({e})\n{}", self.describe()))
    }

    pub fn describe(&self) -> String {
        let mut body = self.body.clone();
        if body.len() > 3000 {
            let mut cut = 3000;
            while !body.is_char_boundary(cut) {
                cut -= 1;
            }
            body.truncate(cut);
            body.push_str("…[truncated]");
        }
        format!(
            "{} {}\nheaders: {:?}\nbody: {}",
            self.status, self.url, self.headers, body
        )
    }

    pub fn is_redirect(&self) -> bool {
        matches!(self.status, 301 | 302 | 303 | 307 | 308)
    }

    pub fn is_html(&self) -> bool {
        self.header("content-type")
            .is_some_and(|c| c.to_ascii_lowercase().starts_with("text/html"))
    }

    pub fn csrf(&self) -> String {
        extract_csrf(&self.body)
            .unwrap_or_else(|| panic!("no csrf_token input on the page\n{}", self.describe()))
    }
}

/// RFC 6749 §5.2: status, JSON content type, `error` code, string `error_description` if present.
#[track_caller]
pub fn assert_oauth_error(r: &Resp, status: u16, error: &str) {
    assert_eq!(
        r.status,
        status,
        "expected {status} {error}\n{}",
        r.describe()
    );
    let ct = r
        .header("content-type")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        ct.starts_with("application/json"),
        "error must be JSON, content-type {ct:?}\n{}",
        r.describe()
    );
    let j = r.json();
    assert_eq!(
        j["error"].as_str(),
        Some(error),
        "wrong error code\n{}",
        r.describe()
    );
    if let Some(d) = j.get("error_description") {
        assert!(
            d.is_string(),
            "error_description must be a string\n{}",
            r.describe()
        );
    }
}

/// 401 invalid_client with a WWW-Authenticate challenge (RFC 6749 §5.2).
#[track_caller]
pub fn assert_invalid_client(r: &Resp) {
    assert_oauth_error(r, 401, "invalid_client");
    assert!(
        r.header("www-authenticate").is_some(),
        "401 invalid_client must carry WWW-Authenticate\n{}",
        r.describe()
    );
}

/// An HTML error page with status 400 and no redirect (P-01/P-02).
#[track_caller]
pub fn assert_error_page(r: &Resp) {
    assert_eq!(
        r.status,
        400,
        "expected an HTML 400 error page\n{}",
        r.describe()
    );
    assert!(
        r.header("location").is_none(),
        "error page must not redirect\n{}",
        r.describe()
    );
    assert!(r.is_html(), "error page must be HTML\n{}", r.describe());
}

/// A 303 error redirect to `redirect_uri` with error, echoed state and the issuer (RFC 9207).
#[track_caller]
pub fn assert_error_redirect(
    r: &Resp,
    redirect_uri: &str,
    error: &str,
    state: Option<&str>,
    issuer: &str,
) -> Callback {
    assert_eq!(
        r.status,
        303,
        "expected a 303 error redirect ({error})\n{}",
        r.describe()
    );
    let loc = r
        .location()
        .unwrap_or_else(|| panic!("303 without Location\n{}", r.describe()));
    assert!(
        loc.as_str().starts_with(&format!("{redirect_uri}?")),
        "error redirect goes to {loc}, not to the registered {redirect_uri}"
    );
    let cb = Callback::new(loc);
    assert_eq!(cb.get("error"), Some(error), "wrong error in {}", cb.url);
    assert_eq!(
        cb.get("state"),
        state,
        "state must be echoed exactly in {}",
        cb.url
    );
    assert_eq!(
        cb.get("iss"),
        Some(issuer),
        "RFC 9207 iss missing/wrong in {}",
        cb.url
    );
    assert!(
        cb.get("code").is_none(),
        "error redirect must carry no code: {}",
        cb.url
    );
    cb
}

/// The value of `<input type="hidden" name="csrf_token" value="…">`, entity-decoded.
pub fn extract_csrf(html: &str) -> Option<String> {
    input_value(html, "csrf_token")
}

pub fn input_value(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\"");
    let at = html.find(&needle)?;
    let start = html[..at].rfind('<')?;
    let end = at + html[at..].find('>')?;
    let tag = &html[start..end];
    let v = tag.find("value=\"")? + "value=\"".len();
    let len = tag[v..].find('"')?;
    Some(html_unescape(&tag[v..v + len]))
}

pub fn html_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&#x2f;", "/")
        .replace("&#x2F;", "/")
        .replace("&#47;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

pub fn is_login_form(html: &str) -> bool {
    html.contains("name=\"csrf_token\"")
        && html.contains("name=\"password\"")
        && html.contains("name=\"username\"")
}

pub fn is_consent_form(html: &str) -> bool {
    html.contains("name=\"decision\"")
        && html.contains("value=\"allow\"")
        && html.contains("name=\"csrf_token\"")
}

// ---------------------------------------------------------------------------------------------
// Authorization requests and callbacks
// ---------------------------------------------------------------------------------------------

/// Parameters of an authorization request (order kept, duplicates possible) and its PKCE verifier.
#[derive(Clone, Debug)]
pub struct Authz {
    pub params: Vec<(String, String)>,
    pub verifier: Option<String>,
}

impl Authz {
    /// `response_type=code`, the registered redirect URI, `openid profile email`, random state and nonce,
    /// and an S256 challenge.
    pub fn new(client: &TestClient) -> Authz {
        let verifier = pkce_verifier();
        let mut a = Authz {
            params: Vec::new(),
            verifier: None,
        };
        a = a
            .set("response_type", "code")
            .set("client_id", &client.id)
            .set("redirect_uri", REDIRECT)
            .set("scope", "openid profile email")
            .set("state", &random_hex(12))
            .set("nonce", &random_hex(12));
        a.with_pkce(&verifier)
    }

    pub fn with_pkce(mut self, verifier: &str) -> Authz {
        self = self
            .set("code_challenge", &s256(verifier))
            .set("code_challenge_method", "S256");
        self.verifier = Some(verifier.to_string());
        self
    }

    pub fn no_pkce(mut self) -> Authz {
        self.verifier = None;
        self.remove("code_challenge")
            .remove("code_challenge_method")
    }

    /// Replaces every occurrence of `k` (or appends it).
    pub fn set(mut self, k: &str, v: &str) -> Authz {
        self.params.retain(|(pk, _)| pk != k);
        self.params.push((k.to_string(), v.to_string()));
        self
    }

    /// Appends `k` even when it is already present (duplicated parameter).
    pub fn add(mut self, k: &str, v: &str) -> Authz {
        self.params.push((k.to_string(), v.to_string()));
        self
    }

    pub fn remove(mut self, k: &str) -> Authz {
        self.params.retain(|(pk, _)| pk != k);
        self
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(pk, _)| pk == k)
            .map(|(_, v)| v.as_str())
    }

    pub fn query(&self) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.params {
            s.append_pair(k, v);
        }
        s.finish()
    }

    pub fn path(&self) -> String {
        format!("/oauth/authorize?{}", self.query())
    }

    pub fn pairs(&self) -> Vec<(&str, &str)> {
        self.params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
}

/// A redirect that left the server: the client callback (or any other foreign URL).
#[derive(Clone, Debug)]
pub struct Callback {
    pub url: Url,
    pub params: Vec<(String, String)>,
}

impl Callback {
    pub fn new(url: Url) -> Callback {
        let params = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Callback { url, params }
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(pk, _)| pk == k)
            .map(|(_, v)| v.as_str())
    }

    pub fn code(&self) -> &str {
        self.get("code")
            .unwrap_or_else(|| panic!("no code in callback {}", self.url))
    }
}

// ---------------------------------------------------------------------------------------------
// Browser: cookie jar kept by hand (so tests can inspect, copy and replay cookies)
// ---------------------------------------------------------------------------------------------

pub struct Browser {
    pub http: reqwest::Client,
    pub base: Url,
    cookies: Mutex<Vec<(String, String)>>,
}

pub enum Outcome {
    /// The flow left the server (a 30x to another origin), usually to the client's redirect URI.
    Left(Callback),
    /// The flow stopped on a page of the server.
    Page(Resp),
}

impl Browser {
    pub fn new(base: &str) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(HTTP_TIMEOUT)
                .build()
                .expect("reqwest client"),
            base: Url::parse(base).expect("base URL"),
            cookies: Mutex::new(Vec::new()),
        }
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies
            .lock()
            .expect("jar")
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    pub fn set_cookie(&self, name: &str, value: &str) {
        let mut jar = self.cookies.lock().expect("jar");
        jar.retain(|(n, _)| n != name);
        jar.push((name.to_string(), value.to_string()));
    }

    fn cookie_header(&self) -> Option<HeaderValue> {
        let jar = self.cookies.lock().expect("jar");
        if jar.is_empty() {
            return None;
        }
        let s = jar
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        Some(HeaderValue::from_str(&s).expect("cookie header"))
    }

    fn store(&self, r: &Resp) {
        for sc in r.header_all("set-cookie") {
            let first = sc.split(';').next().unwrap_or_default();
            let Some((name, value)) = first.split_once('=') else {
                continue;
            };
            let lower = sc.to_ascii_lowercase();
            let deleted = lower.contains("max-age=0")
                || lower.contains("expires=thu, 01 jan 1970")
                || value.is_empty();
            let mut jar = self.cookies.lock().expect("jar");
            jar.retain(|(n, _)| n != name.trim());
            if !deleted {
                jar.push((name.trim().to_string(), value.trim().to_string()));
            }
        }
    }

    fn abs(&self, url: &str) -> Url {
        self.base
            .join(url)
            .unwrap_or_else(|e| panic!("bad URL {url}: {e}"))
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        let req = match self.cookie_header() {
            Some(c) => req.header("cookie", c),
            None => req,
        };
        let r = Resp::send(req).await;
        self.store(&r);
        r
    }

    pub async fn get(&self, url: &str) -> Resp {
        self.send(self.http.get(self.abs(url))).await
    }

    pub async fn get_with(&self, url: &str, headers: &[(&str, &str)]) -> Resp {
        let mut req = self.http.get(self.abs(url));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req).await
    }

    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Resp {
        let headers: Vec<(String, String)> = self
            .cookie_header()
            .map(|c| {
                (
                    "Cookie".to_string(),
                    c.to_str().expect("ASCII cookie").to_string(),
                )
            })
            .into_iter()
            .collect();
        let r = post_form_to(&self.http, self.abs(url), &headers, form_encode(form)).await;
        self.store(&r);
        r
    }

    /// Submits the login form shown on `page` with the page's own CSRF token.
    pub async fn submit_login(&self, page: &Resp, username: &str, password: &str) -> Resp {
        let csrf = page.csrf();
        self.post_form(
            "/login",
            &[
                ("csrf_token", &csrf),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }

    /// Follows same-origin redirects from `start`, logging in (once) and answering consent (once) when
    /// asked, until a redirect leaves the server or a page is shown that it cannot handle.
    pub async fn navigate(
        &self,
        start: Resp,
        user: Option<&TestUser>,
        consent: Option<&str>,
    ) -> Outcome {
        let mut resp = start;
        let mut logged_in = false;
        let mut consented = false;
        for _ in 0..16 {
            if resp.is_redirect() {
                let loc = resp
                    .location()
                    .unwrap_or_else(|| panic!("redirect without Location\n{}", resp.describe()));
                if loc.origin() == self.base.origin() {
                    resp = self.get(loc.as_str()).await;
                    continue;
                }
                return Outcome::Left(Callback::new(loc));
            }
            if resp.status == 200
                && is_login_form(&resp.body)
                && !logged_in
                && let Some(u) = user
            {
                logged_in = true;
                resp = self.submit_login(&resp, &u.username, &u.password).await;
                continue;
            }
            if resp.status == 200
                && is_consent_form(&resp.body)
                && !consented
                && let Some(decision) = consent
            {
                consented = true;
                let csrf = resp.csrf();
                resp = self
                    .post_form("/consent", &[("csrf_token", &csrf), ("decision", decision)])
                    .await;
                continue;
            }
            return Outcome::Page(resp);
        }
        panic!("more than 16 redirects/pages without reaching the client");
    }

    /// Sends the authorization request and follows it, logging in as `user` when asked.
    pub async fn authorize_as(&self, authz: &Authz, user: &TestUser) -> Callback {
        self.authorize_full(authz, Some(user), None).await
    }

    pub async fn authorize_full(
        &self,
        authz: &Authz,
        user: Option<&TestUser>,
        consent: Option<&str>,
    ) -> Callback {
        let first = self.get(&authz.path()).await;
        match self.navigate(first, user, consent).await {
            Outcome::Left(cb) => cb,
            Outcome::Page(p) => panic!("authorization flow stopped on a page\n{}", p.describe()),
        }
    }

    /// Logs in directly at /login (no pending authorization). Returns the POST response.
    pub async fn login(&self, username: &str, password: &str) -> Resp {
        let page = self.get("/login").await;
        assert_eq!(page.status, 200, "GET /login\n{}", page.describe());
        self.submit_login(&page, username, password).await
    }

    /// Sends a `prompt=none` request and returns where it went: a code or login_required.
    pub async fn prompt_none(&self, client: &TestClient) -> Callback {
        let authz = Authz::new(client).set("prompt", "none");
        let r = self.get(&authz.path()).await;
        assert_eq!(r.status, 303, "prompt=none must redirect\n{}", r.describe());
        let loc = r.location().expect("Location");
        assert!(
            loc.as_str().starts_with(&format!("{REDIRECT}?")),
            "prompt=none went to {loc}"
        );
        Callback::new(loc)
    }
}

// ---------------------------------------------------------------------------------------------
// Token responses
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
pub struct Tokens {
    pub access: String,
    pub refresh: Option<String>,
    pub id_token: Option<String>,
    pub json: Value,
    pub resp: Resp,
}

impl Tokens {
    /// Asserts a successful RFC 6749 §5.1 response.
    #[track_caller]
    pub fn from_resp(r: Resp) -> Tokens {
        assert_eq!(r.status, 200, "token request failed\n{}", r.describe());
        let json = r.json();
        let access = json["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access_token\n{}", r.describe()))
            .to_string();
        Tokens {
            access,
            refresh: json["refresh_token"].as_str().map(str::to_string),
            id_token: json["id_token"].as_str().map(str::to_string),
            json,
            resp: r,
        }
    }

    pub fn refresh(&self) -> &str {
        self.refresh
            .as_deref()
            .unwrap_or_else(|| panic!("no refresh_token in {}", self.json))
    }

    pub fn id_token(&self) -> &str {
        self.id_token
            .as_deref()
            .unwrap_or_else(|| panic!("no id_token in {}", self.json))
    }
}
