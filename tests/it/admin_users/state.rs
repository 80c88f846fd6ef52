//! `/api/v1/users`, account state: password reset by link, the built-in administrator,
//! disable/enable, bulk delete, session revocation and trials.

use serde_json::{Value, json};

use super::{create, id};
use crate::common::api::{Cred, expect, ok};
use crate::common::{Authz, Backend, TestServer, TestUser, assert_oauth_error};

matrix!(
    a10_reset_password_gives_a_link_never_a_password,
    builtin_admin_cannot_be_deleted_or_disabled,
    disable_revokes_api_keys_and_tokens,
    revoke_sessions_and_expired_trial_end_tokens,
);

async fn a10_reset_password_gives_a_link_never_a_password(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let client = server.client(&[]).await;
    let u = create(
        &api,
        json!({"username": "forgetful", "password": "old-password-1"}),
    )
    .await;
    let user = TestUser {
        id: id(&u),
        username: "forgetful".into(),
        password: "old-password-1".into(),
    };
    let tokens = server
        .tokens(&client, &server.browser(), &Authz::new(&client), &user)
        .await;
    assert_eq!(server.userinfo(&tokens.access).await.status, 200);
    let url = format!("/api/v1/users/{}/reset-password", user.id);
    let r = api
        .post(&url, &json!({"temporary_password": "chosen-by-admin"}))
        .await;
    expect(&r, 400, Some("invalid_body"));
    let r = api.post(&url, &json!({})).await;
    let v = expect(&r, 200, None);
    assert!(
        r.header("cache-control")
            .is_some_and(|c| c.contains("no-store"))
    );
    let link = v["reset_url"].as_str().expect("reset_url");
    assert!(
        link.starts_with(&format!("{}/password/reset?token=", server.issuer)),
        "{link}"
    );
    assert!(
        link.len() > server.issuer.len() + 40,
        "a long random token: {link}"
    );
    assert!(v["expires_at"].as_i64().is_some_and(|t| t > 0));
    assert_eq!(v.as_object().map(|o| o.len()), Some(2), "nothing else: {v}");
    let again = ok(&api.post(&url, &json!({})).await);
    assert_ne!(again["reset_url"], v["reset_url"], "a new link each time");
    let after = ok(&api.get(&format!("/api/v1/users/{}", user.id)).await);
    assert_eq!(after["must_change_password"], true);
    // the user's sessions and tokens are gone
    assert_eq!(server.userinfo(&tokens.access).await.status, 401);
    assert_oauth_error(
        &server.refresh(&client, tokens.refresh(), None).await,
        400,
        "invalid_grant",
    );
}

async fn builtin_admin_cannot_be_deleted_or_disabled(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let me = ok(&api.get("/api/v1/me").await);
    let builtin = me["id"].as_str().expect("id").to_owned();
    let v = ok(&api.get(&format!("/api/v1/users/{builtin}")).await);
    assert_eq!(v["builtin"], true);
    assert_eq!(v["type"], "ADMIN");
    // another super administrator tries too
    create(
        &api,
        json!({"username": "admin2", "password": "12345678", "type": "ADMIN"}),
    )
    .await;
    let other = api.with(Cred::ApiKey(server.api_key_for("admin2", "default").await));
    for a in [&api, &other] {
        expect(
            &a.delete(&format!("/api/v1/users/{builtin}")).await,
            409,
            Some("builtin_user"),
        );
        let r = a
            .post(&format!("/api/v1/users/{builtin}/disable"), &json!({}))
            .await;
        expect(&r, 409, Some("builtin_user"));
        let r = a
            .post("/api/v1/users/bulk-delete", &json!({"ids": [builtin]}))
            .await;
        expect(&r, 409, Some("builtin_user"));
        let r = a
            .put(
                &format!("/api/v1/users/{builtin}/trial"),
                &json!({"trial_end_at": 1}),
            )
            .await;
        expect(&r, 409, Some("builtin_user"));
        let r = a
            .patch(
                &format!("/api/v1/users/{builtin}"),
                &json!({"type": "MEMBER"}),
            )
            .await;
        assert!(matches!(r.status, 403 | 409), "{}", r.describe());
    }
    let v = ok(&api.get(&format!("/api/v1/users/{builtin}")).await);
    assert_eq!(
        (v["state"].clone(), v["type"].clone()),
        (json!("active"), json!("ADMIN"))
    );
    // bulk delete is all or nothing
    let a = create(&api, json!({"username": "bulk1", "password": "12345678"})).await;
    let c = create(&api, json!({"username": "bulk2", "password": "12345678"})).await;
    let r = api
        .post(
            "/api/v1/users/bulk-delete",
            &json!({"ids": [id(&a), builtin, id(&c)]}),
        )
        .await;
    expect(&r, 409, Some("builtin_user"));
    ok(&api.get(&format!("/api/v1/users/{}", id(&a))).await);
    let v = ok(&api
        .post(
            "/api/v1/users/bulk-delete",
            &json!({"ids": [id(&a), id(&c)]}),
        )
        .await);
    assert_eq!(v["deleted"], 2);
    expect(
        &api.get(&format!("/api/v1/users/{}", id(&c))).await,
        404,
        Some("not_found"),
    );
}

