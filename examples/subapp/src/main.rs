//! Example sub-application guarded by Gatehouse through `gatehouse-client`.
//!
//! Routes: `/` (who is signed in, or a login link), `/login`, `/auth/callback`, `/logout`,
//! and two APIs guarded by `checkApiByToken`: `/api/reports` and `/api/admin/settings`.
//!
//! Environment: `GATEHOUSE_ISSUER` (required), `CLIENT_ID` (required), `CLIENT_SECRET`
//! (confidential clients), `LISTEN` (default `127.0.0.1:3000`; port 0 picks a free one),
//! `PUBLIC_URL` (default `http://<bound address>`), `DECISION_TTL_MS` (default 1000),
//! `SUBAPP_LOG` (tracing filter, default `info`). Prints `listening on http://ADDR` when ready.
//! Register `{PUBLIC_URL}/auth/callback` as the redirect URI and `{PUBLIC_URL}/` as the
//! post-logout redirect URI of the client in Gatehouse.

mod store;

use std::process::ExitCode;
use std::time::Duration;

use axum::response::Html;
use axum::routing::get;
use axum::{Json, Router};
use gatehouse_client::{Gatehouse, GatehouseConfig, GatehouseUser};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower_sessions::cookie::SameSite;
use tower_sessions::cookie::time;
use tower_sessions::{Expiry, SessionManagerLayer};
use tracing_subscriber::EnvFilter;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("SUBAPP_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn required(name: &str) -> Result<String, BoxError> {
    optional(name).ok_or_else(|| format!("{name} must be set").into())
}

fn optional(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

async fn run() -> Result<(), BoxError> {
    let issuer = required("GATEHOUSE_ISSUER")?;
    let client_id = required("CLIENT_ID")?;
    let listen = optional("LISTEN").unwrap_or_else(|| "127.0.0.1:3000".into());
    let listener = TcpListener::bind(&listen)
        .await
        .map_err(|e| format!("LISTEN {listen}: {e}"))?;
    let addr = listener.local_addr()?;
    let public_url = optional("PUBLIC_URL").unwrap_or_else(|| format!("http://{addr}"));
    let mut config = GatehouseConfig::new(issuer, client_id, public_url.clone());
    if let Some(secret) = optional("CLIENT_SECRET") {
        config = config.with_client_secret(secret);
    }
    if let Some(ms) = optional("DECISION_TTL_MS") {
        let ms: u64 = ms
            .parse()
            .map_err(|e| format!("DECISION_TTL_MS {ms:?}: {e}"))?;
        config = config.with_decision_ttl(Duration::from_millis(ms));
    }
    let gh = Gatehouse::discover(config).await?;
    let app = app(&gh, public_url.starts_with("https://"));
    // Tests and scripts wait for this line.
    println!("listening on http://{addr}");
    tracing::info!(%public_url, "serving");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await?;
    Ok(())
}

/// The example's routes: the login routes of the crate, a page, and two guarded APIs.
fn app(gh: &Gatehouse, secure_cookies: bool) -> Router {
    let sessions = SessionManagerLayer::new(store::MemoryStore::default())
        // Own name: cookies are not port-scoped, so on one host it must not clash with Gatehouse's.
        .with_name("subapp_session")
        .with_secure(secure_cookies)
        .with_http_only(true)
        // Lax: the cookie comes along on the top-level redirect back from Gatehouse.
        .with_same_site(SameSite::Lax)
        .with_expiry(Expiry::OnInactivity(time::Duration::hours(8)));
    let api = Router::new()
        .route("/api/reports", get(reports))
        .route("/api/admin/settings", get(settings))
        // route_layer: unknown paths stay 404 instead of 401.
        .route_layer(gh.layer());
    Router::new()
        .route("/", get(index))
        .merge(gh.routes())
        .merge(api)
        .layer(sessions)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

async fn index(user: Option<GatehouseUser>) -> Html<String> {
    let body = match user {
        Some(u) => format!(
            "<p>Signed in as <b>{}</b> (<code>{}</code>).</p>\n\
             <p><a href=\"/api/reports\">Reports</a> · <a href=\"/api/admin/settings\">Settings</a> · \
             <form method=\"post\" action=\"/logout\"><button>Log out</button></form></p>",
            escape(u.display_name()),
            escape(u.username.as_deref().unwrap_or(&u.sub)),
        ),
        None => "<p>Not signed in. <a href=\"/login\">Log in with Gatehouse</a></p>".to_owned(),
    };
    Html(format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Reports</title></head>\
         <body>\n<h1>Reports (example sub-application)</h1>\n{body}\n</body></html>\n"
    ))
}

async fn reports(user: GatehouseUser) -> Json<Value> {
    Json(json!({
        "reports": [{"id": 1, "title": "Quarterly figures"}],
        "viewer": {"sub": user.sub, "username": user.username, "name": user.name},
    }))
}

async fn settings(user: GatehouseUser) -> Json<Value> {
    Json(json!({
        "settings": {"retention_days": 30},
        "admin": {"sub": user.sub, "username": user.username},
    }))
}

/// Ctrl-C or SIGTERM.
async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
