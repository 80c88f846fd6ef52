//! Fixtures: clients and users made with the CLI, and a started server holding both.

use serde_json::Value;

use super::{Backend, ClientAuth, POST_LOGOUT, REDIRECT, TestServer};

// Clients and users through the CLI.

impl TestServer {
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
}

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