async fn disable_revokes_api_keys_and_tokens(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let client = server.client(&[]).await;
    let user = server.user("dora", "dora-password-1").await;
    let key = server.api_key_for("dora", "default").await;
    let as_dora = api.with(Cred::ApiKey(key));
    assert_eq!(ok(&as_dora.get("/api/v1/me").await)["id"], user.id.as_str());
    let tokens = server
        .tokens(&client, &server.browser(), &Authz::new(&client), &user)
        .await;
    assert_eq!(server.userinfo(&tokens.access).await.status, 200);

    let v = ok(&api
        .post(&format!("/api/v1/users/{}/disable", user.id), &json!({}))
        .await);
    assert_eq!(v["state"], "inactive");
    expect(&as_dora.get("/api/v1/me").await, 401, Some("unauthorized"));
    assert_eq!(server.userinfo(&tokens.access).await.status, 401);
    assert_oauth_error(
        &server.refresh(&client, tokens.refresh(), None).await,
        400,
        "invalid_grant",
    );
    // enabling again brings back neither the revoked tokens nor the key
    let v = ok(&api
        .post(&format!("/api/v1/users/{}/enable", user.id), &json!({}))
        .await);
    assert_eq!(v["state"], "active");
    assert_eq!(server.userinfo(&tokens.access).await.status, 401);
    assert_oauth_error(
        &server.refresh(&client, tokens.refresh(), None).await,
        400,
        "invalid_grant",
    );
    expect(&as_dora.get("/api/v1/me").await, 401, Some("unauthorized"));
    let keys = ok(&api
        .get(&format!("/api/v1/users/{}/api-keys", user.id))
        .await);
    assert!(keys[0]["revoked_at"].as_i64().is_some(), "{keys}");
    // deleting also revokes
    let fresh = server
        .tokens(&client, &server.browser(), &Authz::new(&client), &user)
        .await;
    assert_eq!(server.userinfo(&fresh.access).await.status, 200);
    expect(
        &api.delete(&format!("/api/v1/users/{}", user.id)).await,
        204,
        None,
    );
    assert_eq!(server.userinfo(&fresh.access).await.status, 401);
}

async fn revoke_sessions_and_expired_trial_end_tokens(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let client = server.client(&[]).await;
    let user = server.user("tess", "tess-password-1").await;
    let t = server
        .tokens(&client, &server.browser(), &Authz::new(&client), &user)
        .await;
    let v = ok(&api
        .post(
            &format!("/api/v1/users/{}/revoke-sessions", user.id),
            &json!({}),
        )
        .await);
    assert_eq!(v["revoked_grants"], 1);
    assert_eq!(server.userinfo(&t.access).await.status, 401);
    assert_oauth_error(
        &server.refresh(&client, t.refresh(), None).await,
        400,
        "invalid_grant",
    );
    assert_eq!(
        ok(&api.get(&format!("/api/v1/users/{}", user.id)).await)["state"],
        "active"
    );

    let t = server
        .tokens(&client, &server.browser(), &Authz::new(&client), &user)
        .await;
    let url = format!("/api/v1/users/{}/trial", user.id);
    let v = ok(&api.put(&url, &json!({"trial_end_at": 4102444800u64})).await);
    assert_eq!(v["trial_end_at"], 4102444800u64);
    assert_eq!(
        server.userinfo(&t.access).await.status,
        200,
        "a future end changes nothing"
    );
    let v = ok(&api.put(&url, &json!({"trial_end_at": 1000})).await);
    assert_eq!(v["trial_end_at"], 1000);
    assert_eq!(server.userinfo(&t.access).await.status, 401);
    let v = ok(&api.put(&url, &json!({"trial_end_at": 0})).await);
    assert_eq!(
        v["trial_end_at"],
        Value::Null,
        "0 clears the trial (seed 000)"
    );
    expect(
        &api.put(&url, &json!({"trial_end_at": -5})).await,
        400,
        Some("invalid_field"),
    );
}
