//! Discovery, JWKS, health endpoints and issuer identity (P-04, P-14, P-16, R-10).

use serde_json::Value;

use crate::common::*;

matrix!(
    p16_discovery_document_matches_contract,
    p16_oauth_authorization_server_metadata,
    p16_issuer_ignores_spoofed_host_headers,
    p16_configured_issuer_is_used_verbatim,
    p14_jwks_publishes_public_keys_only,
    r10_healthz_and_readyz,
);

fn strings(v: &Value, field: &str) -> Vec<String> {
    v[field]
        .as_array()
        .unwrap_or_else(|| panic!("discovery field {field} must be an array: {v}"))
        .iter()
        .map(|s| {
            s.as_str()
                .unwrap_or_else(|| panic!("{field} holds a non-string"))
                .to_string()
        })
        .collect()
}

#[track_caller]
fn assert_contains_all(v: &Value, field: &str, expected: &[&str]) {
    let have = strings(v, field);
    for e in expected {
        assert!(have.iter().any(|h| h == e), "{field} lacks {e:?}: {have:?}");
    }
}

#[track_caller]
fn assert_endpoints(d: &Value, iss: &str) {
    assert_eq!(d["issuer"].as_str(), Some(iss), "issuer");
    for (field, path) in [
        ("authorization_endpoint", "/oauth/authorize"),
        ("token_endpoint", "/oauth/token"),
        ("userinfo_endpoint", "/oauth/userinfo"),
        ("jwks_uri", "/jwks"),
        ("introspection_endpoint", "/oauth/introspect"),
        ("revocation_endpoint", "/oauth/revoke"),
        ("end_session_endpoint", "/oauth/logout"),
    ] {
        assert_eq!(
            d[field].as_str(),
            Some(format!("{iss}{path}").as_str()),
            "{field} in {d}"
        );
    }
}

async fn p16_discovery_document_matches_contract(b: Backend) {
    let s = TestServer::start(b, &[]).await;
    let r = s.get("/.well-known/openid-configuration").await;
    assert_eq!(r.status, 200, "{}", r.describe());
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("application/json"),
        "discovery content-type\n{}",
        r.describe()
    );
    let d = r.json();
    assert_endpoints(&d, &s.base);
    assert_eq!(strings(&d, "response_types_supported"), vec!["code"]);
    // P-04: S256 only, plain not advertised.
    assert_eq!(
        strings(&d, "code_challenge_methods_supported"),
        vec!["S256"]
    );
    // P-16 / RFC 9207.
    assert_eq!(
        d["authorization_response_iss_parameter_supported"],
        Value::Bool(true)
    );
    assert_contains_all(
        &d,
        "scopes_supported",
        &[
            "openid",
            "profile",
            "email",
            "phone",
            "address",
            "offline_access",
        ],
    );
    assert_contains_all(
        &d,
        "id_token_signing_alg_values_supported",
        &["RS256", "ES256", "EdDSA"],
    );
    assert!(
        !strings(&d, "id_token_signing_alg_values_supported")
            .iter()
            .any(|a| a.eq_ignore_ascii_case("none")),
        "alg none must never be advertised"
    );
    assert_contains_all(
        &d,
        "token_endpoint_auth_methods_supported",
        &["client_secret_basic", "client_secret_post", "none"],
    );
    assert_eq!(strings(&d, "subject_types_supported"), vec!["public"]);
    assert_contains_all(
        &d,
        "grant_types_supported",
        &["authorization_code", "refresh_token", "client_credentials"],
    );
    assert!(
        !strings(&d, "grant_types_supported")
            .iter()
            .any(|g| g == "password" || g == "implicit"),
        "P-17: only needed grant types: {d}"
    );
    assert_contains_all(&d, "claims_supported", &["sub", "iss"]);
    assert_contains_all(&d, "prompt_values_supported", &["none", "login"]);
}

async fn p16_oauth_authorization_server_metadata(b: Backend) {
    let s = TestServer::start(b, &[]).await;
    let r = s.get("/.well-known/oauth-authorization-server").await;
    assert_eq!(r.status, 200, "{}", r.describe());
    let d = r.json();
    assert_endpoints(&d, &s.base);
    assert_eq!(
        strings(&d, "code_challenge_methods_supported"),
        vec!["S256"]
    );
    assert_eq!(
        d["authorization_response_iss_parameter_supported"],
        Value::Bool(true)
    );
}

