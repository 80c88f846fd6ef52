//! A throwaway PostgreSQL of the test's own (never the shared one): `initdb` into a temp dir,
//! `postgres` on a free loopback port with trust auth and `fsync=off`, run as the `postgres` OS
//! user when the test runs as root (PostgreSQL refuses root). It can be frozen (SIGSTOP of the
//! postmaster and every backend), thawed, killed (SIGKILL of all of them, a crash) and started
//! again on the same port and data directory.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a (re)start may take before the test gives up.
const START_WITHIN: Duration = Duration::from_secs(30);

pub struct OwnPostgres {
    pub port: u16,
    bin: PathBuf,
    dir: tempfile::TempDir,
    as_postgres_user: bool,
    child: Option<Child>,
    frozen: bool,
}

/// The directory holding `initdb` and `postgres`: PATH first, then Debian's
/// /usr/lib/postgresql/<version>/bin (newest first). None when PostgreSQL is not installed.
pub fn find_bin_dir() -> Option<PathBuf> {
    let has_both = |d: &Path| d.join("initdb").is_file() && d.join("postgres").is_file();
    let from_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .filter_map(|d| std::fs::canonicalize(d.join("initdb")).ok())
        .filter_map(|initdb| initdb.parent().map(Path::to_path_buf))
        .find(|d| has_both(d));
    if from_path.is_some() {
        return from_path;
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|d| has_both(d))
        .collect();
    versions.sort_by_key(|d| {
        d.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop()
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

impl OwnPostgres {
    /// initdb + start; waits until it accepts connections.
    pub async fn start(bin: PathBuf) -> OwnPostgres {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let dir = tempfile::Builder::new()
            .prefix("gh-own-pg-")
            .tempdir()
            .expect("temp dir");
        let as_postgres_user = running_as_root();
        if as_postgres_user {
            let ok = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(dir.path())
                .status()
                .is_ok_and(|s| s.success());
            assert!(
                ok,
                "chown of the PostgreSQL temp dir to the postgres user failed"
            );
        }
        let mut pg = OwnPostgres {
            port,
            bin,
            dir,
            as_postgres_user,
            child: None,
            frozen: false,
        };
        let mut initdb = pg.command("initdb");
        initdb.arg("-D").arg(pg.data_dir()).args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        let out = tokio::task::spawn_blocking(move || initdb.output())
            .await
            .expect("initdb thread")
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        pg.launch().await;
        pg
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `program` from the PostgreSQL bin dir, as the postgres user when we are root.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres_user {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    /// Starts the server on the port and waits until a connection succeeds.
    pub async fn launch(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("postgres.log")).expect("log file");
        let mut cmd = self.command("postgres");
        cmd.arg("-D")
            .arg(self.data_dir())
            .args(["-p", &self.port.to_string(), "-k"])
            .arg(self.dir.path())
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .args(["-c", "max_connections=60"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        self.child = Some(cmd.spawn().expect("spawn postgres"));
        let url = self.url();
        let started = Instant::now();
        loop {
            use sqlx::Connection as _;
            let attempt = tokio::time::timeout(
                Duration::from_secs(2),
                sqlx::postgres::PgConnection::connect(&url),
            )
            .await;
            if let Ok(Ok(conn)) = attempt {
                let _ = conn.close().await;
                return;
            }
            assert!(
                started.elapsed() < START_WITHIN,
                "own PostgreSQL on port {} did not start; log:\n{}",
                self.port,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }

    /// The postmaster's pid (first line of postmaster.pid).
    fn postmaster(&self) -> Option<u32> {
        std::fs::read_to_string(self.data_dir().join("postmaster.pid"))
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }

    /// Every process forked by the postmaster (backends, checkpointer, …): each one calls
    /// setsid(), so a process group would not catch them.
    fn children_of(pid: u32) -> Vec<u32> {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|p| {
                std::fs::read_to_string(format!("/proc/{p}/stat"))
                    .ok()
                    .and_then(|s| {
                        // pid (comm) state ppid …; comm may hold spaces, so split after ')'.
                        let rest = &s[s.rfind(')')? + 1..];
                        rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                    })
                    == Some(pid)
            })
            .collect()
    }

    fn signal(sig: &str, pids: &[u32]) {
        if pids.is_empty() {
            return;
        }
        let _ = Command::new("kill")
            .arg(format!("-{sig}"))
            .args(pids.iter().map(u32::to_string))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// SIGSTOP: the postmaster first (no new backends), then every child.
    pub fn freeze(&mut self) {
        let pm = self.postmaster().expect("postmaster pid");
        Self::signal("STOP", &[pm]);
        Self::signal("STOP", &Self::children_of(pm));
        self.frozen = true;
    }

    /// SIGCONT: children first, then the postmaster.
    pub fn thaw(&mut self) {
        if let Some(pm) = self.postmaster() {
            Self::signal("CONT", &Self::children_of(pm));
            Self::signal("CONT", &[pm]);
        }
        self.frozen = false;
    }

    /// SIGKILL of the postmaster and every child (a crash: no shutdown checkpoint); waits until
    /// they are gone.
    pub async fn kill(&mut self) {
        if self.frozen {
            self.thaw();
        }
        if let Some(pm) = self.postmaster() {
            let children = Self::children_of(pm);
            Self::signal("KILL", &[pm]);
            Self::signal("KILL", &children);
            let started = Instant::now();
            while children
                .iter()
                .chain(std::iter::once(&pm))
                .any(|p| Path::new(&format!("/proc/{p}/stat")).exists() && !zombie(*p))
            {
                assert!(
                    started.elapsed() < START_WITHIN,
                    "PostgreSQL processes survived SIGKILL"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = &s[s.rfind(')')? + 1..];
            rest.split_whitespace().next().map(|state| state == "Z")
        })
        .unwrap_or(true)
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        if self.frozen {
            self.thaw();
        }
        if let Some(pm) = self.postmaster() {
            // Immediate shutdown: the postmaster takes its children down with it.
            Self::signal("QUIT", &[pm]);
            let started = Instant::now();
            while Path::new(&format!("/proc/{pm}/stat")).exists()
                && !zombie(pm)
                && started.elapsed() < Duration::from_secs(10)
            {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
