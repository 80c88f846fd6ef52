//! The permission decision: `POST {issuer}/api/auth/checkApiByToken` with a short-lived cache.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Gatehouse;

/// Gatehouse's answer for one (token, method, path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The token's user may call the path.
    Allowed,
    /// The token is valid but the user lacks a permission covering the path.
    Forbidden,
    /// The token is missing, expired, revoked or forged (envelope code `100401`, or a `false`
    /// for a token that `/api/auth/islogin` says is not live).
    LoginRequired,
    /// No decision could be had (Gatehouse unreachable, 5xx, store unavailable, unreadable
    /// answer). Never cached, and never treated as allowed.
    Unavailable,
}

/// Envelope code: the token is missing, unknown, expired or revoked.
const LOGIN_REQUIRED: i64 = 100_401;
/// Envelope codes that refuse the request itself (forbidden, missing or malformed parameter).
const REFUSED: [i64; 3] = [100_403, 104_001, 104_002];

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CheckRequest<'a> {
    token: &'a str,
    api_path: &'a str,
    method: &'a str,
}

#[derive(Deserialize)]
struct Envelope {
    code: i64,
    #[serde(default)]
    data: Value,
}

impl Gatehouse {
    /// Whether the user behind `token` may call `method path` of this application, asking
    /// Gatehouse unless the same question was answered within
    /// [`decision_ttl`](crate::GatehouseConfig::decision_ttl). A `false` is followed by one
    /// `islogin` call to tell a dead token from a missing permission.
    pub async fn check(&self, token: &str, method: &str, path: &str) -> Decision {
        let key = (token.to_owned(), method.to_owned(), path.to_owned());
        if let Some(d) = self.inner.decisions.get(&key) {
            return d;
        }
        let mut d = self.ask(token, method, path).await;
        if d == Decision::Forbidden && self.live(token).await == Some(false) {
            // checkApiByToken answers a plain `false` for dead tokens too (old SDKs deny);
            // `islogin` tells a revoked or expired token (401) from a missing permission (403).
            d = Decision::LoginRequired;
        }
        if d != Decision::Unavailable {
            self.inner.decisions.insert(key, d);
        }
        d
    }

    async fn ask(&self, token: &str, method: &str, path: &str) -> Decision {
        let body = CheckRequest {
            token,
            api_path: path,
            method,
        };
        let res = match self
            .inner
            .http
            .post(self.inner.check_url.clone())
            .json(&body)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "checkApiByToken: Gatehouse unreachable");
                return Decision::Unavailable;
            }
        };
        let status = res.status();
        if status.is_server_error() {
            tracing::warn!(%status, "checkApiByToken: Gatehouse answered with a server error");
            return Decision::Unavailable;
        }
        let envelope: Envelope = match res.json().await {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(%status, error = %e, "checkApiByToken: unreadable answer");
                return Decision::Unavailable;
            }
        };
        decide(status.is_success(), &envelope)
    }
}

#[derive(Serialize)]
struct LiveRequest<'a> {
    token: &'a str,
}

impl Gatehouse {
    /// Whether the token is live (`POST {issuer}/api/auth/islogin`); `None` when unknown.
    async fn live(&self, token: &str) -> Option<bool> {
        let res = self
            .inner
            .http
            .post(self.inner.islogin_url.clone())
            .json(&LiveRequest { token })
            .send()
            .await
            .ok()?;
        if !res.status().is_success() {
            return None;
        }
        let e: Envelope = res.json().await.ok()?;
        match (e.code, e.data) {
            (0, Value::Bool(live)) => Some(live),
            (LOGIN_REQUIRED, _) => Some(false),
            _ => None,
        }
    }
}

/// Maps an envelope to a decision; anything unexpected is `Unavailable` (fail closed).
fn decide(success: bool, e: &Envelope) -> Decision {
    match e.code {
        0 if success => match e.data {
            Value::Bool(true) => Decision::Allowed,
            Value::Bool(false) => Decision::Forbidden,
            _ => {
                tracing::warn!(data = %e.data, "checkApiByToken: data is not a boolean");
                Decision::Unavailable
            }
        },
        LOGIN_REQUIRED => Decision::LoginRequired,
        c if REFUSED.contains(&c) => Decision::Forbidden,
        c => {
            tracing::warn!(code = c, "checkApiByToken: unexpected code");
            Decision::Unavailable
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(v: Value) -> Envelope {
        serde_json::from_value(v).unwrap_or(Envelope {
            code: -1,
            data: Value::Null,
        })
    }

    #[test]
    fn envelope_mapping_fails_closed() {
        let ok = |v| decide(true, &env(v));
        assert_eq!(ok(json!({"code": 0, "data": true})), Decision::Allowed);
        assert_eq!(ok(json!({"code": 0, "data": false})), Decision::Forbidden);
        assert_eq!(
            ok(json!({"code": 0, "data": "true"})),
            Decision::Unavailable
        );
        assert_eq!(ok(json!({"code": 0})), Decision::Unavailable);
        assert_eq!(ok(json!({"code": 100401})), Decision::LoginRequired);
        assert_eq!(ok(json!({"code": 104002})), Decision::Forbidden);
        assert_eq!(ok(json!({"code": 100503})), Decision::Unavailable);
        assert_eq!(ok(json!({"code": 7})), Decision::Unavailable);
        // A 4xx with code 0 is not a success.
        assert_eq!(
            decide(false, &env(json!({"code": 0, "data": true}))),
            Decision::Unavailable
        );
    }
}
