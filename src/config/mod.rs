//! iam.json: a serde schema mirroring SeaweedFS's file, validated into runtime types that cannot
//! hold an invalid state, plus the server settings read through the `config` crate.

pub mod model;

pub use model::*;
