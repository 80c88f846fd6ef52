//! The path-normalisation bypass corpus (G-07, G-08): alice may call `/api/public/**` and
//! `/api/user/get` but not `/api/admin/**`. No spelling of a refused path — encoded slashes, dot
//! segments raw/encoded/double-encoded, `//`, backslashes, case changes, trailing slashes, `;`
//! parameters, NUL, overlong forms, Unicode look-alikes — may answer `true`.

use serde_json::{Value, json};

use super::{CHECK, data, env, post_json};
use crate::common::{Backend, Resp};

matrix!(g07_path_normalisation_bypass_corpus_never_allows);

/// Spellings that must all answer `false`.
fn corpus() -> Vec<String> {
    let mut c: Vec<String> = [
        "/api/admin/x",
        "/api/admin/x/",
        "/api/admin/x?/api/public/x",
        "/api/admin/x#/api/public/x",
        // dot segments, raw and encoded
        "/api/public/../admin/x",
        "/api/public/./../admin/x",
        "/api/public/x/../../admin/x",
        "/api/public/%2e%2e/admin/x",
        "/api/public/%2E%2E/admin/x",
        "/api/public/.%2e/admin/x",
        "/api/public/%2e./admin/x",
        "/api/public/%2e%2e%2f%2e%2e%2fadmin",
        "/api/public/.../admin/x",
        "/api/public/.. /admin/x",
        "/api/public/..%20/admin/x",
        "/api/public/..%09/admin/x",
        // double and triple encoding
        "/api/public/%252e%252e/admin/x",
        "/api/public/%25252e%25252e/admin/x",
        "/api/public/..%252fadmin/x",
        "/api/public/%u002e%u002e/admin/x",
        // encoded separators
        "/api/public/..%2fadmin/x",
        "/api/public/..%2Fadmin/x",
        "/api/public%2f..%2fadmin/x",
        "/api/public/..%5cadmin/x",
        "/api/public/..%5Cadmin/x",
        // empty segments
        "/api/public//../admin/x",
        "/api/public/x//../../admin/x",
        "//api/admin/x",
        "/api//admin/x",
        "///api/admin/x",
        // backslashes
        "/api/public/..\\admin/x",
        "/api/public\\..\\admin/x",
        "\\api\\admin\\x",
        // path parameters
        "/api/public/..;/admin/x",
        "/api/public/..;a=b/admin/x",
        "/api/public/%2e%2e;/admin/x",
        "/api/public/..%3b/admin/x",
        "/api/public/x;/../../admin/x",
        "/api/admin;/x",
        "/api/admin/x;.css",
        // NUL and other controls
        "/api/public/..%00/admin/x",
        "/api/public/%00/../../admin/x",
        "/api/public/x%00/../../admin/x",
        "/api/public/\u{0}/../admin/x",
        "/api/public/%0d%0a/../admin/x",
        "/api/public/x\r\n/../../admin/x",
        // overlong UTF-8 forms of '.' and '/'
        "/api/public/%c0%ae%c0%ae/admin/x",
        "/api/public/%c0%2e%c0%2e/admin/x",
        "/api/public/%e0%80%ae%e0%80%ae/admin/x",
        "/api/public/..%c0%afadmin/x",
        "/api/public/..%e0%80%afadmin/x",
        // Unicode look-alikes of '.', '/' and '\'
        "/api/public/\u{FF0E}\u{FF0E}/admin/x",
        "/api/public/%ef%bc%8e%ef%bc%8e/admin/x",
        "/api/public/x\u{FF0F}..\u{FF0F}..\u{FF0F}admin/x",
        "/api/public/..%ef%bc%8fadmin/x",
        "/api/public/..\u{2215}admin/x",
        "/api/public/..\u{2044}admin/x",
        "/api/public/..\u{FF3C}admin/x",
        "/api/public/\u{2024}\u{2024}/admin/x",
        // encoded query and fragment delimiters
        "/api/public/x%23/../../admin/x",
        "/api/public/x%3f/../../admin/x",
        "/api/public/x#/../../admin/x",
        // case changes
        "/API/ADMIN/x",
        "/Api/admin/x",
        "/api/Admin/x",
        "/api/ADMIN/x",
        "/API/PUBLIC/x",
        "/api/PUBLIC/x",
        "/%41PI/admin/x",
        // not a path
        "api/admin/x",
        "api/public/x",
        "http://evil.example/api/public/x",
        "https://gatehouse.example/api/admin/x",
        " /api/public/x",
        "\t/api/public/x",
        "",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    c.push(format!("/api/public/x/{}admin/x", "../".repeat(50)));
    c.push(format!("/api/public/{}../admin", "a/".repeat(1100)));
    c.push(format!("/api/public/{}", "a".repeat(5000)));
    c.push(format!("/api/public/{}", "%2e%2e/".repeat(300)));
    c
}

/// Spellings of allowed paths that stay allowed (the corpus is not trivially "deny all").
const ALLOWED: &[&str] = &[
    "/api/public/x",
    "/api/public/x/",
    "/api/public/%78",
    "/api/public/a%20b",
    "/api/public/文件",
    "/api/public/%E6%96%87%E4%BB%B6",
    "/api/public/x?y=../../admin",
    "/api/public/v1.2/a..b/.well",
    "/api/user/get",
    "/api/us%65r/get",
];

async fn batch(s: &crate::common::TestServer, token: &str, checks: Vec<Value>) -> Vec<bool> {
    let mut out = Vec::new();
    for chunk in checks.chunks(100) {
        let r: Resp = post_json(s, CHECK, &json!({"token": token, "checks": chunk})).await;
        let d = data(&r);
        let list = d.as_array().expect("data is an array");
        assert_eq!(list.len(), chunk.len(), "{}", r.describe());
        out.extend(list.iter().map(|v| v.as_bool().expect("booleans")));
    }
    out
}

async fn g07_path_normalisation_bypass_corpus_never_allows(b: Backend) {
    let e = env(b).await;
    let s = &e.server;
    let t = e.token().await;
    for p in ALLOWED {
        assert!(e.check(&t, p, None).await, "control {p:?} must be allowed");
    }
    let corpus = corpus();
    for p in &corpus {
        if p.is_empty() {
            continue; // an empty apiPath is a missing parameter (see decisions)
        }
        for m in [None, Some("GET"), Some("POST")] {
            assert!(
                !e.check(&t, p, m).await,
                "bypass: {m:?} {p:?} answered true"
            );
        }
    }
    // the same corpus through the batch form, with methods
    let checks: Vec<Value> = corpus
        .iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| {
            [
                json!({"apiPath": p}),
                json!({"apiPath": p, "method": "DELETE"}),
            ]
        })
        .collect();
    let answers = batch(s, &t, checks.clone()).await;
    for (c, a) in checks.iter().zip(answers) {
        assert!(!a, "bypass in batch: {c}");
    }
    // method spellings are not a way around a method restriction
    for m in [
        "GET ",
        " GET",
        "GET\u{0}",
        "get\r\nX-Foo: bar",
        "G%45T",
        "DELETE,GET",
        "*",
    ] {
        assert!(!e.check(&t, "/api/orders/1", Some(m)).await, "method {m:?}");
    }
    // X-HTTP-Method-Override is not read: only the body's method counts
    let r = Resp::send(
        s.http
            .post(s.url(CHECK))
            .header("X-HTTP-Method-Override", "GET")
            .json(&json!({"token": t, "apiPath": "/api/orders/1", "method": "DELETE"})),
    )
    .await;
    assert_eq!(data(&r), json!(false));
}
