//! The CLI and server start-up: `client add`/`user add`/`keys init` with `--json`, bootstrap admin and no
//! default credentials (L-15), keys (P-14), secrets stored hashed (P-18), database creation and a clear
//! failure when the database cannot be reached.
//!
//! Here: `client add` and `user add`; in `keys`, key generation; in `startup`, the bootstrap admin
//! and the server's stdout; in `database`, what is stored and where.

mod database;
mod keys;
mod startup;

use serde_json::{Value, json};

use crate::common::*;

matrix!(
    cli_client_add_json_shape,
    cli_client_add_flags,
    cli_client_add_refuses_invalid_combinations,
    cli_user_add_json_and_password_on_stdin,
    cli_database_url_flag_overrides_env,
);

fn sorted(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("expected an array, got {v}"))
        .iter()
        .map(|s| {
            s.as_str()
                .unwrap_or_else(|| panic!("non-string in {v}"))
                .to_string()
        })
        .collect();
    out.sort();
    out
}

async fn cli_client_add_json_shape(b: Backend) {
    let s = TestServer::start(b, &[]).await;
    let c = s.client(&[]).await;
    let j = &c.json;
    for field in [
        "client_id",
        "client_secret",
        "name",
        "redirect_uris",
        "post_logout_redirect_uris",
        "public",
        "first_party",
        "grant_types",
        "id_token_signed_response_alg",
    ] {
        assert!(
            j.get(field).is_some(),
            "client add --json lacks {field}: {j}"
        );
    }
    assert!(!c.id.is_empty());
    let secret = c
        .secret
        .as_deref()
        .unwrap_or_else(|| panic!("confidential client needs a secret: {j}"));
    assert!(
        secret.len() >= 22,
        "client secret too short for 128 bits: {secret:?}"
    );
    assert_eq!(j["name"], json!("Test App"));
    assert_eq!(j["redirect_uris"], json!([REDIRECT]));
    assert_eq!(j["post_logout_redirect_uris"], json!([POST_LOGOUT]));
    assert_eq!(j["public"], json!(false));
    assert_eq!(j["first_party"], json!(true));
    assert_eq!(
        sorted(&j["grant_types"]),
        vec!["authorization_code", "refresh_token"]
    );
    assert_eq!(j["id_token_signed_response_alg"], json!("RS256"));
    // Each client gets its own id and secret.
    let d = s.client(&[]).await;
    assert_ne!(c.id, d.id);
    assert_ne!(c.secret, d.secret);
}

async fn cli_client_add_flags(b: Backend) {
    let s = TestServer::start(b, &[]).await;
    let public = s.client(&["--public"]).await;
    assert_eq!(public.json["client_secret"], Value::Null, "{}", public.json);
    assert_eq!(public.json["public"], json!(true));
    let third = s
        .client(&["--third-party", "--id-token-alg", "ES256"])
        .await;
    assert_eq!(third.json["first_party"], json!(false));
    assert_eq!(third.json["id_token_signed_response_alg"], json!("ES256"));
    let ed = s.client(&["--id-token-alg", "EdDSA"]).await;
    assert_eq!(ed.json["id_token_signed_response_alg"], json!("EdDSA"));
    let multi = s
        .client_with(&[
            "--name",
            "Multi",
            "--redirect-uri",
            "https://a.example/cb",
            "--redirect-uri",
            "https://b.example/cb",
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "client_credentials",
        ])
        .await;
    assert_eq!(
        multi.json["redirect_uris"],
        json!(["https://a.example/cb", "https://b.example/cb"])
    );
    assert_eq!(
        sorted(&multi.json["grant_types"]),
        vec!["authorization_code", "client_credentials"]
    );
    let cc = s
        .client_with(&["--name", "Service", "--grant-type", "client_credentials"])
        .await;
    assert_eq!(cc.json["grant_types"], json!(["client_credentials"]));
    assert_eq!(cc.json["redirect_uris"], json!([]));
}

