//! Seed 001's md5 `sign` (G-02): only for applications flagged `legacy_md5_sign`, only before
//! the deployment's retirement date, logged; tampering and expiry refused.

use gatehouse::dialects::signdata::{self, SignMethod};
use serde_json::json;

use super::{
    CALLBACK, PASSWORD, handoff, legacy_app, logged, now, seed_error, signed_in, verify,
    views_login,
};
use crate::common::api::ok;
use crate::common::{Backend, TestServer};

matrix!(
    g02_md5_only_for_applications_marked_legacy,
    g02_md5_is_retired_without_a_date,
);

/// Without `GATEHOUSE_LEGACY_MD5_UNTIL` (or past it) even a flagged application gets HMAC.
async fn g02_md5_is_retired_without_a_date(b: Backend) {
    let server = TestServer::start(b, &[]).await;
    let api = server.admin_api().await;
    let legacy = legacy_app(&api, json!({"name": "Old", "legacy_md5_sign": true})).await;
    let user = server.user("dave", PASSWORD).await;
    let browser = signed_in(&server, &user).await;
    let cb = handoff(&browser.get(&views_login(&legacy.id, CALLBACK, "")).await);
    let (data, sign) = (
        cb.get("signdata").unwrap_or(""),
        cb.get("sign").unwrap_or(""),
    );
    assert_ne!(sign, signdata::md5_sign(&legacy.secret, data));
    let claims = signdata::open(&legacy.secret, &legacy.id, data, sign, now())
        .unwrap_or_else(|e| panic!("HMAC expected: {e}"));
    assert_eq!(claims.username, "dave");
    assert!(
        logged(&server, "md5 is retired").await,
        "the retired flag is logged\n{}",
        server.stderr()
    );
}

async fn g02_md5_only_for_applications_marked_legacy(b: Backend) {
    // md5 is honoured only before the deployment's retirement date (G-02)
    let until = (now() + 3600).to_string();
    let server = TestServer::start(b, &[("GATEHOUSE_LEGACY_MD5_UNTIL", &until)]).await;
    let api = server.admin_api().await;
    let modern = legacy_app(&api, json!({})).await;
    let legacy = legacy_app(&api, json!({"name": "Old", "legacy_md5_sign": true})).await;
    let shown = ok(&api
        .get(&format!("/api/v1/applications/{}", legacy.id))
        .await);
    assert_eq!(shown["legacy_md5_sign"], true);
    assert!(
        shown["warnings"].as_array().is_some_and(|w| w
            .iter()
            .any(|m| m.as_str().is_some_and(|m| m.contains("md5")))),
        "{shown}"
    );
    let plain = ok(&api
        .get(&format!("/api/v1/applications/{}", modern.id))
        .await);
    assert_eq!(plain["legacy_md5_sign"], false);
    assert_eq!(plain["api_key_in_query"], false);
    assert!(plain.get("warnings").is_none(), "{plain}");
    let user = server.user("carol", PASSWORD).await;
    let browser = signed_in(&server, &user).await;

    // The legacy application gets lowercase hex md5(signdata ‖ secret), flagged when opened.
    let cb = handoff(&browser.get(&views_login(&legacy.id, CALLBACK, "")).await);
    let (data, sign) = (
        cb.get("signdata").unwrap_or(""),
        cb.get("sign").unwrap_or(""),
    );
    assert_eq!(sign, signdata::md5_sign(&legacy.secret, data));
    assert_eq!(
        signdata::open(&legacy.secret, &legacy.id, data, sign, now()),
        Err(signdata::Error::Md5Refused)
    );
    let (claims, method) =
        signdata::open_allowing_md5(&legacy.secret, &legacy.id, data, sign, now())
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (claims.username.as_str(), method),
        ("carol", SignMethod::LegacyMd5)
    );
    assert!(logged(&server, "md5").await, "the md5 signature is logged");
    let v = verify(&server, &legacy, &cb).await;
    assert_eq!(v.status, 200, "{}", v.describe());

    // The others get HMAC; an md5 sign forged with the secret is refused for them.
    let cb = handoff(&browser.get(&views_login(&modern.id, CALLBACK, "")).await);
    let data = cb.get("signdata").unwrap_or("").to_owned();
    let md5 = signdata::md5_sign(&modern.secret, &data);
    assert_eq!(
        signdata::open(&modern.secret, &modern.id, &data, &md5, now()),
        Err(signdata::Error::Md5Refused)
    );
    let forged = server
        .client_post(
            "/auth/signdata/verify",
            &modern.auth(),
            &[("signdata", &data), ("sign", &md5)],
        )
        .await;
    seed_error(&forged, 400, 104002, "Parameter error");
    assert_eq!(
        forged.json()["error"],
        "invalid_signdata",
        "{}",
        forged.describe()
    );
    // A signdata longer than an OAuth parameter (a user with many roles) still reaches the
    // verification (here: refused as not genuine, not as an oversized parameter).
    let long = format!("{data}{}", "A".repeat(4000));
    let r = server
        .client_post(
            "/auth/signdata/verify",
            &modern.auth(),
            &[("signdata", &long), ("sign", &md5)],
        )
        .await;
    assert_eq!(r.json()["error"], "invalid_signdata", "{}", r.describe());

    // Tampering with either half fails (G-02).
    let sign = cb.get("sign").unwrap_or("").to_owned();
    let flip = |s: &str, i: usize| -> String {
        let mut b = s.as_bytes().to_vec();
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).unwrap_or_default()
    };
    for i in [0, 13, data.len() / 2, data.len() - 1] {
        assert!(signdata::open(&modern.secret, &modern.id, &flip(&data, i), &sign, now()).is_err());
    }
    for i in [0, 20, sign.len() - 1] {
        assert!(signdata::open(&modern.secret, &modern.id, &data, &flip(&sign, i), now()).is_err());
    }
    // Expired (G-03): the same pair two minutes and a half later.
    assert_eq!(
        signdata::open(&modern.secret, &modern.id, &data, &sign, now() + 151),
        Err(signdata::Error::Expired)
    );
    assert!(signdata::open(&modern.secret, &modern.id, &data, &sign, now()).is_ok());
}
