//! Browser: cookie jar kept by hand (so tests can inspect, copy and replay cookies).

use std::sync::Mutex;

use reqwest::header::HeaderValue;
use url::Url;

use super::{
    Authz, Callback, HTTP_TIMEOUT, REDIRECT, Resp, TestClient, TestServer, TestUser, form_encode,
    is_consent_form, is_login_form, post_form_to,
};

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

    /// A browser whose connections leave from `local` (another loopback address, e.g.
    /// 127.0.0.5), so a proxy in front sees a client other than 127.0.0.1.
    pub fn from_address(base: &str, local: std::net::IpAddr) -> Browser {
        let mut b = Browser::new(base);
        b.http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(HTTP_TIMEOUT)
            .local_address(local)
            .build()
            .expect("reqwest client");
        b
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

    /// Posts a form with extra request headers (e.g. `X-Forwarded-For`).
    pub async fn post_form_with(
        &self,
        url: &str,
        form: &[(&str, &str)],
        extra: &[(&str, &str)],
    ) -> Resp {
        let mut headers: Vec<(String, String)> = extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        if let Some(c) = self.cookie_header() {
            headers.push((
                "Cookie".to_owned(),
                c.to_str().expect("ASCII cookie").to_owned(),
            ));
        }
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

impl TestServer {
    pub fn browser(&self) -> Browser {
        Browser::new(&self.base)
    }
}
