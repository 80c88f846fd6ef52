//! `/api/v1/groups`: members, roles inherited by the members of sub-groups, and the rules that
//! stop a group manager from raising their own privileges.

use serde_json::json;

use super::{get, group, id};
use crate::common::api::{Api, Cred, expect, ok};
use crate::common::{Backend, TestServer};

matrix!(
    group_members_add_list_remove,
    a11_group_roles_are_inherited_by_members_of_sub_groups,
    groups_refuse_self_escalation
);

async fn group_members_add_list_remove(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let u1 = server.user("ann", "correct-horse-9").await;
    let u2 = server.user("ben", "correct-horse-9").await;
    let g = id(&group(&api, "G", "", json!({})).await);
    let members = format!("/api/v1/groups/{g}/members");
    assert_eq!(ok(&api.get(&members).await), json!([]));
    for u in [&u1.id, &u2.id, &u1.id] {
        expect(
            &api.put(&format!("{members}/{u}"), &json!({})).await,
            204,
            None,
        );
    }
    assert_eq!(ok(&api.get(&members).await), json!([u1.id, u2.id]));
    assert_eq!(
        ok(&api.get(&format!("{members}?offset=1&limit=1")).await),
        json!([u2.id])
    );
    expect(
        &api.get(&format!("{members}?limit=0")).await,
        400,
        Some("invalid_field"),
    );
    expect(
        &api.put(
            &format!("{members}/0194f7a2-0000-7000-8000-000000000000"),
            &json!({}),
        )
        .await,
        404,
        Some("not_found"),
    );
    expect(
        &api.delete(&format!("{members}/{}", u1.id)).await,
        204,
        None,
    );
    assert_eq!(ok(&api.get(&members).await), json!([u2.id]));
    expect(
        &api.delete(&format!("{members}/{}", u1.id)).await,
        404,
        Some("not_found"),
    );
    let log = ok(&api
        .get(&format!(
            "/api/v1/audit-logs?target_type=group&target_id={g}&operation=add_member"
        ))
        .await);
    assert_eq!(log["total"], 2);
}

/// A parent group holding a role that grants `account` (read the admin API); `user` joins a
/// CHILD group and inherits it, and loses it when removed (immediately, A-11).
async fn a11_group_roles_are_inherited_by_members_of_sub_groups(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let user = server.user("mia", "correct-horse-9").await;
    let mia = Api::new(
        &server,
        Cred::ApiKey(server.api_key_for("mia", "default").await),
    );
    let parent = id(&group(&api, "Staff", "", json!({})).await);
    let child = id(&group(&api, "Readers", &parent, json!({})).await);
    let role = id(&ok(&api
        .post("/api/v1/roles", &json!({"code": "VIEWER"}))
        .await));
    expect(
        &api.put(
            &format!("/api/v1/roles/{role}/permissions/perm-account"),
            &json!({}),
        )
        .await,
        204,
        None,
    );
    let granted = ok(&api.get(&format!("/api/v1/roles/{role}/permissions")).await);
    assert_eq!(granted[0]["id"], "perm-account");
    assert_eq!(granted[0]["code"], "account");
    expect(
        &api.put(&format!("/api/v1/groups/{parent}/roles/{role}"), &json!({}))
            .await,
        204,
        None,
    );
    let held = ok(&api.get(&format!("/api/v1/groups/{parent}/roles")).await);
    assert_eq!(held.as_array().map(Vec::len), Some(1));
    assert_eq!(held[0]["code"], "VIEWER");
    assert_eq!(
        ok(&api.get(&format!("/api/v1/groups/{child}/roles")).await),
        json!([])
    );
    expect(&mia.get("/api/v1/groups").await, 403, Some("forbidden"));
    let join = format!("/api/v1/groups/{child}/members/{}", user.id);
    expect(&api.put(&join, &json!({})).await, 204, None);
    let seen = ok(&mia.get("/api/v1/groups").await);
    assert_eq!(seen["total"], 2);
    ok(&mia
        .get(&format!("/api/v1/groups/{parent}?recursive=true"))
        .await);
    // `account` reads only: writes still need account.department
    expect(
        &mia.post("/api/v1/groups", &json!({"name": "Mine"})).await,
        403,
        Some("forbidden"),
    );
    expect(&api.delete(&join).await, 204, None);
    expect(&mia.get("/api/v1/groups").await, 403, Some("forbidden"));
    // and back through the role: taking it from the group also takes it from the members
    expect(&api.put(&join, &json!({})).await, 204, None);
    ok(&mia.get("/api/v1/groups").await);
    expect(
        &api.delete(&format!("/api/v1/groups/{parent}/roles/{role}"))
            .await,
        204,
        None,
    );
    expect(&mia.get("/api/v1/groups").await, 403, Some("forbidden"));
    expect(
        &api.delete(&format!("/api/v1/groups/{parent}/roles/{role}"))
            .await,
        404,
        Some("not_found"),
    );
}

