//! Server start-up: the bootstrap administrator and no default credentials (L-15), and stdout
//! holding exactly the listening line.

use std::time::Duration;

use crate::common::*;

matrix!(
    l15_admin_password_env_is_honoured,
    l15_generated_admin_password_printed_once_and_works,
    r10_stdout_is_exactly_the_listening_line,
);

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
