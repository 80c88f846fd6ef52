//! Gatehouse: a single-sign-on provider (OAuth 2.0 / OpenID Connect) with a unified login page.
//! `app` wires the parts; `http` is the edge; `oauth` the protocol; `store` the SQL.

pub mod accounts;
pub mod app;
pub mod authz;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod dialects;
pub mod directory;
pub mod ephemeral;
pub mod error;
pub mod http;
pub mod jwt;
pub mod keys;
pub mod oauth;
pub mod state;
pub mod store;
pub mod templates;
