//! `/api/v1/groups`: the group tree (paths, moves, cycles, nesting, order) and deletion rules.
//! Members, inherited roles and privilege rules: `admin_groups/access.rs`.

use serde_json::{Value, json};

use crate::common::api::{Api, Cred, expect, ok};
use crate::common::{Backend, TestServer};

mod access;

matrix!(
    groups_crud_round_trip,
    a03_group_bodies_refuse_unknown_and_bad_fields,
    group_paths_follow_moves_and_renames,
    group_cycles_are_refused,
    recursive_reads_nest_children,
    siblings_sort_by_float_order,
    group_delete_needs_force_with_children_or_members
);

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

/// Creates a group and returns its JSON.
async fn group(api: &Api, name: &str, parent: &str, extra: Value) -> Value {
    let mut body = json!({"name": name, "parent": parent});
    if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
        b.extend(e);
    }
    let r = api.post("/api/v1/groups", &body).await;
    expect(&r, 201, None)
}

async fn get(api: &Api, id: &str) -> Value {
    ok(&api.get(&format!("/api/v1/groups/{id}")).await)
}

/// `(id_path, name_path, type_path)` of a group, read over the API.
async fn paths(api: &Api, id: &str) -> (String, String, String) {
    let g = get(api, id).await;
    let s = |k: &str| g[k].as_str().expect(k).to_owned();
    (s("id_path"), s("name_path"), s("type_path"))
}

fn names(items: &Value) -> Vec<String> {
    items
        .as_array()
        .expect("array")
        .iter()
        .map(|g| g["name"].as_str().expect("name").to_owned())
        .collect()
}

