//! `docs/openapi.json` describes exactly the routes served outside `/api/v1` (the admin API's
//! document is generated). Three sets must agree: the document's (method, path) pairs, the
//! reviewed list [`ROUTES`], and the `.route(…)` calls read from `src/http` (so a new route
//! fails here until it is documented). Every pair is then probed on a running server: none
//! may reach the router's fallback (404 `{"error":"not_found"}`) or a 405, and the status and
//! content type it answers with (no credentials, no body) must be documented.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::*;

matrix!(openapi_doc_routes_are_served);

/// Every route outside `/api/v1`, as `src/http/mod.rs` and `src/http/legacy/**` declare them.
/// GET routes also answer HEAD (axum), which is not listed.
const ROUTES: &[(&str, &str)] = &[
    // OAuth 2.0 / OpenID Connect (src/http/mod.rs)
    ("GET", "/.well-known/openid-configuration"),
    ("GET", "/.well-known/oauth-authorization-server"),
    ("GET", "/jwks"),
    ("GET", "/oauth/authorize"),
    ("POST", "/oauth/authorize"),
    ("GET", "/oauth/authorize/resume"),
    ("POST", "/oauth/token"),
    ("POST", "/oauth/introspect"),
    ("POST", "/oauth/revoke"),
    ("GET", "/oauth/userinfo"),
    ("POST", "/oauth/userinfo"),
    ("GET", "/oauth/logout"),
    ("POST", "/oauth/logout"),
    // browser pages (src/http/mod.rs)
    ("GET", "/"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/password/change"),
    ("POST", "/password/change"),
    ("GET", "/password/reset"),
    ("POST", "/password/reset"),
    ("GET", "/consent"),
    ("POST", "/consent"),
    // operations (src/http/mod.rs)
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/static/gatehouse.css"),
    // dialect hand-off resume (src/http/legacy/mod.rs)
    ("GET", "/sso/resume"),
    // seed 001 (src/http/legacy/account.rs)
    ("GET", "/views/login"),
    ("GET", "/v2/account/auth/login"),
    ("GET", "/account/auth/login"),
    ("POST", "/account/auth/login"),
    ("POST", "/auth/login"),
    ("POST", "/auth/logout"),
    ("POST", "/account/auth/logout"),
    ("GET", "/auth/self"),
    ("GET", "/account/auth/self"),
    ("GET", "/auth/access_token"),
    ("POST", "/auth/access_token"),
    ("GET", "/account/auth/access_token"),
    ("POST", "/account/auth/access_token"),
    ("POST", "/auth/signdata/verify"),
    // seed 002 (src/http/legacy/inc_session.rs, inc_user.rs)
    ("GET", "/api/auth/getSSO"),
    ("POST", "/api/auth/getSSO"),
    ("GET", "/account/password"),
    ("POST", "/account/password"),
    ("POST", "/api/auth/parseTk"),
    ("POST", "/api/auth/islogin"),
    ("POST", "/api/auth/logout"),
    ("POST", "/api/auth/getChangePasswordUri"),
    ("POST", "/api/log/save"),
    ("POST", "/api/log/listWithPaging"),
    ("POST", "/api/auth/checkApiByToken"),
    ("POST", "/api/auth/getUser"),
    ("POST", "/api/auth/getUserDataPerm"),
];

/// Operation keys of an OpenAPI path item.
const HTTP_METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Method-router constructors of axum (`any` would mean every method: not handled here).
const ROUTER_METHODS: &[&str] = &[
    "get", "post", "put", "delete", "patch", "head", "options", "trace", "any",
];

type Route = (String, String);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn document() -> Value {
    let path = root().join("docs/openapi.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn listed() -> BTreeSet<Route> {
    let set: BTreeSet<Route> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(set.len(), ROUTES.len(), "ROUTES lists a route twice");
    set
}

/// The (METHOD, path) pairs of the document.
fn documented(doc: &Value) -> BTreeSet<Route> {
    let paths = doc["paths"].as_object().expect("`paths` must be an object");
    let mut out = BTreeSet::new();
    for (path, item) in paths {
        let item = item
            .as_object()
            .unwrap_or_else(|| panic!("{path}: not an object"));
        let mut any = false;
        for method in item.keys().filter(|k| HTTP_METHODS.contains(&k.as_str())) {
            out.insert((method.to_ascii_uppercase(), path.clone()));
            any = true;
        }
        assert!(any, "{path}: documented without any operation");
    }
    out
}

/// Rust sources under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The identifiers directly followed by `(` in `expr`.
fn called_idents(expr: &str) -> Vec<&str> {
    let bytes = expr.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !ident(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && ident(bytes[i]) {
            i += 1;
        }
        let rest = expr[i..].trim_start();
        if rest.starts_with('(') {
            out.push(&expr[start..i]);
        }
    }
    out
}

/// The routes one source file declares with `.route("path", method(h).method(h))`.
fn routes_in(file: &Path, text: &str) -> Vec<Route> {
    // Comment lines may quote code; they declare nothing.
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    for unsupported in [".nest(", ".route_service(", ".nest_service("] {
        assert!(
            !code.contains(unsupported),
            "{}: `{unsupported}` is not read by this test; extend routes_in",
            file.display()
        );
    }
    let mut out = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        let after = rest.trim_start();
        let Some(after) = after.strip_prefix('"') else {
            panic!("{}: a .route( without a literal path", file.display());
        };
        let end = after.find('"').expect("closing quote of the path");
        let path = &after[..end];
        // The method router: up to the `)` closing `.route(`.
        let body = &after[end + 1..];
        let mut depth = 1;
        let mut close = None;
        for (i, c) in body.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        close = Some(i);
                        break;
                    }
                }
                _ => {}
            }
        }
        let expr = &body[..close.expect("closing parenthesis of .route(")];
        let methods: Vec<&str> = called_idents(expr)
            .into_iter()
            .filter(|i| ROUTER_METHODS.contains(i))
            .collect();
        assert!(
            !methods.is_empty(),
            "{}: cannot read the methods of route {path}",
            file.display()
        );
        assert!(
            !methods.contains(&"any"),
            "{}: route {path} uses any(): list its methods explicitly",
            file.display()
        );
        for m in methods {
            out.push((m.to_ascii_uppercase(), path.to_owned()));
        }
        rest = body;
    }
    out
}

