//! Who is calling the admin API, and whether they may.
//!
//! Credentials: `Authorization: Bearer <access token>` (a user's token, or a `client_credentials`
//! token acting as the client's service account) or `API-Key: <key>` (a user's key). Credentials
//! in the URL are refused. The catalogue of the `gatehouse-admin` application then decides
//! (route level: allowed in some tenant, else 403); handlers check the object's tenant with
//! [`Ctx::require`] (not allowed there: 404, so ids of other tenants reveal nothing, A-02).

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::authz::{self, ADMIN_APP, Authority, SubjectInfo, TenantScope};
use crate::clock;
use crate::crypto::sha256_b64;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::permissions::Subject;
use crate::store::{api_keys, audit, users};

/// The authenticated caller.
#[derive(Debug, Clone)]
pub enum Actor {
    /// A user, by bearer token or API key.
    User {
        id: String,
        username: String,
        tenant_id: String,
        user_type: String,
    },
    /// A client acting for itself (`client_credentials`).
    Client { id: String, tenant_id: String },
}

impl Actor {
    /// Id of the user or client.
    pub fn id(&self) -> &str {
        match self {
            Actor::User { id, .. } | Actor::Client { id, .. } => id,
        }
    }

    /// Main tenant of the user or client.
    pub fn tenant_id(&self) -> &str {
        match self {
            Actor::User { tenant_id, .. } | Actor::Client { tenant_id, .. } => tenant_id,
        }
    }

    /// The user id, if a user is calling.
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Actor::User { id, .. } => Some(id),
            Actor::Client { .. } => None,
        }
    }
}

/// Request context of an authenticated admin API call.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub actor: Actor,
    pub authority: Arc<Authority>,
    /// Method and raw path of the request: what the catalogue is asked about.
    pub method: String,
    pub path: String,
    pub ip: Option<String>,
    pub now: i64,
}

impl Ctx {
    /// Tenants where this request is allowed.
    pub fn scope(&self) -> TenantScope {
        self.authority.scope(&self.method, &self.path)
    }

    /// Whether this request is allowed on an object of `tenant`.
    pub fn allows(&self, tenant: &str) -> bool {
        self.authority.allows(&self.method, &self.path, tenant)
    }

    /// Refuses (as 404 `what`) an object of a tenant where this request is not allowed.
    pub fn require(&self, tenant: &str, what: &'static str) -> ApiResult<()> {
        if self.allows(tenant) {
            Ok(())
        } else {
            Err(ApiError::NotFound(what))
        }
    }

    /// Whether the caller is the user `user_id`.
    pub fn is_user(&self, user_id: &str) -> bool {
        self.actor.user_id() == Some(user_id)
    }

    /// Whether the caller administers `tenant` (super admin or tenant admin).
    pub fn administers(&self, tenant: &str) -> bool {
        self.authority.administers(tenant)
    }

    /// Whether the caller is a super administrator.
    pub fn is_super(&self) -> bool {
        self.authority.super_admin
    }

    /// Appends an audit record of a successful admin write by this caller.
    pub async fn audit(
        &self,
        app: &AppState,
        tenant: Option<&str>,
        target_type: &str,
        target_id: &str,
        operation: &str,
        details: Value,
    ) -> ApiResult<()> {
        let (actor_type, actor_name) = match &self.actor {
            Actor::User { username, .. } => ("user", Some(username.clone())),
            Actor::Client { .. } => ("client", None),
        };
        let entry = audit::NewEntry {
            tenant_id: tenant.map(str::to_owned),
            actor_type: actor_type.into(),
            actor_id: Some(self.actor.id().to_owned()),
            actor_name,
            ip: self.ip.clone(),
            module: "account".into(),
            target_type: target_type.into(),
            target_id: Some(target_id.to_owned()),
            operation: operation.into(),
            outcome: "success".into(),
            details,
        };
        audit::insert(&app.provider.db, &entry, self.now).await?;
        // Every admin write is audited here, so this is where cached permission decisions
        // learn that the directory changed.
        app.checker.directory_changed();
        Ok(())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Ctx>()
            .cloned()
            .ok_or_else(|| ApiError::Internal("admin route without authentication layer".into()))
    }
}