async fn cli_client_add_refuses_invalid_combinations(b: Backend) {
    let s = TestServer::start(b, &[]).await;
    let cases: [(&str, &[&str]); 4] = [
        (
            "authorization_code without --redirect-uri",
            &["client", "add", "--name", "X", "--json"],
        ),
        (
            "public client with client_credentials",
            &[
                "client",
                "add",
                "--name",
                "X",
                "--public",
                "--grant-type",
                "client_credentials",
                "--json",
            ],
        ),
        (
            "unknown grant type",
            &[
                "client",
                "add",
                "--name",
                "X",
                "--redirect-uri",
                REDIRECT,
                "--grant-type",
                "password",
                "--json",
            ],
        ),
        (
            "unknown ID token alg",
            &[
                "client",
                "add",
                "--name",
                "X",
                "--redirect-uri",
                REDIRECT,
                "--id-token-alg",
                "none",
                "--json",
            ],
        ),
    ];
    for (label, args) in cases {
        let out = s.cli_raw(args, None).await;
        assert!(
            !out.status.success(),
            "{label}: must fail\n{}",
            out.describe()
        );
        assert!(
            !out.stderr.trim().is_empty(),
            "{label}: message on stderr expected\n{}",
            out.describe()
        );
        assert!(
            !out.stderr.contains("panicked"),
            "{label}: panic\n{}",
            out.describe()
        );
    }
}

async fn cli_user_add_json_and_password_on_stdin(b: Backend) {
    let s = TestServer::start(b, &[]).await;
    let j = s
        .cli(&[
            "user",
            "add",
            "--username",
            "bob",
            "--password",
            "bob-secret-pw-1",
            "--email",
            "bob@example.com",
            "--name",
            "Bob B",
            "--json",
        ])
        .await;
    assert!(j["id"].as_str().is_some_and(|v| !v.is_empty()), "{j}");
    assert_eq!(j["username"], json!("bob"));
    assert_eq!(j["email"], json!("bob@example.com"));
    assert_eq!(j["name"], json!("Bob B"));
    assert!(j["tenant_id"].is_string(), "{j}");
    assert!(
        j.get("password").is_none() && j.get("password_hash").is_none(),
        "A-04: no password in output: {j}"
    );

    let j2 = s
        .cli_stdin(
            &["user", "add", "--username", "carol", "--json"],
            Some("carol-stdin-pw-2\nignored second line\n"),
        )
        .await;
    assert_eq!(j2["username"], json!("carol"));
    assert_ne!(j2["id"], j["id"]);

    for (user, pw) in [("bob", "bob-secret-pw-1"), ("carol", "carol-stdin-pw-2")] {
        let browser = s.browser();
        let r = browser.login(user, pw).await;
        assert_eq!(
            r.status,
            303,
            "{user} logs in with the CLI-set password\n{}",
            r.describe()
        );
    }
    let r = s.browser().login("carol", "ignored second line").await;
    assert_eq!(
        r.status,
        401,
        "only the first stdin line is the password\n{}",
        r.describe()
    );

    // A duplicate username is refused with a message, not a panic.
    let out = s
        .cli_raw(
            &[
                "user",
                "add",
                "--username",
                "bob",
                "--password",
                "x-another-pw",
                "--json",
            ],
            None,
        )
        .await;
    assert!(
        !out.status.success(),
        "duplicate username accepted\n{}",
        out.describe()
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.describe());
}

/// `--database-url` wins over GATEHOUSE_DATABASE_URL.
async fn cli_database_url_flag_overrides_env(b: Backend) {
    let s = TestServer::start(b, &[]).await;
    let mut cmd = gatehouse_cmd(s.dir.path(), s.env());
    // The environment points to a database that cannot be reached; the flag to the real one.
    cmd.env(
        "GATEHOUSE_DATABASE_URL",
        "postgres://nobody@127.0.0.1:1/nope",
    );
    cmd.args([
        "client",
        "add",
        "--database-url",
        &s.db_url,
        "--name",
        "Flag",
        "--redirect-uri",
        REDIRECT,
        "--json",
    ]);
    let out = run_cmd(cmd, None, CLI_TIMEOUT).await;
    assert!(out.status.success(), "{}", out.describe());
    let client = TestClient::from_json(serde_json::from_str(out.stdout.trim()).expect("JSON"));
    // The client landed in the server's database: it can authenticate at the token endpoint.
    let r = s
        .token(&client.auth(), &[("grant_type", "client_credentials")])
        .await;
    assert_oauth_error(&r, 400, "unauthorized_client");
}