/// P-16: neither Host nor X-Forwarded-* nor Forwarded change the issuer in discovery or in
/// authorization responses.
async fn p16_issuer_ignores_spoofed_host_headers(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let spoofs: [&[(&str, &str)]; 4] = [
        &[("host", "evil.example")],
        &[
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-proto", "https"),
        ],
        &[("forwarded", "host=evil.example;proto=https")],
        &[
            ("host", "evil.example:8443"),
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-port", "443"),
        ],
    ];
    for headers in spoofs {
        let mut req = s.http.get(s.url("/.well-known/openid-configuration"));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = Resp::send(req).await;
        assert_eq!(
            r.status,
            200,
            "discovery with {headers:?}\n{}",
            r.describe()
        );
        let d = r.json();
        assert_endpoints(&d, &s.base);
        assert!(
            !r.body.contains("evil.example"),
            "spoofed host leaked into discovery: {}",
            r.body
        );

        // The authorization response's iss (here a prompt=none error) is the configured issuer too.
        let browser = s.browser();
        let authz = Authz::new(&f.client).set("prompt", "none");
        let r = browser.get_with(&authz.path(), headers).await;
        assert_error_redirect(&r, REDIRECT, "login_required", authz.get("state"), &s.base);
    }

    // And in a successful authorization response and the ID token.
    let browser = s.browser();
    let authz = Authz::new(&f.client);
    let first = browser
        .get_with(&authz.path(), &[("x-forwarded-host", "evil.example")])
        .await;
    let cb = match browser.navigate(first, Some(&f.user), None).await {
        Outcome::Left(cb) => cb,
        Outcome::Page(p) => panic!("flow stopped\n{}", p.describe()),
    };
    assert_eq!(cb.get("iss"), Some(s.base.as_str()), "iss in {}", cb.url);
    let t = Tokens::from_resp(s.redeem(&f.client, &authz, cb.code()).await);
    let (_, claims) = jwt::decode(t.id_token());
    assert_eq!(
        claims["iss"].as_str(),
        Some(s.base.as_str()),
        "ID token iss"
    );
}

/// GATEHOUSE_ISSUER is used as is (no trailing slash), whatever address the server is reached on.
async fn p16_configured_issuer_is_used_verbatim(b: Backend) {
    let s = TestServer::start(b, &[("GATEHOUSE_ISSUER", "https://sso.example")]).await;
    let d = s.discovery().await;
    assert_endpoints(&d, "https://sso.example");
}

async fn p14_jwks_publishes_public_keys_only(b: Backend) {
    let s = TestServer::start(b, &[]).await;
    let r = s.get("/jwks").await;
    assert_eq!(r.status, 200, "{}", r.describe());
    let jwks = r.json();
    let keys = jwks["keys"]
        .as_array()
        .unwrap_or_else(|| panic!("no keys array: {jwks}"));
    let mut seen = Vec::new();
    for k in keys {
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            assert!(
                k.get(private).is_none(),
                "P-14: private/symmetric member {private:?} in JWKS: {k}"
            );
        }
        assert_eq!(k["use"].as_str(), Some("sig"), "use=sig: {k}");
        let kid = k["kid"]
            .as_str()
            .unwrap_or_else(|| panic!("kid missing: {k}"));
        assert!(!kid.is_empty(), "empty kid");
        let alg = k["alg"]
            .as_str()
            .unwrap_or_else(|| panic!("alg missing: {k}"));
        match alg {
            "RS256" => {
                assert_eq!(k["kty"], "RSA", "{k}");
                let n = b64url_decode(k["n"].as_str().expect("n"));
                let bits = n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize);
                assert!(bits >= 2048, "RSA modulus has {bits} bits, need ≥ 2048");
                assert!(k["e"].is_string(), "{k}");
            }
            "ES256" => {
                assert_eq!(k["kty"], "EC", "{k}");
                assert_eq!(k["crv"], "P-256", "{k}");
                assert_eq!(b64url_decode(k["x"].as_str().expect("x")).len(), 32);
                assert_eq!(b64url_decode(k["y"].as_str().expect("y")).len(), 32);
            }
            "EdDSA" => {
                assert_eq!(k["kty"], "OKP", "{k}");
                assert_eq!(k["crv"], "Ed25519", "{k}");
                assert_eq!(b64url_decode(k["x"].as_str().expect("x")).len(), 32);
            }
            other => panic!("unexpected alg {other} in JWKS: {k}"),
        }
        seen.push((kid.to_string(), alg.to_string()));
    }
    let mut algs: Vec<&str> = seen.iter().map(|(_, a)| a.as_str()).collect();
    algs.sort();
    assert_eq!(
        algs,
        vec!["ES256", "EdDSA", "RS256"],
        "one key per algorithm"
    );
    let mut kids: Vec<&str> = seen.iter().map(|(k, _)| k.as_str()).collect();
    kids.sort();
    kids.dedup();
    assert_eq!(kids.len(), seen.len(), "kids must be unique: {seen:?}");

    // The served keys are the ones in the keys dir (`keys init` output of the shared keys).
    let mut expected = shared_keys().kids();
    expected.sort();
    seen.sort();
    assert_eq!(seen, expected, "JWKS kids/algs vs `keys init --json`");
}

async fn r10_healthz_and_readyz(b: Backend) {
    let s = TestServer::start(b, &[]).await;
    let r = s.get("/healthz").await;
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.body.trim(), "ok");
    let r = s.get("/readyz").await;
    assert_eq!(r.status, 200, "{}", r.describe());
}
