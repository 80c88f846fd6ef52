//! Domain rules of the directory that do not depend on HTTP or SQL: attribute merging, group
//! tree paths and field validation. Handlers in `http::admin` call these; the store persists.

pub mod applications;
pub mod attrs;
pub mod catalogue;
pub mod tenants;
pub mod tree;
pub mod validate;