async fn groups_crud_round_trip(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    // seed 000 create-group defaults
    let a = group(&api, "部门A", "", json!({})).await;
    assert_eq!(a["tenant_id"], "default");
    assert_eq!(a["parent"], "");
    assert_eq!(a["type"], "dept");
    assert_eq!(a["order"], 0.0);
    assert_eq!(a["description"], "");
    assert_eq!(a["attrs"], json!({}));
    assert_eq!(a["children"], Value::Null);
    assert_eq!(
        (&a["id_path"], &a["name_path"], &a["type_path"]),
        (&json!("/"), &json!("/"), &json!("/"))
    );
    let a_id = id(&a);
    let sub = group(
        &api,
        "Ops",
        &a_id,
        json!({"code": "OPS-1", "type": "team", "description": "on call", "order": -1.5,
               "attrs": {"site": "north", "cost.center": 42}}),
    )
    .await;
    let sub_id = id(&sub);
    assert_eq!(
        sub["attrs"],
        json!({"site": "north", "cost": {"center": 42}})
    );
    assert_eq!(sub["id_path"], format!("/{a_id}/"));
    assert_eq!(sub["name_path"], "/部门A/");
    assert_eq!(sub["type_path"], "/dept/");
    assert_eq!(get(&api, &sub_id).await, sub);
    // partial update: absent fields kept, attrs merged (dotted keys update nested objects)
    let patched = ok(&api
        .patch(
            &format!("/api/v1/groups/{sub_id}"),
            &json!({"description": "24/7", "attrs": {"cost.owner": "ann", "site": "south"}}),
        )
        .await);
    assert_eq!(patched["description"], "24/7");
    assert_eq!(patched["name"], "Ops");
    assert_eq!(patched["code"], "OPS-1");
    assert_eq!(patched["order"], -1.5);
    assert_eq!(
        patched["attrs"],
        json!({"site": "south", "cost": {"center": 42, "owner": "ann"}})
    );
    assert_eq!(get(&api, &sub_id).await["attrs"], patched["attrs"]);
    // list filters: parent (exact, "" = top level), q, type, tenant
    let top = ok(&api.get("/api/v1/groups?parent=").await);
    assert_eq!(top["total"], 1);
    assert_eq!(top["items"][0]["id"], a_id.as_str());
    let under = ok(&api.get(&format!("/api/v1/groups?parent={a_id}")).await);
    assert_eq!(names(&under["items"]), ["Ops"]);
    assert_eq!(ok(&api.get("/api/v1/groups?q=op").await)["total"], 1);
    assert_eq!(ok(&api.get("/api/v1/groups?type=team").await)["total"], 1);
    assert_eq!(ok(&api.get("/api/v1/groups?type=nope").await)["total"], 0);
    let asc = ok(&api.get("/api/v1/groups?tenant_id=default&sort=name").await);
    let desc = ok(&api.get("/api/v1/groups?sort=name&order=desc").await);
    let mut reversed = names(&desc["items"]);
    reversed.reverse();
    assert_eq!(names(&asc["items"]), reversed);
    let one = ok(&api.get("/api/v1/groups?limit=1&offset=1").await);
    assert_eq!(
        (&one["total"], one["items"].as_array().map(Vec::len)),
        (&json!(2), Some(1))
    );
    // delete, then gone
    expect(
        &api.delete(&format!("/api/v1/groups/{sub_id}")).await,
        204,
        None,
    );
    expect(
        &api.get(&format!("/api/v1/groups/{sub_id}")).await,
        404,
        Some("not_found"),
    );
    // every write was audited
    let log = ok(&api
        .get(&format!(
            "/api/v1/audit-logs?target_type=group&target_id={sub_id}&order=asc"
        ))
        .await);
    let mut ops: Vec<&str> = log["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["operation"].as_str().expect("operation"))
        .collect();
    ops.sort_unstable();
    assert_eq!(ops, ["add", "del", "update"]);
    expect(
        &api.with(Cred::None).get("/api/v1/groups").await,
        401,
        Some("unauthorized"),
    );
}

async fn a03_group_bodies_refuse_unknown_and_bad_fields(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let g = id(&group(&api, "G", "", json!({})).await);
    let path = format!("/api/v1/groups/{g}");
    for body in [
        json!({"tenant_id": "other"}),
        json!({"id_path": "/x/"}),
        json!({"children": []}),
    ] {
        expect(&api.patch(&path, &body).await, 400, Some("invalid_body"));
    }
    for body in [
        json!({"name": "a/b"}),
        json!({"name": ""}),
        json!({"type": "x/y"}),
    ] {
        expect(&api.patch(&path, &body).await, 400, Some("invalid_field"));
        let mut create = body.clone();
        if create.get("name").is_none() {
            create["name"] = json!("ok");
        }
        expect(
            &api.post("/api/v1/groups", &create).await,
            400,
            Some("invalid_field"),
        );
    }
    expect(
        &api.post("/api/v1/groups", &json!({"name": "x", "id_path": "/"}))
            .await,
        400,
        Some("invalid_body"),
    );
    let missing = "0194f7a2-0000-7000-8000-000000000000";
    expect(
        &api.post("/api/v1/groups", &json!({"name": "x", "parent": missing}))
            .await,
        404,
        Some("not_found"),
    );
    let unchanged = get(&api, &g).await;
    assert_eq!(
        (&unchanged["name"], &unchanged["tenant_id"]),
        (&json!("G"), &json!("default"))
    );
}

async fn group_paths_follow_moves_and_renames(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let a = id(&group(&api, "A", "", json!({})).await);
    let bb = id(&group(&api, "B", &a, json!({"type": "div"})).await);
    let c = id(&group(&api, "C", &bb, json!({"type": "team"})).await);
    let d = id(&group(&api, "D", &c, json!({})).await);
    let x = id(&group(&api, "X", "", json!({"type": "org"})).await);
    let p = |i: &str, n: &str, t: &str| (i.to_owned(), n.to_owned(), t.to_owned());
    assert_eq!(
        paths(&api, &d).await,
        p(&format!("/{a}/{bb}/{c}/"), "/A/B/C/", "/dept/div/team/")
    );
    // move b (with c, d) under x
    let moved = ok(&api
        .post(&format!("/api/v1/groups/{bb}/move"), &json!({"parent": x}))
        .await);
    assert_eq!(moved["parent"], x.as_str());
    assert_eq!(paths(&api, &bb).await, p(&format!("/{x}/"), "/X/", "/org/"));
    assert_eq!(
        paths(&api, &c).await,
        p(&format!("/{x}/{bb}/"), "/X/B/", "/org/div/")
    );
    assert_eq!(
        paths(&api, &d).await,
        p(&format!("/{x}/{bb}/{c}/"), "/X/B/C/", "/org/div/team/")
    );
    assert_eq!(paths(&api, &a).await, p("/", "/", "/"));
    assert_eq!(get(&api, &c).await["parent"], bb.as_str());
    // rename and retype b: every path below follows
    ok(&api
        .patch(
            &format!("/api/v1/groups/{bb}"),
            &json!({"name": "Bee", "type": "unit"}),
        )
        .await);
    assert_eq!(paths(&api, &bb).await, p(&format!("/{x}/"), "/X/", "/org/"));
    assert_eq!(
        paths(&api, &c).await,
        p(&format!("/{x}/{bb}/"), "/X/Bee/", "/org/unit/")
    );
    assert_eq!(
        paths(&api, &d).await,
        p(&format!("/{x}/{bb}/{c}/"), "/X/Bee/C/", "/org/unit/team/")
    );
    // rename the top: the whole tree follows
    ok(&api
        .patch(&format!("/api/v1/groups/{x}"), &json!({"name": "Ex"}))
        .await);
    assert_eq!(
        paths(&api, &d).await,
        p(&format!("/{x}/{bb}/{c}/"), "/Ex/Bee/C/", "/org/unit/team/")
    );
    // PATCH parent "" moves c to the top level
    let top = ok(&api
        .patch(&format!("/api/v1/groups/{c}"), &json!({"parent": ""}))
        .await);
    assert_eq!(top["parent"], "");
    assert_eq!(paths(&api, &c).await, p("/", "/", "/"));
    assert_eq!(paths(&api, &d).await, p(&format!("/{c}/"), "/C/", "/team/"));
    // subtree reads use the new paths
    let kids = ok(&api.get(&format!("/api/v1/groups/{bb}/children")).await);
    assert_eq!(kids, json!([]));
    let kids = ok(&api.get(&format!("/api/v1/groups/{c}/children")).await);
    assert_eq!(names(&kids), ["D"]);
}

async fn group_cycles_are_refused(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let a = id(&group(&api, "A", "", json!({})).await);
    let bb = id(&group(&api, "B", &a, json!({})).await);
    let c = id(&group(&api, "C", &bb, json!({})).await);
    for target in [&a, &bb, &c] {
        let r = api
            .post(
                &format!("/api/v1/groups/{a}/move"),
                &json!({"parent": target}),
            )
            .await;
        expect(&r, 400, Some("group_cycle"));
    }
    let r = api
        .patch(&format!("/api/v1/groups/{bb}"), &json!({"parent": c}))
        .await;
    expect(&r, 400, Some("group_cycle"));
    // nothing moved
    assert_eq!(get(&api, &a).await["parent"], "");
    assert_eq!(get(&api, &bb).await["parent"], a.as_str());
    assert_eq!(paths(&api, &c).await.0, format!("/{a}/{bb}/"));
    // an unknown parent is a 404, and a sideways move is fine
    let r = api
        .post(
            &format!("/api/v1/groups/{c}/move"),
            &json!({"parent": "0194f7a2-0000-7000-8000-000000000000"}),
        )
        .await;
    expect(&r, 404, Some("not_found"));
    ok(&api
        .post(&format!("/api/v1/groups/{c}/move"), &json!({"parent": a}))
        .await);
    assert_eq!(paths(&api, &c).await.0, format!("/{a}/"));
    // two concurrent moves that together would make a cycle: exactly one wins
    for _ in 0..3 {
        let p = id(&group(&api, "P", "", json!({})).await);
        let q = id(&group(&api, "Q", "", json!({})).await);
        let (path_p, path_q) = (
            format!("/api/v1/groups/{p}/move"),
            format!("/api/v1/groups/{q}/move"),
        );
        let (body_p, body_q) = (json!({"parent": q}), json!({"parent": p}));
        let (r1, r2) = tokio::join!(api.post(&path_p, &body_p), api.post(&path_q, &body_q));
        let mut statuses = [r1.status, r2.status];
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            [200, 400],
            "{} / {}",
            r1.describe(),
            r2.describe()
        );
        let (pp, qp) = (get(&api, &p).await, get(&api, &q).await);
        let tops = [&pp, &qp].iter().filter(|g| g["parent"] == "").count();
        assert_eq!(tops, 1, "{pp} {qp}");
    }
}

