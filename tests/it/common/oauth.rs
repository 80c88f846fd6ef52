//! The OAuth endpoints seen by a client: client authentication, token, introspection,
//! revocation and userinfo requests, the code flow end to end, and token responses.

use base64::Engine as _;
use serde_json::Value;
use url::Url;

use super::encoding::url_encode;
use super::{
    Authz, Browser, Callback, REDIRECT, Resp, TestClient, TestServer, TestUser, form_encode,
    post_form_to,
};

#[derive(Clone, Debug)]
pub enum ClientAuth {
    Basic(String, String),
    Post(String, String),
    Public(String),
    /// A raw Authorization header value.
    Header(String),
    None,
}

impl TestServer {
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
