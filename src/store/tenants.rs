//! Tenants (companies). The OP core only needs the default tenant; the directory adds the rest.

/// Id of the tenant created by the first migration.
pub const DEFAULT_TENANT: &str = "default";
