//! The credential check of the login form: which tenant the username belongs to, the password,
//! the account's state, and the audit of failures.

use serde_json::json;

use super::LoginForm;
use crate::accounts::password::MAX_PASSWORD_BYTES;
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
