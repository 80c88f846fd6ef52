//! The sub-application dialects of seeds 001 and 002: opaque app tokens, the principal a token
//! resolves to, the `checkApiByToken` decision with its caches, and the browser hand-offs
//! (`signdata` + `sign`, `tk`). HTTP handlers live in `crate::http::legacy`.

pub mod checker;
pub mod handoff;
pub mod path;
pub mod profile;
pub mod signdata;
pub mod tk;
pub mod tokens;

pub use checker::Checker;
pub use tokens::Principal;
