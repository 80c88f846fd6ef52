//! Authorization requests (parameters and PKCE verifier) and the callbacks they end on.

use url::Url;

use super::{REDIRECT, TestClient, pkce_verifier, random_hex, s256};

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
