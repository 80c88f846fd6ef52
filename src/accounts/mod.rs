//! Account credentials: password hashing and verification.

pub mod password;
