//! Command line: `serve` (default), `client add`, `user add`, `keys init|rotate|list`,
//! `api-key create`.

mod api_keys;
mod signing_keys;
mod users_io;

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use serde_json::json;

use crate::config::Config;
use crate::jwt::Alg;
use crate::store::clients::{self, Client};
use crate::store::tenants::DEFAULT_TENANT;
use crate::store::users::{self, NewUser};
use crate::{accounts, app, clock, crypto, keys};

/// Gatehouse single sign-on provider.
#[derive(Debug, Parser)]
#[command(name = "gatehouse", version, about)]
pub struct Cli {
    /// Configuration file (default: ./gatehouse.toml when present).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Database URL; overrides GATEHOUSE_DATABASE_URL.
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Manage OAuth clients.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage users' API keys.
    #[command(subcommand, name = "api-key")]
    ApiKey(ApiKeyCommand),
    /// Import data from JSON lines (`import users FILE`).
    #[command(subcommand)]
    Import(users_io::ImportCommand),
    /// Export data as JSON lines (`export users`).
    #[command(subcommand)]
    Export(users_io::ExportCommand),
}

/// `gatehouse api-key …`
#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create an API key for a user; the key is printed once.
    Create(api_keys::ApiKeyCreate),
}

/// `gatehouse client …`
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; its secret is printed once.
    Add(ClientAdd),
}

/// `gatehouse client add`
#[derive(Debug, Args)]
pub struct ClientAdd {
    /// Display name, shown on the login and consent pages.
    #[arg(long)]
    pub name: String,
    /// Allowed redirect URI (exact match); repeat for several.
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// Allowed post-logout redirect URI; repeat for several.
    #[arg(long = "post-logout-redirect-uri")]
    pub post_logout_redirect_uris: Vec<String>,
    /// A public client (no secret; PKCE required).
    #[arg(long)]
    pub public: bool,
    /// A third-party client: users are asked for consent.
    #[arg(long)]
    pub third_party: bool,
    /// Allowed grant type (authorization_code, refresh_token, client_credentials); repeat.
    /// Default: authorization_code and refresh_token.
    #[arg(long = "grant-type")]
    pub grant_types: Vec<String>,
    /// ID token signing algorithm: RS256 (default), ES256 or EdDSA.
    #[arg(long, default_value = "RS256")]
    pub id_token_alg: String,
    /// Id of the tenant that owns the client (its users sign in without naming their
    /// organisation).
    #[arg(long, default_value = DEFAULT_TENANT)]
    pub tenant: String,
    /// Print the created client as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `gatehouse user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user (password from --password or the first line of stdin).
    Add(UserAdd),
}

/// `gatehouse user add`
#[derive(Debug, Args)]
pub struct UserAdd {
    #[arg(long)]
    pub username: String,
    /// The password; read from stdin when omitted (keeps it out of the shell history).
    #[arg(long)]
    pub password: Option<String>,
    #[arg(long)]
    pub email: Option<String>,
    #[arg(long)]
    pub name: Option<String>,
    /// Main tenant (id) of the user; default: the default tenant.
    #[arg(long, default_value = DEFAULT_TENANT)]
    pub tenant: String,
    /// Print the created user as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub use signing_keys::KeysCommand;

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(url) = cli.database_url {
        config.database_url = url;
    }
    init_tracing(&config.log);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => app::serve(config).await,
        Command::Client(ClientCommand::Add(args)) => add_client(&config, args).await,
        Command::User(UserCommand::Add(args)) => add_user(&config, args).await,
        Command::Keys(cmd) => signing_keys::run(&config, cmd).await,
        Command::ApiKey(ApiKeyCommand::Create(args)) => api_keys::create(&config, args).await,
        Command::Import(cmd) => users_io::import(&config, cmd).await,
        Command::Export(cmd) => users_io::export(&config, cmd).await,
    }
}

fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

const GRANT_TYPES: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];

/// Registered URIs: the rule of `directory::applications::redirect_uri` (shared with the API).
fn validate_redirect_uri(uri: &str) -> anyhow::Result<()> {
    crate::directory::applications::redirect_uri(uri).map_err(anyhow::Error::msg)
}