async fn recursive_reads_nest_children(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let a = id(&group(&api, "A", "", json!({})).await);
    let bb = id(&group(&api, "B", &a, json!({"order": 1})).await);
    let c = id(&group(&api, "C", &bb, json!({})).await);
    let e = id(&group(&api, "E", &a, json!({"order": 2})).await);
    let z = id(&group(&api, "Z", "", json!({"order": -1})).await);
    // not recursive: children not loaded (null)
    assert_eq!(get(&api, &a).await["children"], Value::Null);
    // recursive: nested to any depth, [] for leaves
    let tree = ok(&api.get(&format!("/api/v1/groups/{a}?recursive=true")).await);
    let kids = &tree["children"];
    assert_eq!(names(kids), ["B", "E"]);
    assert_eq!(kids[0]["id"], bb.as_str());
    assert_eq!(names(&kids[0]["children"]), ["C"]);
    assert_eq!(kids[0]["children"][0]["id"], c.as_str());
    assert_eq!(kids[0]["children"][0]["children"], json!([]));
    assert_eq!(kids[1]["id"], e.as_str());
    assert_eq!(kids[1]["children"], json!([]));
    let leaf = ok(&api.get(&format!("/api/v1/groups/{c}?recursive=1")).await);
    assert_eq!(leaf["children"], json!([]));
    // children endpoint
    let flat = ok(&api.get(&format!("/api/v1/groups/{a}/children")).await);
    assert_eq!(names(&flat), ["B", "E"]);
    assert_eq!(flat[0]["children"], Value::Null);
    let deep = ok(&api
        .get(&format!("/api/v1/groups/{a}/children?recursive=true"))
        .await);
    assert_eq!(names(&deep[0]["children"]), ["C"]);
    assert_eq!(deep[1]["children"], json!([]));
    // top level of the tenant
    let top = ok(&api.get("/api/v1/groups/tree?tenant_id=default").await);
    assert_eq!(names(&top), ["Z", "A"]);
    assert_eq!(top[0]["id"], z.as_str());
    assert_eq!(top[1]["children"], Value::Null);
    let full = ok(&api.get("/api/v1/groups/tree?recursive=true").await);
    assert_eq!(names(&full), ["Z", "A"]);
    assert_eq!(full[0]["children"], json!([]));
    assert_eq!(names(&full[1]["children"]), ["B", "E"]);
    assert_eq!(names(&full[1]["children"][0]["children"]), ["C"]);
    expect(
        &api.get("/api/v1/groups/tree?recursive=maybe").await,
        400,
        Some("invalid_query"),
    );
}

