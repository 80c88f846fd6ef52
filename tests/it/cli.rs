//! The CLI and server start-up: `client add`/`user add`/`keys init` with `--json`, bootstrap admin and no
//! default credentials (L-15), keys (P-14), secrets stored hashed (P-18), database creation and a clear
//! failure when the database cannot be reached.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;

matrix!(
    cli_client_add_json_shape,
    cli_client_add_flags,
    cli_client_add_refuses_invalid_combinations,
    cli_user_add_json_and_password_on_stdin,
    cli_database_url_flag_overrides_env,
    p14_keys_init_generates_all_keys_idempotently,
    p14_server_generates_missing_keys_at_start,
    l15_admin_password_env_is_honoured,
    l15_generated_admin_password_printed_once_and_works,
    p18_secrets_and_passwords_not_stored_in_clear,
    r10_missing_sqlite_file_is_created,
    r10_unreachable_database_fails_clearly,
    r10_stdout_is_exactly_the_listening_line,
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

fn key_files(dir: &std::path::Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("keys dir {}: {e}", dir.display()))
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    out.sort();
    out
}

async fn p14_keys_init_generates_all_keys_idempotently(b: Backend) {
    let s = TestServer::prepare(
        b,
        Opts {
            no_keys: true,
            ..Opts::default()
        },
    )
    .await;
    assert!(!s.keys_dir.exists());
    let j = s.cli(&["keys", "init", "--json"]).await;
    let keys = j["keys"]
        .as_array()
        .unwrap_or_else(|| panic!("keys array: {j}"));
    let mut algs: Vec<&str> = keys
        .iter()
        .map(|k| k["alg"].as_str().expect("alg"))
        .collect();
    algs.sort();
    assert_eq!(algs, vec!["ES256", "EdDSA", "RS256"], "{j}");
    assert!(
        keys.iter()
            .all(|k| k["kid"].as_str().is_some_and(|v| !v.is_empty())),
        "{j}"
    );
    let files = key_files(&s.keys_dir);
    assert!(!files.is_empty(), "keys written to the keys dir");
    let contents: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(s.keys_dir.join(f)).expect("read"))
        .collect();
    // Running it again generates nothing new.
    let again = s.cli(&["keys", "init", "--json"]).await;
    let kids = |v: &Value| {
        sorted(&Value::Array(
            v["keys"]
                .as_array()
                .expect("keys")
                .iter()
                .map(|k| k["kid"].clone())
                .collect(),
        ))
    };
    assert_eq!(kids(&j), kids(&again), "keys init is idempotent");
    assert_eq!(key_files(&s.keys_dir), files);
    for (f, c) in files.iter().zip(contents) {
        assert_eq!(
            std::fs::read(s.keys_dir.join(f)).expect("read"),
            c,
            "{f} rewritten"
        );
    }
}

async fn p14_server_generates_missing_keys_at_start(b: Backend) {
    let mut s = TestServer::start_with(
        b,
        Opts {
            no_keys: true,
            ..Opts::default()
        },
    )
    .await;
    assert!(!key_files(&s.keys_dir).is_empty(), "server wrote its keys");
    let jwks = s.get("/jwks").await.json();
    let mut algs: Vec<String> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["alg"].as_str().expect("alg").to_string())
        .collect();
    algs.sort();
    assert_eq!(algs, vec!["ES256", "EdDSA", "RS256"]);
    // Restarting loads the same keys.
    s.restart().await;
    let again = s.get("/jwks").await.json();
    assert_eq!(jwks, again, "keys must persist across restarts");
}

async fn admin_login(s: &TestServer, password: &str) -> Resp {
    s.browser().login("admin", password).await
}

const DEFAULT_PASSWORDS: [&str; 7] = [
    "admin",
    "password",
    "changeme",
    "gatehouse",
    "admin123",
    "123456",
    "",
];

async fn l15_admin_password_env_is_honoured(b: Backend) {
    let s = TestServer::start(b, &[]).await;
    let r = admin_login(&s, ADMIN_PASSWORD).await;
    assert_eq!(
        r.status,
        303,
        "bootstrap admin with GATEHOUSE_ADMIN_PASSWORD\n{}",
        r.describe()
    );
    for pw in DEFAULT_PASSWORDS {
        assert_eq!(
            admin_login(&s, pw).await.status,
            401,
            "L-15: admin/{pw:?} must not work"
        );
    }
    assert!(
        !s.stdout().contains(ADMIN_PASSWORD),
        "the configured password is not echoed"
    );
    assert!(
        !s.stderr().contains(ADMIN_PASSWORD),
        "the configured password is not logged"
    );
}