async fn add_client(config: &Config, args: ClientAdd) -> anyhow::Result<()> {
    let grant_types = if args.grant_types.is_empty() {
        vec!["authorization_code".to_owned(), "refresh_token".to_owned()]
    } else {
        args.grant_types.clone()
    };
    for g in &grant_types {
        if !GRANT_TYPES.contains(&g.as_str()) {
            bail!("unknown grant type {g:?} (use {})", GRANT_TYPES.join(", "));
        }
    }
    if args.public && grant_types.iter().any(|g| g == "client_credentials") {
        bail!("a public client cannot use client_credentials");
    }
    let code_flow = grant_types.iter().any(|g| g == "authorization_code");
    if code_flow && args.redirect_uris.is_empty() {
        bail!("--redirect-uri is required for the authorization_code grant");
    }
    for uri in args
        .redirect_uris
        .iter()
        .chain(&args.post_logout_redirect_uris)
    {
        validate_redirect_uri(uri)?;
    }
    let alg = Alg::parse(&args.id_token_alg)
        .with_context(|| format!("unknown ID token algorithm {:?}", args.id_token_alg))?;
    let hasher = keys::load_secret_hasher(&config.keys_dir)?;
    // The sealed copy lets the signdata dialect key its hand-offs from the secret.
    let vault = keys::load_vault(&config.keys_dir)?;
    let secret = (!args.public).then(crypto::random_token);
    let db = app::open_database(config).await?;
    if crate::store::tenants::find(&db, &args.tenant)
        .await?
        .is_none()
    {
        bail!("no tenant {:?}", args.tenant);
    }
    let id = uuid::Uuid::now_v7().simple().to_string();
    let client = Client {
        secret_sealed: secret.as_deref().map(|s| vault.seal(&id, s)),
        id,
        tenant_id: args.tenant,
        name: args.name,
        secret_hash: secret.as_deref().map(|s| hasher.hash(s)),
        redirect_uris: args.redirect_uris,
        post_logout_redirect_uris: args.post_logout_redirect_uris,
        grant_types,
        first_party: !args.third_party,
        id_token_alg: alg.as_str().into(),
        enabled: true,
        ttl: Default::default(),
        legacy_callback_urls: Vec::new(),
        legacy_md5_sign: false,
        api_key_in_query: false,
    };
    clients::insert(&db, &client, clock::now()).await?;
    db.close().await;
    let out = json!({
        "client_id": client.id,
        "tenant_id": client.tenant_id,
        "client_secret": secret,
        "name": client.name,
        "redirect_uris": client.redirect_uris,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "public": client.secret_hash.is_none(),
        "first_party": client.first_party,
        "grant_types": client.grant_types,
        "id_token_signed_response_alg": client.id_token_alg,
    });
    if args.json {
        println!("{out}");
    } else {
        println!("client_id:     {}", client.id);
        match &secret {
            Some(s) => {
                println!("client_secret: {s}\n(the secret is shown only now; it is stored hashed)")
            }
            None => println!("public client: no secret, PKCE required"),
        }
    }
    Ok(())
}

/// Usernames: 1..=32 of letters, digits, `-`, `_`, `.`.
fn validate_username(u: &str) -> anyhow::Result<()> {
    if crate::directory::validate::username(u).is_err() {
        bail!("usernames are 1 to 32 letters, digits, '-', '_' or '.'");
    }
    Ok(())
}

async fn add_user(config: &Config, args: UserAdd) -> anyhow::Result<()> {
    validate_username(&args.username)?;
    let password = match args.password {
        Some(p) => p,
        None => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("reading the password from stdin")?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    if password.chars().count() < accounts::password::MIN_PASSWORD_CHARS
        || password.len() > accounts::password::MAX_PASSWORD_BYTES
    {
        bail!("passwords must have 8 to 1024 bytes (at least 8 characters)");
    }
    let hash = accounts::password::hash_now(&password).map_err(|e| anyhow::anyhow!(e))?;
    let db = app::open_database(config).await?;
    let tenant = crate::store::tenants::find(&db, &args.tenant).await?;
    if tenant.is_none() {
        bail!("no tenant {:?}", args.tenant);
    }
    let new = NewUser {
        tenant_id: args.tenant,
        username: args.username,
        password_hash: hash,
        user_type: "MEMBER".into(),
        email: args.email,
        name: args.name,
    };
    let user = match users::insert(&db, &new, clock::now()).await {
        Ok(user) => user,
        Err(crate::store::StoreError::Conflict(_)) => bail!("username {:?} is taken", new.username),
        Err(e) => return Err(e.into()),
    };
    db.close().await;
    let out = json!({ "id": user.id, "username": user.username, "email": user.email, "name": user.name, "tenant_id": user.tenant_id });
    if args.json {
        println!("{out}");
    } else {
        println!("created user {} ({})", user.username, user.id);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uri_registration_rules() {
        assert!(validate_redirect_uri("https://app.example/cb").is_ok());
        assert!(validate_redirect_uri("http://127.0.0.1:9000/cb").is_ok());
        assert!(validate_redirect_uri("com.example.app:/cb").is_ok());
        assert!(validate_redirect_uri("http://app.example/cb").is_err());
        assert!(validate_redirect_uri("https://app.example/cb#x").is_err());
        assert!(validate_redirect_uri("javascript:alert(1)").is_err());
        assert!(validate_redirect_uri("/relative").is_err());
    }

    #[test]
    fn usernames() {
        assert!(validate_username("alice.b-c_1").is_ok());
        assert!(validate_username("").is_err());
        assert!(validate_username("a b").is_err());
        assert!(validate_username(&"a".repeat(33)).is_err());
    }
}