/// A group manager (account + account.department through a group) cannot raise their own
/// privileges through groups: join a group, give their group a role, or move their group under
/// one that holds roles they lack. The super administrator can.
async fn groups_refuse_self_escalation(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let user = server.user("max", "correct-horse-9").await;
    let max = Api::new(
        &server,
        Cred::ApiKey(server.api_key_for("max", "default").await),
    );
    let managers = id(&group(&api, "Managers", "", json!({})).await);
    let team = id(&group(&api, "Team", &managers, json!({})).await);
    let powerful = id(&group(&api, "Powerful", "", json!({})).await);
    let manager = id(&ok(&api
        .post("/api/v1/roles", &json!({"code": "GROUP-MANAGER"}))
        .await));
    let extra = id(&ok(&api
        .post("/api/v1/roles", &json!({"code": "EXTRA"}))
        .await));
    for perm in ["perm-account", "perm-account-department"] {
        expect(
            &api.put(
                &format!("/api/v1/roles/{manager}/permissions/{perm}"),
                &json!({}),
            )
            .await,
            204,
            None,
        );
    }
    expect(
        &api.put(
            &format!("/api/v1/roles/{extra}/permissions/perm-account-user"),
            &json!({}),
        )
        .await,
        204,
        None,
    );
    for (g, r) in [(&managers, &manager), (&powerful, &extra)] {
        expect(
            &api.put(&format!("/api/v1/groups/{g}/roles/{r}"), &json!({}))
                .await,
            204,
            None,
        );
    }
    expect(
        &api.put(
            &format!("/api/v1/groups/{team}/members/{}", user.id),
            &json!({}),
        )
        .await,
        204,
        None,
    );
    // max manages groups now
    let own = id(&group(&max, "Side", "", json!({})).await);
    ok(&max
        .patch(
            &format!("/api/v1/groups/{own}"),
            &json!({"description": "mine"}),
        )
        .await);
    // ... but cannot join one
    expect(
        &max.put(
            &format!("/api/v1/groups/{powerful}/members/{}", user.id),
            &json!({}),
        )
        .await,
        403,
        Some("forbidden"),
    );
    // ... nor give a role to the group above their own
    expect(
        &max.put(
            &format!("/api/v1/groups/{managers}/roles/{extra}"),
            &json!({}),
        )
        .await,
        403,
        Some("forbidden"),
    );
    // ... nor move their group under a group holding a role they lack
    expect(
        &max.post(
            &format!("/api/v1/groups/{team}/move"),
            &json!({"parent": powerful}),
        )
        .await,
        403,
        Some("forbidden"),
    );
    expect(
        &max.patch(
            &format!("/api/v1/groups/{managers}"),
            &json!({"parent": powerful}),
        )
        .await,
        403,
        Some("forbidden"),
    );
    // a group they are not in may get roles and move freely
    expect(
        &max.put(&format!("/api/v1/groups/{own}/roles/{extra}"), &json!({}))
            .await,
        204,
        None,
    );
    ok(&max
        .post(
            &format!("/api/v1/groups/{own}/move"),
            &json!({"parent": powerful}),
        )
        .await);
    // nothing changed where max is a member
    assert_eq!(get(&api, &team).await["parent"], managers.as_str());
    assert_eq!(
        ok(&api.get(&format!("/api/v1/groups/{managers}/roles")).await)
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    // the super administrator may do what max may not
    expect(
        &api.put(
            &format!("/api/v1/groups/{powerful}/members/{}", user.id),
            &json!({}),
        )
        .await,
        204,
        None,
    );
}
