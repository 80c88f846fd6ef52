//! `/api/v1/users`: CRUD, search, exact lookups, attribute merges (seed 000), account state,
//! session revocation, and the rules that stop privilege escalation.

use serde_json::{Value, json};

mod access;
mod state;

use crate::common::api::{Api, Cred, expect, ok};
use crate::common::{Backend, TestServer, form_encode};

matrix!(
    users_crud_round_trip,
    users_attrs_merge_rules_of_seed_000,
    users_find_exact_and_by_typed_sys_attr,
    users_search_filters_and_paging,
);

async fn create(api: &Api, body: Value) -> Value {
    expect(&api.post("/api/v1/users", &body).await, 201, None)
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

/// A user whose role grants the given catalogue items, and an API client acting as them.
async fn manager(server: &TestServer, admin: &Api, username: &str, items: &[&str]) -> (Value, Api) {
    let user = create(
        admin,
        json!({"username": username, "password": "manager-pass-1"}),
    )
    .await;
    let role = ok(&admin
        .post("/api/v1/roles", &json!({"code": format!("R-{username}")}))
        .await);
    let rid = id(&role);
    for item in items {
        let r = admin
            .put(
                &format!("/api/v1/roles/{rid}/permissions/{item}"),
                &json!({}),
            )
            .await;
        expect(&r, 204, None);
    }
    let r = admin
        .put(
            &format!("/api/v1/roles/{rid}/members/{}", id(&user)),
            &json!({}),
        )
        .await;
    expect(&r, 204, None);
    let key = server.api_key_for(username, "default").await;
    (user, admin.with(Cred::ApiKey(key)))
}

async fn users_crud_round_trip(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let created = create(
        &api,
        json!({
            "username": "lisi3", "password": "12345678", "email": "lisi3@example.com",
            "phone": "+86 138-0000", "name": "Li Si", "realname": "李四", "nickname": "Little Four",
            "gender": "M", "birthdate": "1990-01-31", "avatar": "https://cdn.example/a.png",
            "locale": "zh-CN", "zoneinfo": "Asia/Shanghai", "title": "Engineer", "country": "+86",
            "address": "1 Road", "attrs": {"any.thing": 1}, "sys_attrs": {"vip": true},
            "trial_end_at": 4102444800u64, "register_source": "import"
        }),
    )
    .await;
    let uid = id(&created);
    assert_eq!(created["type"], "MEMBER");
    assert_eq!(created["state"], "active");
    assert_eq!(created["tenant_id"], "default");
    assert_eq!(created["avatar"], "https://cdn.example/a.png");
    assert_eq!(created["attrs"], json!({"any": {"thing": 1}}));
    assert_eq!(created["sys_attrs"], json!({"vip": true}));
    assert_eq!(created["trial_end_at"], 4102444800u64);
    assert_eq!(created["builtin"], false);
    assert_eq!(created["logins_count"], 0);
    assert!(created["created_at"].as_i64().is_some_and(|t| t > 0));
    let got = ok(&api.get(&format!("/api/v1/users/{uid}")).await);
    assert_eq!(got, created);
    // seed 000 spells the type `user_type`
    let dup = api
        .post(
            "/api/v1/users",
            &json!({"username": "lisi3", "password": "12345678", "user_type": "MEMBER"}),
        )
        .await;
    expect(&dup, 409, Some("username_taken"));
    let bad = api
        .post(
            "/api/v1/users",
            &json!({"username": "a b", "password": "12345678"}),
        )
        .await;
    expect(&bad, 400, Some("invalid_field"));
    let short = api
        .post(
            "/api/v1/users",
            &json!({"username": "shorty", "password": "1234567"}),
        )
        .await;
    expect(&short, 400, Some("invalid_field"));

    let patched = ok(&api
        .patch(
            &format!("/api/v1/users/{uid}"),
            &json!({"nickname": "Four", "title": "", "gender": "U"}),
        )
        .await);
    assert_eq!(patched["nickname"], "Four");
    assert_eq!(patched["title"], Value::Null);
    assert_eq!(patched["gender"], "U");
    assert_eq!(patched["email"], "lisi3@example.com");
    assert!(patched["updated_at"].as_i64() >= created["updated_at"].as_i64());
    let r = api
        .patch(&format!("/api/v1/users/{uid}"), &json!({"gender": "X"}))
        .await;
    expect(&r, 400, Some("invalid_field"));

    expect(
        &api.delete(&format!("/api/v1/users/{uid}")).await,
        204,
        None,
    );
    let gone = api.get(&format!("/api/v1/users/{uid}")).await;
    expect(&gone, 404, Some("not_found"));
    expect(
        &api.delete(&format!("/api/v1/users/{uid}")).await,
        404,
        Some("not_found"),
    );
    let list = ok(&api.get("/api/v1/users?q=lisi3").await);
    assert_eq!(list["total"], 0, "a deleted user is not listed");
    // one audit record per write, without secrets
    let log = ok(&api
        .get(&format!(
            "/api/v1/audit-logs?target_id={uid}&order=asc&sort=created_at"
        ))
        .await);
    let ops: Vec<&str> = log["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["operation"].as_str())
        .collect();
    assert_eq!(ops, vec!["add", "update", "del"], "{log}");
    assert!(!log.to_string().contains("12345678"), "{log}");
    // soft delete frees the username
    let again = create(&api, json!({"username": "lisi3", "password": "12345678"})).await;
    assert_ne!(id(&again), uid);
    assert_eq!(again["username"], "lisi3");
    expect(
        &api.with(Cred::None).get("/api/v1/users").await,
        401,
        Some("unauthorized"),
    );
}

async fn users_attrs_merge_rules_of_seed_000(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    // (stored before, patch, expected after): seed 000's four rules, dotted keys included
    let table = [
        (json!({"a": 1}), json!({"b": 2}), json!({"a": 1, "b": 2})),
        (
            json!({"a": 1, "b": 2}),
            json!({"b": 3}),
            json!({"a": 1, "b": 3}),
        ),
        (
            json!({"avatar": "x", "nickname": "lisi3"}),
            json!({"any.thing": 123}),
            json!({"avatar": "x", "nickname": "lisi3", "any": {"thing": 123}}),
        ),
        (
            json!({"any": {"thing": 1, "other": 2}}),
            json!({"any.thing": 5}),
            json!({"any": {"thing": 5, "other": 2}}),
        ),
        (
            json!({"any": {"thing": 1, "other": 2}}),
            json!({"any": {"thing": 5}}),
            json!({"any": {"thing": 5}}),
        ),
        (
            json!({"a": 1}),
            json!({"a.b": true}),
            json!({"a": {"b": true}}),
        ),
        (json!({"a": 1}), json!({"a": null}), json!({"a": null})),
    ];
    for (i, (before, patch, after)) in table.iter().enumerate() {
        for (field, path) in [("attrs", "attrs"), ("sys_attrs", "sys-attrs")] {
            let u = create(
                &api,
                json!({"username": format!("m{i}{}", &field[..1]), "password": "12345678"}),
            )
            .await;
            let uid = id(&u);
            let url = format!("/api/v1/users/{uid}/{path}");
            let first = ok(&api.patch(&url, &json!({ field: before })).await);
            assert_eq!(&first[field], before, "{field} set {before}");
            let v = ok(&api.patch(&url, &json!({ field: patch })).await);
            assert_eq!(&v[field], after, "{field}: {before} + {patch}");
            let other = if field == "attrs" {
                "sys_attrs"
            } else {
                "attrs"
            };
            assert_eq!(v[other], json!({}), "{field} merge leaves {other} alone");
        }
    }
    let u = create(&api, json!({"username": "bad", "password": "12345678"})).await;
    for key in ["", "a..b", ".a", "a."] {
        let r = api
            .patch(
                &format!("/api/v1/users/{}/attrs", id(&u)),
                &json!({"attrs": {key: 1}}),
            )
            .await;
        expect(&r, 400, Some("invalid_field"));
    }
    // self-service: a user edits its own attrs, never its sys_attrs
    let me = server.user("selfie", "selfie-pass-1").await;
    let own = Api::new(
        &server,
        Cred::ApiKey(server.api_key_for("selfie", "default").await),
    );
    let v = ok(&own
        .patch(
            "/api/v1/me/attrs",
            &json!({"attrs": {"theme.color": "dark"}}),
        )
        .await);
    assert_eq!(v["attrs"], json!({"theme": {"color": "dark"}}));
    let r = own
        .patch("/api/v1/me/attrs", &json!({"sys_attrs": {"vip": true}}))
        .await;
    expect(&r, 400, Some("invalid_body"));
    let r = own
        .patch(
            &format!("/api/v1/users/{}/sys-attrs", me.id),
            &json!({"sys_attrs": {"vip": true}}),
        )
        .await;
    expect(&r, 403, Some("forbidden"));
    let seen = ok(&api.get(&format!("/api/v1/users/{}", me.id)).await);
    assert_eq!(seen["attrs"], json!({"theme": {"color": "dark"}}));
    assert_eq!(seen["sys_attrs"], json!({}));
}

async fn users_find_exact_and_by_typed_sys_attr(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let text = create(
        &api,
        json!({"username": "text1", "password": "12345678", "email": "t@example.com",
               "phone": "+1-555", "sys_attrs": {"weixin_mp_openid": "os8a768v", "n": "1", "deep.k": "v"}}),
    )
    .await;
    let num = create(
        &api,
        json!({"username": "num1", "password": "12345678", "sys_attrs": {"n": 1, "flag": false, "nil": null}}),
    )
    .await;
    let find = |key: &str, value: Value| {
        let api = api.clone();
        let body = json!({"key": key, "value": value});
        async move { api.post("/api/v1/users/find-by-sys-attr", &body).await }
    };
    let cases = [
        ("weixin_mp_openid", json!("os8a768v"), Some(&text)),
        ("n", json!("1"), Some(&text)),
        ("n", json!(1), Some(&num)),
        ("n", json!(1.0), Some(&num)),
        ("n", json!(true), None),
        ("n", json!(2), None),
        ("flag", json!(false), Some(&num)),
        ("flag", json!(0), None),
        ("flag", json!("false"), None),
        ("nil", json!(null), Some(&num)),
        ("missing", json!(null), None),
        ("deep.k", json!("v"), Some(&text)),
        ("deep", json!({"k": "v"}), Some(&text)),
        ("weixin_mp_openid", json!("OS8A768V"), None),
    ];
    for (key, value, want) in cases {
        let r = find(key, value.clone()).await;
        match want {
            Some(u) => assert_eq!(ok(&r)["id"], u["id"], "{key} = {value}"),
            None => {
                expect(&r, 404, Some("not_found"));
            }
        }
    }
    let r = api
        .post("/api/v1/users/find-by-sys-attr", &json!({"key": "n"}))
        .await;
    expect(&r, 400, Some("invalid_field"));
    let r = find("a\"b", json!(1)).await;
    expect(&r, 400, Some("invalid_field"));

    for (q, want) in [
        ("username=text1", Some(&text)),
        ("username=TEXT1", None),
        ("username=text", None),
        ("email=t%40example.com", Some(&text)),
        ("phone=%2B1-555", Some(&text)),
        ("username=num1", Some(&num)),
    ] {
        let r = api.get(&format!("/api/v1/users/find?{q}")).await;
        match want {
            Some(u) => assert_eq!(ok(&r)["id"], u["id"], "{q}"),
            None => {
                expect(&r, 404, Some("not_found"));
            }
        }
    }
    let r = api.get("/api/v1/users/find?username=a&email=b").await;
    expect(&r, 400, Some("invalid_query"));

    // seed 000 list-users-by-ids: the order asked, unknown ids left out
    let v = ok(&api
        .post(
            "/api/v1/users/batch-get",
            &json!({"ids": [id(&num), "nope", id(&text), id(&num)]}),
        )
        .await);
    let got: Vec<&str> = v
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|u| u["id"].as_str())
        .collect();
    assert_eq!(got, vec![id(&num), id(&text)]);
    expect(
        &api.post("/api/v1/users/batch-get", &json!({"ids": []}))
            .await,
        400,
        Some("invalid_field"),
    );
    // reading by POST needs only the `account` (read) item
    let (_, reader) = manager(&server, &api, "reader", &["perm-account"]).await;
    let v = ok(&reader
        .post("/api/v1/users/batch-get", &json!({"ids": [id(&text)]}))
        .await);
    assert_eq!(v[0]["id"], text["id"]);
    let r = reader
        .post(
            "/api/v1/users/find-by-sys-attr",
            &json!({"key": "n", "value": 1}),
        )
        .await;
    assert_eq!(ok(&r)["id"], num["id"]);
    expect(
        &reader
            .post(
                "/api/v1/users",
                &json!({"username": "x1", "password": "12345678"}),
            )
            .await,
        403,
        Some("forbidden"),
    );
}

async fn users_search_filters_and_paging(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    for i in 0..12 {
        create(
            &api,
            json!({"username": format!("user{i:02}"), "password": "12345678",
                   "email": format!("u{i}@corp.example"), "phone": format!("+86 100{i:02}")}),
        )
        .await;
    }
    let nick = create(
        &api,
        json!({"username": "zed", "password": "12345678", "nickname": "Zhang_100% Cool",
               "realname": "张三", "type": "ADMIN"}),
    )
    .await;
    // q is a case-insensitive substring of username, nickname, realname, email, phone
    for (q, total) in [
        ("user", 12),
        ("USER0", 10),
        ("corp.EXAMPLE", 12),
        ("+86 1001", 2),
        ("zhang", 1),
        ("张", 1),
        ("100%", 1),
        ("_100", 1),
        ("%", 1),
        ("nobody", 0),
    ] {
        let v = ok(&api
            .get(&format!("/api/v1/users?{}", form_encode(&[("q", q)])))
            .await);
        assert_eq!(v["total"], total, "q={q}");
    }
    // paging: the total does not depend on the window
    let p1 = ok(&api.get("/api/v1/users?q=user&sort=username&limit=5").await);
    let p3 = ok(&api
        .get("/api/v1/users?q=user&sort=username&limit=5&offset=10")
        .await);
    assert_eq!(
        (p1["total"].clone(), p3["total"].clone()),
        (json!(12), json!(12))
    );
    assert_eq!(p1["items"].as_array().map(Vec::len), Some(5));
    assert_eq!(p3["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(p1["items"][0]["username"], "user00");
    assert_eq!(p3["items"][1]["username"], "user11");
    let desc = ok(&api
        .get("/api/v1/users?q=user&sort=username&order=desc&limit=1")
        .await);
    assert_eq!(desc["items"][0]["username"], "user11");
    let newest = ok(&api.get("/api/v1/users?limit=1").await);
    assert_eq!(
        newest["items"][0]["id"], nick["id"],
        "created_at desc by default"
    );
    // filters
    let t = ok(&api.get("/api/v1/users?type=ADMIN").await);
    assert_eq!(t["total"], 2, "zed and the bootstrap admin");
    let u = ok(&api.get("/api/v1/users?q=user05").await);
    let uid = u["items"][0]["id"].as_str().expect("id").to_owned();
    ok(&api
        .post(&format!("/api/v1/users/{uid}/disable"), &json!({}))
        .await);
    let s = ok(&api.get("/api/v1/users?state=inactive").await);
    assert_eq!(s["total"], 1);
    assert_eq!(s["items"][0]["id"], uid.as_str());
    let s = ok(&api.get("/api/v1/users?state=active&q=user").await);
    assert_eq!(s["total"], 11);
    let role = ok(&api.post("/api/v1/roles", &json!({"code": "OPS"})).await);
    let r = api
        .put(
            &format!("/api/v1/roles/{}/members/{uid}", id(&role)),
            &json!({}),
        )
        .await;
    expect(&r, 204, None);
    let v = ok(&api
        .get(&format!("/api/v1/users?role_id={}", id(&role)))
        .await);
    assert_eq!(v["total"], 1);
    let group = ok(&api.post("/api/v1/groups", &json!({"name": "部门A"})).await);
    let r = api
        .put(
            &format!("/api/v1/groups/{}/members/{}", id(&group), id(&nick)),
            &json!({}),
        )
        .await;
    expect(&r, 204, None);
    let v = ok(&api
        .get(&format!("/api/v1/users?group_id={}", id(&group)))
        .await);
    assert_eq!(v["total"], 1);
    assert_eq!(v["items"][0]["id"], nick["id"]);
    for sort in [
        "created_at",
        "updated_at",
        "last_login_at",
        "logins_count",
        "username",
    ] {
        for order in ["asc", "desc"] {
            let v = ok(&api
                .get(&format!(
                    "/api/v1/users?q=user&sort={sort}&order={order}&limit=3"
                ))
                .await);
            assert_eq!(v["total"], 12, "{sort} {order}");
        }
    }
    for bad in [
        "state=gone",
        "type=ROOT",
        "sort=password_hash",
        "order=up",
        "limit=0",
        "x=1",
    ] {
        let r = api.get(&format!("/api/v1/users?{bad}")).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.describe());
    }
}