/// Middleware of every admin route: authenticates, then asks the catalogue whether the route is
/// allowed in at least one tenant.
pub async fn require_permission(State(app): State<AppState>, req: Request, next: Next) -> Response {
    guard(app, req, next, true).await
}

/// Middleware of the caller's own routes (`/api/v1/me…`): authentication only.
pub async fn require_principal(State(app): State<AppState>, req: Request, next: Next) -> Response {
    guard(app, req, next, false).await
}

async fn guard(app: AppState, mut req: Request, next: Next, check_catalogue: bool) -> Response {
    let ip = crate::http::client_ip::of(&app, req.extensions(), req.headers());
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let ctx = match authenticate(&app, req.headers(), req.uri().query(), ip, method, path).await {
        Ok(ctx) => ctx,
        Err(e) => return e.into_response(),
    };
    if check_catalogue && ctx.scope().is_empty() {
        return ApiError::forbidden("your roles do not allow this operation").into_response();
    }
    req.extensions_mut().insert(ctx);
    next.run(req).await
}

/// Query parameters that would carry a credential in the URL.
const URL_CREDENTIALS: [&str; 4] = ["access_token", "api-key", "api_key", "apikey"];

async fn authenticate(
    app: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
    ip: Option<String>,
    method: String,
    path: String,
) -> ApiResult<Ctx> {
    if let Some(q) = query
        && form_urlencoded::parse(q.as_bytes())
            .any(|(k, _)| URL_CREDENTIALS.contains(&k.to_ascii_lowercase().as_str()))
    {
        return Err(ApiError::bad(
            "credentials_in_url",
            "send credentials in the Authorization or API-Key header, never in the URL",
        ));
    }
    let now = clock::now();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let api_key = headers.get("api-key").and_then(|v| v.to_str().ok());
    let actor = match (bearer, api_key) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad(
                "ambiguous_credentials",
                "send either a bearer token or an API key, not both",
            ));
        }
        (Some(token), None) => actor_from_token(app, token, now).await?,
        (None, Some(key)) => actor_from_api_key(app, key.trim(), now).await?,
        (None, None) => return Err(ApiError::Unauthorized("credentials are required")),
    };
    let subject = match &actor {
        Actor::User { id, .. } => Subject::User(id),
        Actor::Client { id, .. } => Subject::Client(id),
    };
    let user_type = match &actor {
        Actor::User { user_type, .. } => Some(user_type.as_str()),
        Actor::Client { .. } => None,
    };
    let info = SubjectInfo {
        subject,
        tenant_id: actor.tenant_id(),
        user_type,
    };
    let authority = authz::authority(&app.provider.db, &info, ADMIN_APP).await?;
    Ok(Ctx {
        actor,
        authority: Arc::new(authority),
        method,
        path,
        ip,
        now,
    })
}

async fn actor_from_token(app: &AppState, token: &str, now: i64) -> ApiResult<Actor> {
    let claims = app.provider.verify_access_token(token, now).await?;
    if claims.has_user() {
        active_user(app, &claims.sub, now).await
    } else {
        let client = app
            .provider
            .client(&claims.client_id)
            .await?
            .filter(|c| c.enabled)
            .ok_or(ApiError::Unauthorized("the client is not active"))?;
        Ok(Actor::Client {
            id: client.id.clone(),
            tenant_id: client.tenant_id.clone(),
        })
    }
}

async fn actor_from_api_key(app: &AppState, key: &str, now: i64) -> ApiResult<Actor> {
    if key.is_empty() || key.len() > 256 {
        return Err(ApiError::Unauthorized("the API key is not valid"));
    }
    let db = &app.provider.db;
    let (key_id, user_id) = api_keys::user_of(db, &sha256_b64(key.as_bytes()), now)
        .await?
        .ok_or(ApiError::Unauthorized("the API key is not valid"))?;
    let actor = active_user(app, &user_id, now).await?;
    api_keys::touch(db, &key_id, now).await?;
    Ok(actor)
}

async fn active_user(app: &AppState, user_id: &str, now: i64) -> ApiResult<Actor> {
    let user = users::find(&app.provider.db, user_id)
        .await?
        .filter(|u| u.may_sign_in(now))
        .ok_or(ApiError::Unauthorized("the account is not active"))?;
    Ok(Actor::User {
        id: user.id,
        username: user.username,
        tenant_id: user.tenant_id,
        user_type: user.user_type,
    })
}
