//! Admin API client for tests: JSON requests with an `API-Key` or a bearer token.

use serde_json::Value;

use super::{Resp, TestServer};

/// A credential for `/api/v1`.
#[derive(Clone, Debug)]
pub enum Cred {
    None,
    ApiKey(String),
    Bearer(String),
}

/// JSON client bound to one server and one credential.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
    pub cred: Cred,
}

impl Api {
    pub fn new(server: &TestServer, cred: Cred) -> Api {
        Api {
            base: server.base.clone(),
            http: server.http.clone(),
            cred,
        }
    }

    /// The same server with another credential.
    pub fn with(&self, cred: Cred) -> Api {
        Api {
            cred,
            ..self.clone()
        }
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, format!("{}{path}", self.base));
        match &self.cred {
            Cred::None => r,
            Cred::ApiKey(k) => r.header("API-Key", k),
            Cred::Bearer(t) => r.bearer_auth(t),
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        Resp::send(self.req(reqwest::Method::GET, path)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        Resp::send(self.req(reqwest::Method::DELETE, path)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        Resp::send(self.req(reqwest::Method::POST, path).json(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Resp {
        Resp::send(self.req(reqwest::Method::PUT, path).json(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Resp {
        Resp::send(self.req(reqwest::Method::PATCH, path).json(body)).await
    }

    /// Any method, optional JSON body.
    pub async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Resp {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let r = self.req(m, path);
        Resp::send(match body {
            Some(b) => r.json(b),
            None => r,
        })
        .await
    }

    /// Raw body with a content type.
    #[allow(dead_code)] // for raw-body tests of the admin API
    pub async fn send_raw(&self, method: &str, path: &str, ctype: &str, body: Vec<u8>) -> Resp {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        Resp::send(self.req(m, path).header("content-type", ctype).body(body)).await
    }
}

/// Asserts a status and, for errors, an RFC 9457 body with the given `code`.
#[track_caller]
pub fn expect(r: &Resp, status: u16, code: Option<&str>) -> Value {
    assert_eq!(r.status, status, "{}", r.describe());
    if r.body.is_empty() {
        return Value::Null;
    }
    let v = r.json();
    if let Some(code) = code {
        assert_eq!(
            r.header("content-type"),
            Some("application/problem+json"),
            "{}",
            r.describe()
        );
        assert_eq!(v["code"], code, "{}", r.describe());
        assert_eq!(v["status"], status, "{}", r.describe());
    }
    v
}

/// 2xx expected; returns the JSON body (Null when empty).
#[track_caller]
pub fn ok(r: &Resp) -> Value {
    assert!((200..300).contains(&r.status), "{}", r.describe());
    if r.body.is_empty() {
        Value::Null
    } else {
        r.json()
    }
}

impl TestServer {
    /// A new API key for `username` of `tenant` (via the CLI).
    pub async fn api_key_for(&self, username: &str, tenant: &str) -> String {
        let v = self
            .cli(&[
                "api-key",
                "create",
                "--username",
                username,
                "--tenant",
                tenant,
                "--json",
            ])
            .await;
        v["key"].as_str().expect("key in CLI output").to_owned()
    }

    /// The admin API as the bootstrap super administrator.
    pub async fn admin_api(&self) -> Api {
        let key = self.api_key_for("admin", "default").await;
        Api::new(self, Cred::ApiKey(key))
    }
}