/// Every route declared under `src/http`, except the admin API (`/api/v1`, documented by utoipa).
fn routes_in_source() -> BTreeSet<Route> {
    let mut files = Vec::new();
    rust_files(&root().join("src/http"), &mut files);
    let mut out = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        for route in routes_in(&file, &text) {
            if !route.1.starts_with("/api/v1/") {
                out.insert(route);
            }
        }
    }
    out
}

#[track_caller]
fn assert_same(label_a: &str, a: &BTreeSet<Route>, label_b: &str, b: &BTreeSet<Route>) {
    let only_a: Vec<_> = a.difference(b).collect();
    let only_b: Vec<_> = b.difference(a).collect();
    assert!(
        only_a.is_empty() && only_b.is_empty(),
        "{label_a} and {label_b} differ\nonly in {label_a}: {only_a:?}\nonly in {label_b}: {only_b:?}"
    );
}

/// Resolves a local `#/components/...` reference.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v["$ref"].as_str() {
        Some(r) => {
            let pointer = r.strip_prefix('#').expect("local $ref");
            doc.pointer(pointer)
                .unwrap_or_else(|| panic!("dangling $ref {r}"))
        }
        None => v,
    }
}

/// Whether the answer came from the router's fallback or method filter rather than a handler.
fn unrouted(r: &Resp) -> bool {
    let fallback = r.status == 404
        && serde_json::from_str::<Value>(&r.body).ok()
            == Some(serde_json::json!({ "error": "not_found" }));
    fallback || r.status == 405
}

async fn probe(s: &TestServer, method: &str, path: &str) -> Resp {
    let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    Resp::send(s.http.request(m, s.url(path))).await
}

/// The probe's status must be documented for the operation, with its content type when the
/// document gives content for that status.
#[track_caller]
fn assert_documented_answer(doc: &Value, method: &str, path: &str, r: &Resp) {
    let op = &doc["paths"][path][method.to_ascii_lowercase()];
    let status = r.status.to_string();
    let Some(response) = op["responses"]
        .get(&status)
        .or(op["responses"].get("default"))
    else {
        panic!(
            "{method} {path}: status {status} is not documented\n{}",
            r.describe()
        );
    };
    let response = resolve(doc, response);
    if let Some(content) = response["content"].as_object() {
        let ctype = r
            .header("content-type")
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        assert!(
            content.contains_key(&ctype),
            "{method} {path}: {status} answered {ctype:?}, documented {:?}\n{}",
            content.keys().collect::<Vec<_>>(),
            r.describe()
        );
    }
}

async fn openapi_doc_routes_are_served(b: Backend) {
    let doc = document();
    let version = doc["openapi"].as_str().unwrap_or_default();
    assert!(
        version.starts_with("3.1."),
        "docs/openapi.json must be OpenAPI 3.1.x, is {version:?}"
    );
    let documented = documented(&doc);
    assert!(
        documented.iter().all(|(_, p)| !p.starts_with("/api/v1")),
        "/api/v1 belongs to the generated document (/api/v1/openapi.json)"
    );
    let listed = listed();
    assert_same("docs/openapi.json", &documented, "ROUTES", &listed);
    assert_same("src/http", &routes_in_source(), "ROUTES", &listed);

    let s = TestServer::start(b, &[]).await;
    // The probe tells a handler from the router: an unknown path and a wrong method are unrouted.
    assert!(unrouted(&probe(&s, "GET", "/no-such-route").await));
    assert!(unrouted(&probe(&s, "PUT", "/healthz").await));
    for (method, path) in &listed {
        let r = probe(&s, method, path).await;
        assert!(
            !unrouted(&r),
            "{method} {path} is documented but not served\n{}",
            r.describe()
        );
        assert_documented_answer(&doc, method, path, &r);
    }
}
