//! Account credentials: password hashing and verification, login throttling.

pub mod api_keys;
pub mod password;
pub mod throttle;
