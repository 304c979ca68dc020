//! Operator endpoints: liveness and readiness.

pub mod health;