/// Without GATEHOUSE_ADMIN_PASSWORD a password is generated and printed once (first start only).
async fn l15_generated_admin_password_printed_once_and_works(b: Backend) {
    let mut s = TestServer::start_with(
        b,
        Opts::default()
            .unset("GATEHOUSE_ADMIN_PASSWORD")
            .unset("GATEHOUSE_LOG"),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let output = format!("{}\n{}", s.stdout(), s.stderr());
    let candidates: Vec<String> = output
        .lines()
        .filter(|l| l.to_ascii_lowercase().contains("password"))
        .flat_map(|l| {
            l.split(|c: char| c.is_whitespace() || "\"'`,;()[]{}<>=".contains(c))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .map(|t| t.trim_end_matches(['.', ':']).to_string())
        .filter(|t| t.len() >= 12 && !t.to_ascii_lowercase().contains("password"))
        .collect();
    assert!(
        !candidates.is_empty(),
        "no generated password printed\n{output}"
    );
    let mut found = None;
    for c in &candidates {
        if admin_login(&s, c).await.status == 303 {
            found = Some(c.clone());
            break;
        }
    }
    let pw = found.unwrap_or_else(|| panic!("none of {candidates:?} logs in as admin\n{output}"));
    assert!(
        pw.len() >= 16,
        "generated password too short: {} chars",
        pw.len()
    );
    assert_eq!(
        output.matches(pw.as_str()).count(),
        1,
        "printed exactly once\n{output}"
    );
    for d in DEFAULT_PASSWORDS {
        assert_eq!(
            admin_login(&s, d).await.status,
            401,
            "L-15: admin/{d:?} must not work"
        );
    }
    s.restart().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let output = format!("{}\n{}", s.stdout(), s.stderr());
    assert!(
        !output.contains(pw.as_str()),
        "password printed again on the second start\n{output}"
    );
    assert_eq!(
        admin_login(&s, &pw).await.status,
        303,
        "the generated password keeps working"
    );
}

/// P-18 / A-04: the client secret and user passwords never reach the database in clear.
async fn p18_secrets_and_passwords_not_stored_in_clear(b: Backend) {
    let mut s = TestServer::start(b, &[]).await;
    let client = s.client(&[]).await;
    let secret = client.secret.clone().expect("secret");
    let pw = "Unique-Password-7d3f1a2b";
    s.user("dora", pw).await;
    let dump = match b {
        Backend::Sqlite => {
            s.stop();
            let mut all = Vec::new();
            for entry in std::fs::read_dir(s.dir.path()).expect("temp dir") {
                let p = entry.expect("entry").path();
                if p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("gh.db"))
                {
                    all.extend(std::fs::read(&p).expect("read db file"));
                }
            }
            assert!(!all.is_empty(), "no SQLite database file found");
            String::from_utf8_lossy(&all).into_owned()
        }
        Backend::Postgres => pg_dump_text(&s.db_url).await,
    };
    assert!(dump.contains("dora"), "sanity: the dump holds the username");
    assert!(
        !dump.contains(&secret),
        "P-18: client secret stored in clear"
    );
    assert!(!dump.contains(pw), "L-06: password stored in clear");
    assert!(
        !dump.contains(ADMIN_PASSWORD),
        "L-06: admin password stored in clear"
    );
}

async fn pg_dump_text(url: &str) -> String {
    use sqlx::{Connection as _, Row as _};
    let mut conn = sqlx::postgres::PgConnection::connect(url)
        .await
        .expect("connect");
    let tables: Vec<String> = sqlx::query(
        "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables \
         WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'",
    )
    .fetch_all(&mut conn)
    .await
    .expect("list tables")
    .iter()
    .map(|r| r.get::<String, _>(0))
    .collect();
    let mut out = String::new();
    for t in tables {
        let rows = sqlx::query(&format!("SELECT t::text FROM {t} t"))
            .fetch_all(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("dump {t}: {e}"));
        for r in rows {
            out.push_str(&r.get::<String, _>(0));
            out.push('\n');
        }
    }
    out
}

async fn r10_missing_sqlite_file_is_created(b: Backend) {
    let s = TestServer::prepare(b, Opts::default()).await;
    let file = s.dir.path().join("gh.db");
    assert!(!file.exists());
    let s = s.launch().await;
    if b == Backend::Sqlite {
        assert!(
            file.exists(),
            "SQLite database file must be created at start"
        );
    }
    assert_eq!(s.get("/readyz").await.status, 200);
    // Also in a directory that does not exist yet? Not required by the contract; the file itself is.
}

/// A database that cannot be reached: non-zero exit, a message naming the database, no panic.
async fn r10_unreachable_database_fails_clearly(b: Backend) {
    let s = TestServer::prepare(b, Opts::default()).await;
    let url = match b {
        Backend::Sqlite => {
            let blocker = s.dir.path().join("not-a-dir");
            std::fs::write(&blocker, b"x").expect("write");
            format!("sqlite://{}/gh.db", blocker.display())
        }
        Backend::Postgres => "postgres://postgres@127.0.0.1:1/gh_unreachable".to_string(),
    };
    let mut env = s.env().to_vec();
    env.retain(|(k, _)| k != "GATEHOUSE_DATABASE_URL");
    env.push(("GATEHOUSE_DATABASE_URL".into(), url));
    let cmd = gatehouse_cmd(s.dir.path(), &env);
    let out = run_cmd(cmd, None, Duration::from_secs(45)).await;
    assert!(
        !out.status.success(),
        "server must exit non-zero\n{}",
        out.describe()
    );
    assert!(
        !out.stdout.contains("listening on"),
        "must not start listening\n{}",
        out.describe()
    );
    let err = out.stderr.to_ascii_lowercase();
    assert!(
        err.contains("database") || err.contains("not-a-dir") || err.contains("127.0.0.1:1"),
        "message must name the database\n{}",
        out.describe()
    );
    assert!(
        !out.stderr.contains("panicked"),
        "clear message, not a panic\n{}",
        out.describe()
    );
}

/// Contract: the server prints exactly one line to stdout, `listening on http://127.0.0.1:PORT`
/// (logs go to stderr), on the first start (admin password from the environment) and later ones.
async fn r10_stdout_is_exactly_the_listening_line(b: Backend) {
    let mut s = TestServer::start(b, &[]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        s.stdout(),
        format!("listening on {}\n", s.base),
        "first start"
    );
    s.restart().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        s.stdout(),
        format!("listening on {}\n", s.base),
        "second start"
    );
}
