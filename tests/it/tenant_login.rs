//! Sign-in of users whose main tenant is not the default one: the organisation code typed on the
//! login page, or the tenant of the application asking, picks whose `carol` signs in; a wrong
//! organisation fails like a wrong password (L-01).

use serde_json::{Value, json};

use crate::common::api::ok;
use crate::common::*;
use crate::directory_login::{assert_refused, assert_signed_in};

matrix!(
    l01_organisation_code_selects_the_tenant_of_the_username,
    users_of_an_applications_tenant_sign_in_without_naming_it,
);

/// `user add` in `tenant`; the user as the OAuth helpers know it.
async fn user_in(server: &TestServer, username: &str, password: &str, tenant: &str) -> TestUser {
    let v = server
        .cli(&[
            "user",
            "add",
            "--username",
            username,
            "--password",
            password,
            "--tenant",
            tenant,
            "--json",
        ])
        .await;
    assert_eq!(v["tenant_id"], tenant, "{v}");
    TestUser::from_json(v, password)
}

async fn tenant(server: &TestServer, code: &str) -> String {
    let admin = server.admin_api().await;
    let t = ok(&admin
        .post(
            "/api/v1/tenants",
            &json!({"code": code, "name": format!("{code} Inc")}),
        )
        .await);
    t["id"].as_str().expect("tenant id").to_owned()
}

/// Posts the login form with an organisation code from a fresh browser.
async fn login_to(server: &TestServer, org: &str, username: &str, password: &str) -> Resp {
    let browser = server.browser();
    let page = browser.get("/login").await;
    assert_eq!(page.status, 200, "{}", page.describe());
    assert!(
        input_value(&page.body, "organization").is_some() || page.body.contains("organization"),
        "the login page offers an organisation field\n{}",
        page.describe()
    );
    browser
        .post_form(
            "/login",
            &[
                ("csrf_token", &page.csrf()),
                ("username", username),
                ("password", password),
                ("organization", org),
            ],
        )
        .await
}

/// The successful `login` audit entries, newest first, as (tenant, actor id).
async fn logins(server: &TestServer) -> Vec<(String, String)> {
    let admin = server.admin_api().await;
    let page = ok(&admin
        .get("/api/v1/audit-logs?operation=login&limit=50")
        .await);
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e: &Value| {
            (
                e["tenant_id"].as_str().unwrap_or_default().to_owned(),
                e["actor_id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn l01_organisation_code_selects_the_tenant_of_the_username(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let acme = tenant(&server, "ACME").await;
    let acme_carol = user_in(&server, "carol", "acme-carol-pw1", &acme).await;
    let home_carol = user_in(&server, "carol", "home-carol-pw1", "default").await;
    assert_ne!(acme_carol.id, home_carol.id);

    // no organisation: the default tenant's carol, whose password is not ACME carol's
    assert_refused(&login_to(&server, "", "carol", "acme-carol-pw1").await);
    assert_signed_in(&login_to(&server, "", "carol", "home-carol-pw1").await);
    assert_eq!(logins(&server).await[0], ("default".into(), home_carol.id));

    // the organisation code (any case) selects ACME's carol
    assert_refused(&login_to(&server, "ACME", "carol", "home-carol-pw1").await);
    assert_signed_in(&login_to(&server, "ACME", "carol", "acme-carol-pw1").await);
    assert_eq!(
        logins(&server).await[0],
        (acme.clone(), acme_carol.id.clone())
    );
    assert_signed_in(&login_to(&server, "acme", "carol", "acme-carol-pw1").await);

    // an unknown organisation is the one generic failure, and the field keeps what was typed
    let r = login_to(&server, "NOPE", "carol", "acme-carol-pw1").await;
    assert_refused(&r);
    assert_eq!(
        input_value(&r.body, "organization").as_deref(),
        Some("NOPE")
    );
    let r = login_to(&server, &"X".repeat(300), "carol", "acme-carol-pw1").await;
    assert_refused(&r);
    let admin = server.admin_api().await;
    let failed = ok(&admin
        .get("/api/v1/audit-logs?operation=login_failed&limit=10")
        .await);
    let reasons: Vec<&str> = failed["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["details"]["reason"].as_str())
        .collect();
    assert!(reasons.contains(&"unknown_organization"), "{failed}");
}

async fn users_of_an_applications_tenant_sign_in_without_naming_it(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let acme = tenant(&server, "ACME").await;
    let carol = user_in(&server, "carol", "acme-carol-pw1", &acme).await;
    let acme_app = server.client(&["--tenant", &acme]).await;
    let home_app = server.client(&[]).await;

    // through ACME's application the form finds ACME's carol with no organisation typed
    let browser = server.browser();
    let authz = Authz::new(&acme_app);
    let tokens = server.tokens(&acme_app, &browser, &authz, &carol).await;
    let info = server.userinfo(&tokens.access).await;
    assert_eq!(info.status, 200, "{}", info.describe());
    assert_eq!(info.json()["sub"], carol.id.as_str());

    // through an application of the default tenant she is unknown unless she names ACME
    let browser = server.browser();
    let first = browser.get(&Authz::new(&home_app).path()).await;
    let Outcome::Page(page) = browser.navigate(first, None, None).await else {
        panic!("the login page was expected");
    };
    assert!(is_login_form(&page.body), "{}", page.describe());
    let r = browser
        .submit_login(&page, &carol.username, &carol.password)
        .await;
    assert_refused(&r);
    let r = browser
        .post_form(
            "/login",
            &[
                ("csrf_token", &r.csrf()),
                ("username", &carol.username),
                ("password", &carol.password),
                ("organization", "ACME"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.describe());
    assert_eq!(
        r.header("location"),
        Some("/oauth/authorize/resume"),
        "{}",
        r.describe()
    );
}
