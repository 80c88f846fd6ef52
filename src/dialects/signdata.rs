//! Seed 001's browser hand-off: the callback gets `signdata` (the signed-in user, encrypted)
//! and `sign` (a keyed signature over it). The format (key derivation, seal/open, the legacy
//! md5 `sign`, [`Claims`], [`Error`]) is pure and lives in `gatehouse_client::signdata`,
//! re-exported here, so Gatehouse and the sub-applications using the client crate run one
//! implementation; it is specified in `docs/dialects.md`. The server side (minting, single use,
//! codes) is in [`flow`], the seed 001 user object in [`profile`].

pub use gatehouse_client::signdata::*;

pub mod flow;
pub mod profile;
