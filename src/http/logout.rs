//! `GET|POST /oauth/logout`: OpenID Connect RP-Initiated Logout 1.0.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use tower_sessions::Session;

use super::errors::{csrf_failed, error_page, render};
use super::extract::RawParams;
use super::login::ClientIp;
use super::session;
use crate::clock;
use crate::jwt::{self, Alg, Expect};
use crate::oauth::authorize::callback_url;
use crate::oauth::claims::IdClaims;
use crate::oauth::{OAuthError, Params};
use crate::state::AppState;
use crate::store::clients::Client;
use crate::store::{audit, users};

/// A logout request after its checks.
struct Checked {
    client: Option<Arc<Client>>,
    /// Subject of a valid `id_token_hint`.
    hint_sub: Option<String>,
    redirect: Option<String>,
}

/// Ends the browser session; with a valid `id_token_hint` at once, otherwise after the user
/// confirms with a CSRF-protected POST (S-07: no state change by a bare GET).
pub async fn logout(
    State(app): State<AppState>,
    session: Session,
    method: Method,
    ClientIp(ip): ClientIp,
    RawParams(params): RawParams,
) -> Response {
    let params = match params {
        Ok(p) => p,
        Err(e) => return error_page(&app, &OAuthError::invalid_request(e.to_string())),
    };
    let checked = match check(&app, &params).await {
        Ok(c) => c,
        Err(e) => return error_page(&app, &e),
    };
    let result = async {
        let current = session::user(&session).await?;
        let confirmed = method == Method::POST && params.get("confirm") == Some("yes");
        if confirmed && !session::csrf_ok(&session, params.get("csrf_token")).await? {
            return Ok(csrf_failed(&app));
        }
        let hint_matches = checked.hint_sub.is_some()
            && current
                .as_ref()
                .is_none_or(|u| Some(&u.user_id) == checked.hint_sub.as_ref());
        if !confirmed && !hint_matches {
            return confirmation_page(&app, &session, &params, checked.client.as_deref()).await;
        }
        if let Some(user) = current {
            let now = clock::now();
            app.provider.end_session(&user.sid, now).await?;
            tracing::info!(user = %user.user_id, "logout");
            audit_logout(&app, &user.user_id, checked.client.as_deref(), ip, now).await?;
        }
        session::destroy(&session).await?;
        Ok(match checked.redirect {
            Some(uri) => {
                Redirect::to(&callback_url(&uri, &[("state", params.get("state"))])).into_response()
            }
            None => render(&app, StatusCode::OK, "logged_out.html", context! {}),
        })
    };
    result
        .await
        .unwrap_or_else(|e: OAuthError| error_page(&app, &e))
}

/// Validates `id_token_hint` (our signature and issuer; expiry ignored, as the spec allows),
/// `client_id` and `post_logout_redirect_uri` (exact match with a registered URI).
async fn check(app: &AppState, params: &Params) -> Result<Checked, OAuthError> {
    let p = &app.provider;
    let hint = match params.get("id_token_hint") {
        Some(token) => {
            let expect = Expect {
                algs: &Alg::ALL,
                typ: None,
                issuer: &p.issuer,
                audience: None,
                allow_expired: true,
            };
            let claims: IdClaims = jwt::verify(&p.keys.current(), token, &expect)
                .map_err(|_| OAuthError::invalid_request("id_token_hint is invalid"))?;
            Some(claims)
        }
        None => None,
    };
    let client_id = match (
        hint.as_ref().map(|h| h.aud.as_str()),
        params.get("client_id"),
    ) {
        (Some(a), Some(b)) if a != b => {
            return Err(OAuthError::invalid_request(
                "client_id does not match id_token_hint",
            ));
        }
        (Some(a), _) => Some(a.to_owned()),
        (None, b) => b.map(str::to_owned),
    };
    let client = match client_id {
        Some(id) => Some(
            p.client(&id)
                .await?
                .ok_or_else(|| OAuthError::invalid_request("unknown client"))?,
        ),
        None => None,
    };
    let redirect = match params.get("post_logout_redirect_uri") {
        Some(uri) => {
            let registered = client
                .as_ref()
                .is_some_and(|c| c.post_logout_redirect_uris.iter().any(|r| r == uri));
            if !registered {
                return Err(OAuthError::invalid_request(
                    "post_logout_redirect_uri is not registered for this client",
                ));
            }
            Some(uri.to_owned())
        }
        None => None,
    };
    Ok(Checked {
        client,
        hint_sub: hint.map(|h| h.sub),
        redirect,
    })
}

async fn confirmation_page(
    app: &AppState,
    session: &Session,
    params: &Params,
    client: Option<&Client>,
) -> Result<Response, OAuthError> {
    let csrf_token = session::csrf_token(session).await?;
    let hidden: Vec<_> = [
        "post_logout_redirect_uri",
        "state",
        "client_id",
        "id_token_hint",
    ]
    .into_iter()
    .filter_map(|name| params.get(name).map(|value| context! { name, value }))
    .collect();
    let client_name = client.map(|c| c.name.clone());
    Ok(render(
        app,
        StatusCode::OK,
        "logout.html",
        context! { csrf_token, hidden, client_name },
    ))
}

/// Audits a logout (module `auth`): the user ends their own session, from this client if known.
async fn audit_logout(
    app: &AppState,
    user_id: &str,
    client: Option<&Client>,
    ip: Option<String>,
    now: i64,
) -> Result<(), OAuthError> {
    let db = &app.provider.db;
    let user = users::find(db, user_id).await?;
    let details = match client {
        Some(c) => serde_json::json!({ "client_id": c.id }),
        None => serde_json::json!({}),
    };
    let entry = audit::NewEntry {
        tenant_id: user.as_ref().map(|u| u.tenant_id.clone()),
        actor_type: "user".into(),
        actor_id: Some(user_id.to_owned()),
        actor_name: user.map(|u| u.username),
        ip,
        module: "auth".into(),
        target_type: "user".into(),
        target_id: Some(user_id.to_owned()),
        operation: "logout".into(),
        outcome: "success".into(),
        details,
    };
    audit::insert(db, &entry, now).await?;
    Ok(())
}
