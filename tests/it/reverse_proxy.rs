//! Gatehouse behind nginx (scale-out, R-10): two instances sharing PostgreSQL and Redis behind
//! an nginx started by the test from the documented `deploy/nginx/gatehouse.conf` (its upstream
//! addresses, listen line and log path replaced), with GATEHOUSE_ISSUER set to the proxy's URL.
//! A relying party built with `openidconnect` walks discovery, the authorization code flow with
//! PKCE, the code exchange, ID token verification, userinfo and a refresh through the proxy
//! only; round robin makes the flow hop between instances, and the access log (upstream address
//! per request) shows that both served it. The issuer stays the configured one whatever Host
//! or X-Forwarded-* headers a request carries.
//!
//! Needs GATEHOUSE_TEST_DATABASE_URL, GATEHOUSE_TEST_REDIS_URL and nginx: skipped when one is
//! missing, a failure under CI=true.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use openidconnect::{
    AuthorizationCode, OAuth2TokenResponse as _, RefreshToken, TokenResponse as _,
};

use crate::common::api::ok;
use crate::common::*;
use crate::multi_instance::{backends, drop_keys, second_instance};

/// The documented configuration, relative to the crate root.
const CONF: &str = "deploy/nginx/gatehouse.conf";

fn nginx_bin() -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/sbin")])
        .map(|d| d.join("nginx"))
        .find(|p| p.is_file());
    if found.is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("nginx must be installed when CI=true (.ci/run installs it)");
        }
        println!("skipped: nginx is not installed");
    }
    found
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// `deploy/nginx/gatehouse.conf` with each `(from, to)` replaced; every `from` must occur
/// exactly once, so the test and the documented file cannot drift apart silently.
fn documented_conf(replacements: &[(&str, String)]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(CONF);
    let mut conf =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    for (from, to) in replacements {
        let n = conf.matches(from).count();
        assert_eq!(
            n, 1,
            "{CONF} must contain {from:?} exactly once (found {n})"
        );
        conf = conf.replace(from, to);
    }
    conf
}

