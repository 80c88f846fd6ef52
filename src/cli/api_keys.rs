//! `gatehouse api-key create`: mint an API key for a user from the command line (bootstrap
//! automation before any token exists). The key is printed once.

use anyhow::{Context, bail};
use clap::Args;
use serde_json::json;

use crate::config::Config;
use crate::store::{api_keys, audit, users};
use crate::{accounts, app, clock};

/// `gatehouse api-key create`
#[derive(Debug, Args)]
pub struct ApiKeyCreate {
    /// Username of the key's owner.
    #[arg(long)]
    pub username: String,
    /// Tenant (id) of the user; default: the default tenant.
    #[arg(long, default_value = crate::store::tenants::DEFAULT_TENANT)]
    pub tenant: String,
    /// A label to recognise the key by.
    #[arg(long, default_value = "")]
    pub name: String,
    /// Lifetime in seconds (default: no expiry).
    #[arg(long)]
    pub expires_in: Option<i64>,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Creates the key and prints it.
pub async fn create(config: &Config, args: ApiKeyCreate) -> anyhow::Result<()> {
    if args.expires_in.is_some_and(|s| s <= 0) {
        bail!("--expires-in must be positive");
    }
    let db = app::open_database(config).await?;
    let user = users::find_by_username(&db, &args.tenant, &args.username)
        .await?
        .with_context(|| format!("no user {:?} in tenant {:?}", args.username, args.tenant))?;
    let now = clock::now();
    let generated = accounts::api_keys::generate();
    let key = api_keys::insert(
        &db,
        &user.id,
        &args.name,
        &generated.prefix,
        &generated.hash,
        args.expires_in.map(|s| now + s),
        now,
    )
    .await?;
    let entry = audit::NewEntry {
        tenant_id: Some(user.tenant_id.clone()),
        actor_type: "cli".into(),
        module: "account".into(),
        target_type: "api_key".into(),
        target_id: Some(key.id.clone()),
        operation: "add".into(),
        outcome: "success".into(),
        details: json!({ "user_id": user.id, "prefix": key.prefix }),
        ..Default::default()
    };
    audit::insert(&db, &entry, now).await?;
    db.close().await;
    if args.json {
        let mut out = serde_json::to_value(&key)?;
        out["key"] = json!(generated.key);
        println!("{out}");
    } else {
        println!(
            "api key: {}\n(shown only now; it is stored hashed)",
            generated.key
        );
    }
    Ok(())
}
