//! Steady load for the outage test: concurrent tasks walking the password login + code
//! redemption, the client_credentials grant + introspection, introspection of a live and of a
//! revoked refresh token, and `checkApiByToken` (allowed and denied). Every response is judged
//! and kept as a `Sample`; transport errors (including the client's own timeout) are samples too.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use url::Url;

use crate::common::{Authz, REDIRECT, TestClient, TestUser, extract_csrf, is_login_form};

/// Far above any bound the test asserts: a request this slow is a hang.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);
/// Pause between iterations of one task, so the load is steady rather than saturating.
const PACE: Duration = Duration::from_millis(25);

/// How a response was judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The normal success of the step.
    Ok,
    /// 503: the database is away (allowed only around an outage).
    Unavailable,
    /// Anything else: a 500, an unexpected refusal, a transport error or a timeout.
    Unexpected,
    /// Something was granted that must not be (a revoked token active, a denied path allowed).
    FailOpen,
}

#[derive(Clone, Debug)]
pub struct Sample {
    pub kind: &'static str,
    pub start: Instant,
    pub end: Instant,
    /// 0 for a transport error.
    pub status: u16,
    pub retry_after: bool,
    pub verdict: Verdict,
    pub detail: String,
}

impl Sample {
    pub fn latency(&self) -> Duration {
        self.end - self.start
    }

    /// One line for a failure message.
    pub fn describe(&self) -> String {
        format!(
            "{} → {} {:?} after {:?} (Retry-After: {}) {}",
            self.kind,
            self.status,
            self.verdict,
            self.latency(),
            self.retry_after,
            self.detail
        )
    }
}

/// What the tasks need: where to send, and the credentials made before the load.
#[derive(Clone)]
pub struct Ctx {
    pub base: String,
    pub app: TestClient,
    pub user: TestUser,
    /// An access token of the user at `app`, for `checkApiByToken`.
    pub access: String,
    pub live_refresh: String,
    pub revoked_refresh: String,
}

pub struct Load {
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

type Judge = fn(u16, &str) -> Verdict;
type Rec = Arc<Mutex<Vec<Sample>>>;
/// One iteration of a load task.
type Iteration = Pin<Box<dyn Future<Output = ()> + Send>>;
type Task = fn(Ctx, Rec) -> Iteration;

/// One request on a task's client, judged and recorded; returns the response when it came.
async fn probe(
    rec: &Mutex<Vec<Sample>>,
    kind: &'static str,
    req: reqwest::RequestBuilder,
    judge: Judge,
) -> Option<(u16, reqwest::header::HeaderMap, String)> {
    let start = Instant::now();
    let result = async {
        let r = req.send().await?;
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.text().await?;
        Ok::<_, reqwest::Error>((status, headers, body))
    }
    .await;
    let end = Instant::now();
    let (sample, out) = match result {
        Ok((status, headers, body)) => {
            let verdict = if status == 503 {
                Verdict::Unavailable
            } else {
                judge(status, &body)
            };
            let detail = if verdict == Verdict::Ok {
                String::new()
            } else {
                body.chars().take(300).collect()
            };
            let sample = Sample {
                kind,
                start,
                end,
                status,
                retry_after: headers.contains_key("retry-after"),
                verdict,
                detail,
            };
            (sample, Some((status, headers, body)))
        }
        Err(e) => {
            let sample = Sample {
                kind,
                start,
                end,
                status: 0,
                retry_after: false,
                verdict: Verdict::Unexpected,
                detail: format!("transport error: {e}"),
            };
            (sample, None)
        }
    };
    rec.lock().expect("samples").push(sample);
    out
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or(Value::Null)
}

fn ok_if(cond: bool) -> Verdict {
    if cond {
        Verdict::Ok
    } else {
        Verdict::Unexpected
    }
}

fn client(cookies: bool) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(CLIENT_TIMEOUT)
        .cookie_store(cookies)
        .build()
        .expect("reqwest client")
}

impl Load {
    /// Starts the tasks; they run until `stop`.
    pub fn start(ctx: &Ctx) -> Load {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        let tasks_run: [Task; 5] = [
            login_flow,
            login_flow,
            client_credentials,
            refresh_tokens,
            check_api,
        ];
        for task in tasks_run {
            let (ctx, rec, stop) = (ctx.clone(), samples.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    task(ctx.clone(), rec.clone()).await;
                    tokio::time::sleep(PACE).await;
                }
            }));
        }
        Load {
            samples,
            stop,
            tasks,
        }
    }

    /// A copy of the samples so far.
    pub fn samples(&self) -> Vec<Sample> {
        self.samples.lock().expect("samples").clone()
    }

    /// Stops the tasks (each finishes its iteration) and returns every sample.
    pub async fn stop(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.expect("load task panicked");
        }
        self.samples.lock().expect("samples").clone()
    }
}

