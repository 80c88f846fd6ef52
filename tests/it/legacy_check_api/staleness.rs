//! Cache correctness (G-08, A-11): with the caches warm, every change of the directory, the
//! user, the application or the token is seen by the very next checkApiByToken call.

use serde_json::json;

use super::{Env, env, link};
use crate::common::api::ok;
use crate::common::{Backend, POST_LOGOUT, form_encode};

matrix!(
    g08_role_item_and_group_changes_apply_to_the_next_call,
    g08_disabled_user_and_expired_trial_are_false_at_once,
    g08_disabled_application_is_false_at_once,
    g08_revoked_token_and_logout_are_false_at_once,
);

const PATH: &str = "/api/user/get";

/// Asserts the answer for PATH, twice (the second from a warm cache).
async fn expect_answer(e: &Env, token: &str, want: bool, after: &str) {
    for _ in 0..2 {
        assert_eq!(e.check(token, PATH, None).await, want, "after: {after}");
    }
}

async fn g08_role_item_and_group_changes_apply_to_the_next_call(b: Backend) {
    let e = env(b).await;
    let api = &e.api;
    let t = e.token().await;
    let member = format!("/api/v1/roles/{}/members/{}", e.role, e.user.id);
    let grant = format!(
        "/api/v1/roles/{}/permissions/{}",
        e.role, e.items["user.get"]
    );
    expect_answer(&e, &t, true, "setup").await;

    link(api, &member, false).await;
    expect_answer(&e, &t, false, "role unassigned").await;
    link(api, &member, true).await;
    expect_answer(&e, &t, true, "role assigned again").await;

    link(api, &grant, false).await;
    expect_answer(&e, &t, false, "item revoked from the role").await;
    assert!(e.check(&t, "/api/public/x", None).await, "other items stay");
    link(api, &grant, true).await;
    expect_answer(&e, &t, true, "item granted again").await;

    // through a group (and its parent): the role held by the parent group
    link(api, &member, false).await;
    expect_answer(&e, &t, false, "direct role removed").await;
    let parent = ok(&api.post("/api/v1/groups", &json!({"name": "Sales"})).await);
    let parent = super::id(&parent);
    let child = ok(&api
        .post(
            "/api/v1/groups",
            &json!({"name": "Sales East", "parent": parent}),
        )
        .await);
    let child = super::id(&child);
    let group_role = format!("/api/v1/groups/{parent}/roles/{}", e.role);
    let group_member = format!("/api/v1/groups/{child}/members/{}", e.user.id);
    link(api, &group_role, true).await;
    expect_answer(&e, &t, false, "group holds the role, user not a member").await;
    link(api, &group_member, true).await;
    expect_answer(&e, &t, true, "user added to a sub-group").await;
    link(api, &group_member, false).await;
    expect_answer(&e, &t, false, "user removed from the group").await;
    link(api, &group_member, true).await;
    expect_answer(&e, &t, true, "user added again").await;
    link(api, &group_role, false).await;
    expect_answer(&e, &t, false, "role removed from the group").await;
    link(api, &group_role, true).await;
    expect_answer(&e, &t, true, "role given to the group again").await;

    // editing the item's patterns
    let r = api
        .patch(
            &format!(
                "/api/v1/applications/{}/permissions/{}",
                e.app.id, e.items["user.get"]
            ),
            &json!({"apis": [{"path": "/api/user/other"}]}),
        )
        .await;
    ok(&r);
    expect_answer(&e, &t, false, "item pattern changed").await;
    assert!(e.check(&t, "/api/user/other", None).await);

    // deleting the role
    let r = api
        .delete(&format!("/api/v1/roles/{}?force=true", e.role))
        .await;
    assert_eq!(r.status, 204, "{}", r.describe());
    assert!(!e.check(&t, "/api/user/other", None).await, "role deleted");
    assert!(!e.check(&t, "/api/public/x", None).await, "role deleted");
}

async fn g08_disabled_user_and_expired_trial_are_false_at_once(b: Backend) {
    let e = env(b).await;
    let api = &e.api;
    let t = e.token().await;
    expect_answer(&e, &t, true, "setup").await;
    ok(&api
        .post(&format!("/api/v1/users/{}/disable", e.user.id), &json!({}))
        .await);
    expect_answer(&e, &t, false, "user disabled").await;
    ok(&api
        .post(&format!("/api/v1/users/{}/enable", e.user.id), &json!({}))
        .await);
    // disabling revoked the user's tokens: the old one stays refused, a new one works
    expect_answer(&e, &t, false, "user enabled again (old token)").await;
    let t = e.token().await;
    expect_answer(&e, &t, true, "new token").await;

    let past = now() - 10;
    ok(&api
        .put(
            &format!("/api/v1/users/{}/trial", e.user.id),
            &json!({"trial_end_at": past}),
        )
        .await);
    expect_answer(&e, &t, false, "trial ended").await;

    // a trial that runs out while the cache is warm
    ok(&api
        .put(
            &format!("/api/v1/users/{}/trial", e.user.id),
            &json!({"trial_end_at": 0}),
        )
        .await);
    let t = e.token().await;
    let end = now() + 2;
    ok(&api
        .put(
            &format!("/api/v1/users/{}/trial", e.user.id),
            &json!({"trial_end_at": end}),
        )
        .await);
    expect_answer(&e, &t, true, "trial running").await;
    while now() <= end {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    expect_answer(&e, &t, false, "trial ran out").await;
}

async fn g08_disabled_application_is_false_at_once(b: Backend) {
    let e = env(b).await;
    let t = e.token().await;
    expect_answer(&e, &t, true, "setup").await;
    let app = format!("/api/v1/applications/{}", e.app.id);
    ok(&e.api.patch(&app, &json!({"enabled": false})).await);
    expect_answer(&e, &t, false, "application disabled").await;
    ok(&e.api.patch(&app, &json!({"enabled": true})).await);
    expect_answer(&e, &t, true, "application enabled again").await;
}

async fn g08_revoked_token_and_logout_are_false_at_once(b: Backend) {
    let e = env(b).await;
    let s = &e.server;
    let t = e.token().await;
    let other = e.token().await;
    expect_answer(&e, &t, true, "setup").await;
    expect_answer(&e, &other, true, "setup").await;
    let r = s.revoke(&e.app.auth(), &t).await;
    assert_eq!(r.status, 200, "{}", r.describe());
    expect_answer(&e, &t, false, "token revoked").await;
    expect_answer(&e, &other, true, "another session's token").await;

    // logout of the browser session that obtained the token
    let browser = s.browser();
    let tokens = s
        .tokens(
            &e.app,
            &browser,
            &crate::common::Authz::new(&e.app),
            &e.user,
        )
        .await;
    expect_answer(&e, &tokens.access, true, "new session").await;
    let r = browser
        .get(&format!(
            "/oauth/logout?{}",
            form_encode(&[
                ("id_token_hint", tokens.id_token()),
                ("post_logout_redirect_uri", POST_LOGOUT),
            ])
        ))
        .await;
    assert_eq!(r.status, 303, "{}", r.describe());
    expect_answer(&e, &tokens.access, false, "logout").await;

    // revoking all of the user's sessions
    expect_answer(&e, &other, true, "untouched session").await;
    ok(&e
        .api
        .post(
            &format!("/api/v1/users/{}/revoke-sessions", e.user.id),
            &json!({}),
        )
        .await);
    expect_answer(&e, &other, false, "sessions revoked").await;
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
