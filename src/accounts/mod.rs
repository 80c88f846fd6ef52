//! Account credentials: password hashing and verification.

pub mod api_keys;
pub mod password;