/// GET /oauth/authorize → /login → POST credentials → … → code → POST /oauth/token.
fn login_flow(ctx: Ctx, rec: Rec) -> Iteration {
    Box::pin(async move {
        let http = client(true);
        let authz = Authz::new(&ctx.app);
        let base = Url::parse(&ctx.base).expect("base URL");
        let page_or_redirect: Judge = |s, _| ok_if(matches!(s, 200 | 302 | 303));
        let mut next = base.join(&authz.path()).expect("authorize URL");
        let mut resp = probe(&rec, "authorize", http.get(next.clone()), page_or_redirect).await;
        let mut logged_in = false;
        let mut code = None;
        for _ in 0..8 {
            let Some((status, headers, body)) = resp.take() else {
                return;
            };
            if matches!(status, 302 | 303) {
                let Some(loc) = headers.get("location").and_then(|l| l.to_str().ok()) else {
                    return;
                };
                next = next.join(loc).expect("Location");
                if next.as_str().starts_with(REDIRECT) {
                    code = next
                        .query_pairs()
                        .find(|(k, _)| k == "code")
                        .map(|(_, v)| v.into_owned());
                    break;
                }
                resp = probe(&rec, "login page", http.get(next.clone()), page_or_redirect).await;
            } else if status == 200 && is_login_form(&body) && !logged_in {
                logged_in = true;
                let csrf = extract_csrf(&body).unwrap_or_default();
                let form = [
                    ("csrf_token", csrf.as_str()),
                    ("username", ctx.user.username.as_str()),
                    ("password", ctx.user.password.as_str()),
                ];
                let req = http.post(base.join("/login").expect("URL")).form(&form);
                // The right password: a 303 onwards; the form again would be a refusal.
                resp = probe(&rec, "login POST", req, |s, _| {
                    ok_if(matches!(s, 302 | 303))
                })
                .await;
            } else {
                return;
            }
        }
        let Some(code) = code else { return };
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            (
                "code_verifier",
                authz.verifier.as_deref().unwrap_or_default(),
            ),
        ];
        let req = http
            .post(base.join("/oauth/token").expect("URL"))
            .basic_auth(&ctx.app.id, ctx.app.secret.as_deref())
            .form(&form);
        probe(&rec, "code redemption", req, |s, b| {
            ok_if(s == 200 && json_of(b)["access_token"].is_string())
        })
        .await;
    })
}

/// client_credentials, then introspection of what it gave.
fn client_credentials(ctx: Ctx, rec: Rec) -> Iteration {
    Box::pin(async move {
        let http = client(false);
        let req = http
            .post(format!("{}/oauth/token", ctx.base))
            .basic_auth(&ctx.app.id, ctx.app.secret.as_deref())
            .form(&[("grant_type", "client_credentials")]);
        let r = probe(&rec, "client_credentials", req, |s, b| {
            ok_if(s == 200 && json_of(b)["access_token"].is_string())
        })
        .await;
        let Some((200, _, body)) = r else { return };
        let token = json_of(&body)["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let req = http
            .post(format!("{}/oauth/introspect", ctx.base))
            .basic_auth(&ctx.app.id, ctx.app.secret.as_deref())
            .form(&[("token", token.as_str())]);
        probe(&rec, "introspect access", req, |s, b| {
            ok_if(s == 200 && json_of(b)["active"] == json!(true))
        })
        .await;
    })
}

/// Introspection of a live refresh token (must stay active) and of a revoked one (must never
/// say active: that would be a grant made while the database was away).
fn refresh_tokens(ctx: Ctx, rec: Rec) -> Iteration {
    Box::pin(async move {
        let http = client(false);
        let introspect = |token: &str| {
            http.post(format!("{}/oauth/introspect", ctx.base))
                .basic_auth(&ctx.app.id, ctx.app.secret.as_deref())
                .form(&[("token", token)])
        };
        probe(
            &rec,
            "introspect refresh",
            introspect(&ctx.live_refresh),
            |s, b| ok_if(s == 200 && json_of(b)["active"] == json!(true)),
        )
        .await;
        probe(
            &rec,
            "introspect revoked refresh",
            introspect(&ctx.revoked_refresh),
            |s, b| match (s, &json_of(b)["active"]) {
                (200, Value::Bool(false)) => Verdict::Ok,
                (200, Value::Bool(true)) => Verdict::FailOpen,
                _ => Verdict::Unexpected,
            },
        )
        .await;
    })
}

/// `checkApiByToken`: an allowed path (true) and a path the role does not grant (false).
fn check_api(ctx: Ctx, rec: Rec) -> Iteration {
    Box::pin(async move {
        let http = client(false);
        let ask = |path: &str| {
            http.post(format!("{}/api/auth/checkApiByToken", ctx.base))
                .json(&json!({"token": ctx.access, "apiPath": path, "method": "GET"}))
        };
        probe(
            &rec,
            "checkApiByToken allowed",
            ask("/api/orders/7"),
            |s, b| {
                let v = json_of(b);
                ok_if(s == 200 && v["code"] == json!(0) && v["data"] == json!(true))
            },
        )
        .await;
        probe(
            &rec,
            "checkApiByToken denied",
            ask("/api/admin/x"),
            |s, b| {
                let v = json_of(b);
                match (s, v["code"] == json!(0), &v["data"]) {
                    (200, true, Value::Bool(false)) => Verdict::Ok,
                    (200, true, Value::Bool(true)) => Verdict::FailOpen,
                    _ => Verdict::Unexpected,
                }
            },
        )
        .await;
    })
}
