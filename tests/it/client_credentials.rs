//! The client_credentials grant: works for clients allowed it, unauthorized_client otherwise (P-17),
//! authenticated (P-18), no refresh or ID token.

use serde_json::json;

use crate::common::*;

matrix!(
    p17_client_credentials_grant,
    p17_client_credentials_not_allowed_unauthorized_client,
    p18_client_credentials_wrong_secret_invalid_client,
    p17_client_credentials_only_client_cannot_use_code_grant,
);

async fn cc_client(s: &TestServer) -> TestClient {
    let c = s
        .client_with(&["--name", "Service", "--grant-type", "client_credentials"])
        .await;
    assert_eq!(
        c.json["grant_types"],
        json!(["client_credentials"]),
        "{}",
        c.json
    );
    assert!(c.secret.is_some(), "confidential by default: {}", c.json);
    c
}

async fn p17_client_credentials_grant(b: Backend) {
    let s = TestServer::start(b, &[]).await;
    let c = cc_client(&s).await;
    for auth in [c.auth(), c.post_auth()] {
        let t = Tokens::from_resp(
            s.token(&auth, &[("grant_type", "client_credentials")])
                .await,
        );
        let cc = t
            .resp
            .header("cache-control")
            .unwrap_or_default()
            .to_ascii_lowercase();
        assert!(cc.contains("no-store"), "P-12\n{}", t.resp.describe());
        assert!(
            t.json["token_type"]
                .as_str()
                .is_some_and(|v| v.eq_ignore_ascii_case("bearer")),
            "{}",
            t.json
        );
        assert!(
            t.json["expires_in"].as_u64().is_some_and(|e| e > 0),
            "{}",
            t.json
        );
        assert!(
            t.refresh.is_none(),
            "no refresh token for client_credentials: {}",
            t.json
        );
        assert!(
            t.id_token.is_none(),
            "no ID token without a user: {}",
            t.json
        );
        let r = s.introspect(&c.auth(), &t.access).await;
        assert_eq!(r.json()["active"], json!(true), "{}", r.describe());
        assert_eq!(r.json()["client_id"].as_str(), Some(c.id.as_str()));
    }
}

/// P-17: a client registered for the code flow only is refused (unauthorized_client).
async fn p17_client_credentials_not_allowed_unauthorized_client(b: Backend) {
    let f = fixture(b).await;
    let r = f
        .server
        .token(&f.client.auth(), &[("grant_type", "client_credentials")])
        .await;
    assert_oauth_error(&r, 400, "unauthorized_client");
    // A public client cannot use it either (it has no credentials to prove).
    let public = f.server.client(&["--public"]).await;
    let r = f
        .server
        .token(&public.auth(), &[("grant_type", "client_credentials")])
        .await;
    assert!(r.status == 400 || r.status == 401, "{}", r.describe());
    let e = r.json()["error"].as_str().unwrap_or_default().to_string();
    assert!(
        e == "unauthorized_client" || e == "invalid_client",
        "public client_credentials: {e}\n{}",
        r.describe()
    );
}

async fn p18_client_credentials_wrong_secret_invalid_client(b: Backend) {
    let s = TestServer::start(b, &[]).await;
    let c = cc_client(&s).await;
    let r = s
        .token(
            &ClientAuth::Basic(c.id.clone(), "wrong".into()),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_invalid_client(&r);
    let r = s
        .token(
            &ClientAuth::None,
            &[("grant_type", "client_credentials"), ("client_id", &c.id)],
        )
        .await;
    assert_invalid_client(&r);
}

async fn p17_client_credentials_only_client_cannot_use_code_grant(b: Backend) {
    let f = fixture(b).await;
    let s = &f.server;
    let c = cc_client(s).await;
    // No redirect URI is registered, so an authorization request is an error page (no redirect).
    let authz = Authz::new(&c);
    let r = s.browser().get(&authz.path()).await;
    assert_error_page(&r);
    // And refresh_token grant is not allowed to it.
    let r = s
        .token(
            &c.auth(),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "whatever"),
            ],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.describe());
    let e = r.json()["error"].as_str().unwrap_or_default().to_string();
    assert!(e == "unauthorized_client" || e == "invalid_grant", "{e}");
}