async fn siblings_sort_by_float_order(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let p = id(&group(&api, "P", "", json!({})).await);
    for (name, order) in [
        ("n2.5", 2.5),
        ("n-1", -1.0),
        ("n0", 0.0),
        ("n-0.25", -0.25),
        ("n10", 10.0),
    ] {
        let g = group(&api, name, &p, json!({"order": order})).await;
        assert_eq!(g["order"], order);
    }
    let expected = ["n-1", "n-0.25", "n0", "n2.5", "n10"];
    let kids = ok(&api.get(&format!("/api/v1/groups/{p}/children")).await);
    assert_eq!(names(&kids), expected);
    let list = ok(&api.get(&format!("/api/v1/groups?parent={p}")).await);
    assert_eq!(names(&list["items"]), expected);
    let desc = ok(&api
        .get(&format!("/api/v1/groups?parent={p}&sort=order&order=desc"))
        .await);
    assert_eq!(
        names(&desc["items"]),
        ["n10", "n2.5", "n0", "n-0.25", "n-1"]
    );
    // reordering moves a sibling
    let first = id(&kids[0]);
    ok(&api
        .patch(&format!("/api/v1/groups/{first}"), &json!({"order": 3.75}))
        .await);
    let kids = ok(&api.get(&format!("/api/v1/groups/{p}/children")).await);
    assert_eq!(names(&kids), ["n-0.25", "n0", "n2.5", "n-1", "n10"]);
    expect(
        &api.get("/api/v1/groups?sort=bogus").await,
        400,
        Some("invalid_field"),
    );
}

