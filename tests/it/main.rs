//! Black-box integration tests for Gatehouse: a real `gatehouse` process per test, driven over HTTP.
//! Test names start with the security-checklist id they cover (shared/docs/security-checklist.md).
//! Every scenario runs on SQLite and, when GATEHOUSE_TEST_DATABASE_URL is set, on PostgreSQL.

#[macro_use]
mod common;

mod admin_applications;
mod admin_audit;
mod admin_groups;
mod admin_matrix;
mod admin_roles;
mod admin_tenants;
mod admin_user_search;
mod admin_users;
mod authorize_errors;
mod bad_input;
mod cli;
mod client_credentials;
mod code_flow;
mod consent;
mod directory_login;
mod discovery;
mod introspect_revoke;
mod key_rotation;
mod legacy_check_api;
mod legacy_signdata;
mod legacy_tk;
mod login_page;
mod login_throttle;
mod logout;
mod multi_instance;
mod multi_instance_races;
mod openapi_doc;
mod pg_outage;
mod pkce;
mod redis_store;
mod redis_tls;
mod refresh;
mod reverse_proxy;
mod session_lifetimes;
mod subapp_e2e;
mod tenant_login;
mod token_errors;
mod userinfo;
