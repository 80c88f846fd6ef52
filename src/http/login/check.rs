//! The credential check of the login form: which tenant the username belongs to, the password,
//! the account's state, and the audit of failures.

use serde_json::json;

use super::LoginForm;
use crate::accounts::password::MAX_PASSWORD_BYTES;
use crate::accounts::throttle::{Attempt, Gate};
use crate::clock;
use crate::oauth::OAuthError;
use crate::state::AppState;
use crate::store::credentials::{self, SignIn};
use crate::store::tenants::DEFAULT_TENANT;
use crate::store::{audit, clients, tenants};

/// The tenant whose users the form signs in: the organisation typed in the form (by tenant
/// code), else the tenant of the application asking (OIDC request or dialect hand-off), else the default tenant. `None` when the
/// typed organisation does not exist: the form then fails like a wrong password (L-01).
pub(super) async fn resolve_tenant(
    app: &AppState,
    organization: &str,
    client_id: Option<&str>,
) -> Result<Option<String>, OAuthError> {
    let db = &app.provider.db;
    let organization = organization.trim();
    if !organization.is_empty() {
        if organization.len() > 32 {
            return Ok(None);
        }
        return Ok(tenants::id_by_code(db, organization).await?);
    }
    if let Some(client_id) = client_id
        && let Some(client) = clients::find(db, client_id).await?
    {
        return Ok(Some(client.tenant_id));
    }
    Ok(Some(DEFAULT_TENANT.to_owned()))
}

/// The outcome of a credential check.
pub(super) enum Check {
    /// Right password, and the account may sign in.
    Accepted(SignIn),
    /// Anything else; `reason` goes to the audit log only (L-01).
    Refused {
        account: Option<SignIn>,
        reason: &'static str,
    },
}

/// Verifies the password, then the account's state. Unknown users, accounts without a password
/// and malformed input cost the same Argon2 work as a wrong password (L-02); a disabled,
/// deleted or trial-expired account is refused after the same work, whatever the password.
pub(super) async fn check_credentials(
    app: &AppState,
    form: &LoginForm,
    tenant: Option<&str>,
) -> Result<Check, OAuthError> {
    let well_formed = !form.username.is_empty()
        && form.username.len() <= 256
        && form.password.len() <= MAX_PASSWORD_BYTES;
    let db = &app.provider.db;
    let account = match tenant {
        Some(tenant) if well_formed => {
            credentials::find_by_username(db, tenant, &form.username).await?
        }
        _ => None,
    };
    let stored = account.as_ref().and_then(|a| a.password_hash.clone());
    // Oversized passwords are not hashed at all: the dummy check runs on an empty one.
    let presented = if well_formed {
        form.password.clone()
    } else {
        String::new()
    };
    let verified = app
        .passwords
        .verify(presented, stored)
        .await
        .map_err(OAuthError::server_error)?;
    let now = clock::now();
    let refused = |account: Option<SignIn>, reason: &'static str| {
        Ok::<_, OAuthError>(Check::Refused { account, reason })
    };
    let Some(account) = account else {
        let reason = match (well_formed, tenant) {
            (false, _) => "invalid_input",
            (true, None) => "unknown_organization",
            (true, Some(_)) => "unknown_user",
        };
        return refused(None, reason);
    };
    if account.password_hash.is_none() {
        return refused(Some(account), "no_password");
    }
    if !verified.ok {
        return refused(Some(account), "bad_password");
    }
    if let Some(refusal) = account.refusal(now) {
        return refused(Some(account), refusal.as_str());
    }
    if verified.needs_rehash && !account.must_change_password() {
        let hash = app
            .passwords
            .hash(form.password.clone())
            .await
            .map_err(OAuthError::server_error)?;
        credentials::upgrade_hash(db, &account.id, &hash).await?;
    }
    Ok(Check::Accepted(account))
}

/// Audits a failed login: anonymous actor, the attempted username in the details, never the
/// password.
pub(super) async fn audit_failure(
    app: &AppState,
    tenant: Option<&str>,
    username: &str,
    account: Option<&SignIn>,
    reason: &str,
    ip: Option<String>,
) -> Result<(), OAuthError> {
    let username: String = username.chars().take(64).collect();
    let entry = audit::NewEntry {
        tenant_id: Some(tenant.unwrap_or(DEFAULT_TENANT).to_owned()),
        actor_type: "anonymous".into(),
        ip,
        module: "auth".into(),
        target_type: "user".into(),
        target_id: account.map(|a| a.id.clone()),
        operation: "login_failed".into(),
        outcome: "failure".into(),
        details: json!({ "username": username, "reason": reason }),
        ..Default::default()
    };
    audit::insert(&app.provider.db, &entry, clock::now()).await?;
    Ok(())
}

/// Throttling of one password check (L-04, L-05), shared by every path that verifies a
/// password: `Ok(attempt)` to go on, `Err(retry_after)` when refused. The first refusal of an
/// account and source in a window is audited (`login_throttled`); later ones only counted.
/// `tenant` is the resolved tenant; when the typed organisation named none, its code is the
/// scope, so such guesses are throttled too.
pub(crate) async fn throttle(
    app: &AppState,
    tenant: Option<&str>,
    organization: &str,
    username: &str,
    ip: Option<&str>,
) -> Result<Result<Attempt, i64>, OAuthError> {
    let scope = match tenant {
        Some(t) => t.to_owned(),
        None => format!("org:{}", organization.trim().to_lowercase()),
    };
    let store = app.provider.ephemeral.as_ref();
    match app
        .login_throttle
        .begin(store, &scope, username, ip)
        .await?
    {
        Gate::Proceed(attempt) => Ok(Ok(attempt)),
        Gate::Refused { retry_after, first } => {
            tracing::info!(retry_after, "login throttled");
            if first {
                let username: String = username.chars().take(64).collect();
                let entry = audit::NewEntry {
                    tenant_id: Some(tenant.unwrap_or(DEFAULT_TENANT).to_owned()),
                    actor_type: "anonymous".into(),
                    ip: ip.map(str::to_owned),
                    module: "auth".into(),
                    target_type: "user".into(),
                    operation: "login_throttled".into(),
                    outcome: "failure".into(),
                    details: json!({ "username": username, "retry_after": retry_after }),
                    ..Default::default()
                };
                audit::insert(&app.provider.db, &entry, clock::now()).await?;
            }
            Ok(Err(retry_after))
        }
    }
}

/// Reports a right password: its source starts afresh (see [`crate::accounts::throttle`]).
pub(crate) async fn throttle_passed(app: &AppState, attempt: Attempt) -> Result<(), OAuthError> {
    let store = app.provider.ephemeral.as_ref();
    Ok(app.login_throttle.succeeded(store, attempt).await?)
}