async fn group_delete_needs_force_with_children_or_members(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let user = server.user("bob", "correct-horse-9").await;
    let a = id(&group(&api, "A", "", json!({})).await);
    let bb = id(&group(&api, "B", &a, json!({})).await);
    let c = id(&group(&api, "C", &bb, json!({})).await);
    let other = id(&group(&api, "Other", "", json!({})).await);
    let role = id(&ok(&api
        .post("/api/v1/roles", &json!({"code": "G-ROLE"}))
        .await));
    expect(
        &api.put(
            &format!("/api/v1/groups/{c}/members/{}", user.id),
            &json!({}),
        )
        .await,
        204,
        None,
    );
    expect(
        &api.put(&format!("/api/v1/groups/{c}/roles/{role}"), &json!({}))
            .await,
        204,
        None,
    );
    expect(
        &api.delete(&format!("/api/v1/groups/{a}")).await,
        409,
        Some("group_has_children"),
    );
    expect(
        &api.delete(&format!("/api/v1/groups/{c}")).await,
        409,
        Some("group_has_members"),
    );
    expect(
        &api.delete(&format!("/api/v1/groups/{c}?force=false")).await,
        409,
        Some("group_has_members"),
    );
    // still there
    get(&api, &c).await;
    // the role is held by the group: deleting it needs force
    expect(
        &api.delete(&format!("/api/v1/roles/{role}")).await,
        409,
        Some("role_in_use"),
    );
    // forced: the whole subtree goes, with memberships and group roles
    expect(
        &api.delete(&format!("/api/v1/groups/{bb}?force=true")).await,
        204,
        None,
    );
    for gone in [&bb, &c] {
        expect(
            &api.get(&format!("/api/v1/groups/{gone}")).await,
            404,
            Some("not_found"),
        );
    }
    assert_eq!(
        ok(&api.get(&format!("/api/v1/groups/{a}/children")).await),
        json!([])
    );
    get(&api, &other).await;
    // the role is no longer held by anyone: it deletes without force
    expect(
        &api.delete(&format!("/api/v1/roles/{role}")).await,
        204,
        None,
    );
    // the user can join a new group (the old membership is gone, the user is intact)
    let n = id(&group(&api, "N", "", json!({})).await);
    expect(
        &api.put(
            &format!("/api/v1/groups/{n}/members/{}", user.id),
            &json!({}),
        )
        .await,
        204,
        None,
    );
    assert_eq!(
        ok(&api.get(&format!("/api/v1/groups/{n}/members")).await),
        json!([user.id])
    );
    // an empty leaf deletes without force
    expect(
        &api.delete(&format!("/api/v1/groups/{other}")).await,
        204,
        None,
    );
}