/// An nginx of the test's own: master + one worker in the foreground, prefix, pid, logs and
/// temp files in a temp dir; stopped (SIGTERM, then SIGKILL) on drop.
struct OwnNginx {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl OwnNginx {
    /// Starts nginx with the documented server block in front of `upstreams` (two addresses).
    async fn start(bin: &Path, port: u16, upstreams: [&str; 2]) -> OwnNginx {
        let dir = tempfile::Builder::new()
            .prefix("gh-nginx-")
            .tempdir()
            .expect("temp dir");
        let p = dir.path();
        let site = documented_conf(&[
            ("server 10.0.0.11:8080", format!("server {}", upstreams[0])),
            ("server 10.0.0.12:8080", format!("server {}", upstreams[1])),
            (
                "\n    listen 80;\n",
                format!("\n    listen 127.0.0.1:{port};\n"),
            ),
            (
                "/var/log/nginx/gatehouse.access.log",
                p.join("access.log").display().to_string(),
            ),
        ]);
        std::fs::write(p.join("gatehouse.conf"), site).expect("write site conf");
        // Workers run as root only when the test does (nginx then refuses no directory of ours).
        let root = std::fs::read_to_string("/proc/self/status")
            .is_ok_and(|s| s.lines().any(|l| l.starts_with("Uid:\t0\t")));
        let temp = |name: &str| format!("{name} {};", p.join(name).display());
        let main = format!(
            "{user}daemon off;\nmaster_process on;\nworker_processes 1;\npid {pid};\n\
             error_log {err} warn;\nevents {{ worker_connections 256; }}\n\
             http {{\n  access_log off;\n  {a}\n  {b}\n  {c}\n  {d}\n  {e}\n  include {site};\n}}\n",
            user = if root { "user root;\n" } else { "" },
            pid = p.join("nginx.pid").display(),
            err = p.join("error.log").display(),
            a = temp("client_body_temp_path"),
            b = temp("proxy_temp_path"),
            c = temp("fastcgi_temp_path"),
            d = temp("uwsgi_temp_path"),
            e = temp("scgi_temp_path"),
            site = p.join("gatehouse.conf").display(),
        );
        std::fs::write(p.join("nginx.conf"), main).expect("write nginx.conf");
        let check = Command::new(bin)
            .arg("-t")
            .arg("-p")
            .arg(p)
            .arg("-c")
            .arg(p.join("nginx.conf"))
            .output()
            .expect("nginx -t");
        assert!(
            check.status.success(),
            "nginx -t refused the generated configuration:\n{}",
            String::from_utf8_lossy(&check.stderr)
        );
        let child = Command::new(bin)
            .arg("-p")
            .arg(p)
            .arg("-c")
            .arg(p.join("nginx.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nginx");
        let nginx = OwnNginx {
            port,
            dir,
            child: Some(child),
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "nginx did not listen on {port}:\n{}",
                nginx.error_log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        nginx
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// Requests per upstream address, read from the access log (`upstream=ADDR`).
    fn requests_per_upstream(&self) -> BTreeMap<String, usize> {
        let log = std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default();
        let mut counts = BTreeMap::new();
        for line in log.lines() {
            if let Some(rest) = line.split(" upstream=").nth(1) {
                let addr = rest.split_whitespace().next().unwrap_or_default();
                *counts.entry(addr.to_owned()).or_default() += 1;
            }
        }
        counts
    }
}

impl Drop for OwnNginx {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM: the master stops its workers before exiting (SIGKILL would orphan them).
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(5) {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// GET through `base` with extra headers (Host among them), as raw as reqwest allows.
async fn get_with(base: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(HTTP_TIMEOUT)
        .build()
        .expect("reqwest client");
    let mut req = http.get(format!("{base}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    Resp::send(req).await
}

/// A wrong-password login through `browser` under a fresh username, optionally carrying an
/// `X-Forwarded-For` of the client's own making; returns the username.
async fn failed_login(browser: &Browser, xff: Option<&str>) -> String {
    let username = format!("probe-{}", random_hex(4));
    let headers: Vec<(&str, &str)> = xff.map(|x| ("X-Forwarded-For", x)).into_iter().collect();
    let page = browser.get_with("/login", &headers).await;
    assert_eq!(page.status, 200, "{}", page.describe());
    let form = [
        ("csrf_token", page.csrf()),
        ("username", username.clone()),
        ("password", "wrong".to_owned()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = browser.post_form_with("/login", &form, &headers).await;
    assert_eq!(r.status, 401, "{}", r.describe());
    username
}

#[tokio::test]
async fn r10_code_flow_with_pkce_through_nginx_hops_between_two_instances() {
    let Some((redis, prefix)) = backends() else {
        return;
    };
    let Some(bin) = nginx_bin() else { return };
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let env = [
        ("GATEHOUSE_REDIS_URL", redis.as_str()),
        ("GATEHOUSE_REDIS_PREFIX", prefix.as_str()),
        ("GATEHOUSE_ISSUER", issuer.as_str()),
        ("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1"),
    ];
    let f = fixture_env(Backend::Postgres, &env).await;
    let a = &f.server;
    let b = second_instance(a).await;
    let upstream = |s: &TestServer| s.base.trim_start_matches("http://").to_owned();
    let (ua, ub) = (upstream(a), upstream(&b));
    let nginx = OwnNginx::start(&bin, port, [&ua, &ub]).await;
    let proxy = nginx.base();
    assert_eq!(
        a.issuer, proxy,
        "the harness reads the issuer from GATEHOUSE_ISSUER"
    );

    // Discovery through the proxy (openidconnect checks the issuer against the one asked for).
    let rp = Rp::discover(a, &f.client).await;
    assert_eq!(rp.provider.issuer().as_str(), proxy);

    // The browser only ever talks to the proxy.
    let browser = Browser::new(&proxy);
    let pending = rp.authorize_url(&["profile", "email", "offline_access"]);
    let first = browser.get(pending.url.as_str()).await;
    let cb = match browser.navigate(first, Some(&f.user), None).await {
        Outcome::Left(cb) => cb,
        Outcome::Page(p) => panic!("flow through nginx stopped on a page\n{}", p.describe()),
    };
    assert!(
        cb.url.as_str().starts_with(&format!("{REDIRECT}?")),
        "callback {}",
        cb.url
    );
    assert_eq!(cb.get("state"), Some(pending.state.secret().as_str()));
    assert_eq!(cb.get("iss"), Some(proxy.as_str()), "RFC 9207 iss");

    let token = rp
        .client
        .exchange_code(AuthorizationCode::new(cb.code().to_owned()))
        .expect("token endpoint")
        .set_pkce_verifier(pending.verifier)
        .request_async(&rp.http)
        .await
        .unwrap_or_else(|e| panic!("code exchange through nginx failed: {e:?}"));
    let id = token.id_token().expect("id_token");
    let claims = rp.verify_id_token(id, token.access_token(), &pending.nonce);
    assert_eq!(claims.issuer().as_str(), proxy);
    assert_eq!(claims.subject().as_str(), f.user.id);

    // Userinfo and a refresh, still through the proxy.
    let r = get_with(
        &proxy,
        "/oauth/userinfo",
        &[(
            "authorization",
            &format!("Bearer {}", token.access_token().secret()),
        )],
    )
    .await;
    assert_eq!(r.status, 200, "userinfo through nginx\n{}", r.describe());
    let refresh = token
        .refresh_token()
        .expect("refresh_token")
        .secret()
        .clone();
    let refreshed = rp
        .client
        .exchange_refresh_token(&RefreshToken::new(refresh))
        .expect("token endpoint")
        .request_async(&rp.http)
        .await
        .unwrap_or_else(|e| panic!("refresh through nginx failed: {e:?}"));
    assert!(!refreshed.access_token().secret().is_empty());

    // Both instances served part of the flow.
    let served = nginx.requests_per_upstream();
    println!("requests per instance through nginx: {served:?}");
    for (name, addr) in [("A", &ua), ("B", &ub)] {
        assert!(
            served.get(addr.as_str()).copied().unwrap_or(0) > 0,
            "instance {name} ({addr}) served nothing: {served:?}\n{}",
            nginx.error_log()
        );
    }

    // The issuer never comes from Host or X-Forwarded-*: forged on the proxy and on each
    // instance directly, discovery still names the configured issuer.
    let forged = [
        ("host", "evil.example"),
        ("x-forwarded-host", "evil.example"),
        ("x-forwarded-proto", "https"),
        ("forwarded", "host=evil.example;proto=https"),
    ];
    for base in [&proxy, &a.base, &b.base] {
        let r = get_with(base, "/.well-known/openid-configuration", &forged).await;
        assert_eq!(r.status, 200, "discovery via {base}\n{}", r.describe());
        let doc = r.json();
        assert_eq!(doc["issuer"], proxy.as_str(), "issuer via {base}");
        assert!(
            !r.body.contains("evil.example"),
            "a forged header leaked into discovery via {base}: {}",
            r.body
        );
    }

    // The client's address (audit log, login throttling) with GATEHOUSE_TRUSTED_PROXIES =
    // 127.0.0.1, nginx's address as the instances see it. A forged X-Forwarded-For never
    // arrives: the documented config overwrites it with $remote_addr.
    let forged = failed_login(&Browser::new(&proxy), Some("203.0.113.7")).await;
    // A client connecting from 127.0.0.5 is seen as 127.0.0.5 by the instances behind nginx.
    let elsewhere: std::net::IpAddr = "127.0.0.5".parse().expect("ip");
    let other = failed_login(&Browser::from_address(&proxy, elsewhere), None).await;
    let api = a.admin_api().await;
    let page = ok(&api
        .get("/api/v1/audit-logs?operation=login_failed&limit=50")
        .await);
    let ip_of = |name: &str| -> Vec<String> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|e| e["details"]["username"] == name)
            .map(|e| e["ip"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    assert_eq!(ip_of(&forged), ["127.0.0.1"], "{page}");
    assert_eq!(ip_of(&other), ["127.0.0.5"], "{page}");

    drop(nginx);
    drop(b);
    drop_keys(&redis, &prefix).await;
}
