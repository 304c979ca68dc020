//! The named steps of token verification, recorded for the operator dry run.

use serde::Serialize;

use super::error::TokenError;

/// Step names, in the order they run (DESIGN.md §6.2).
pub mod step {
    pub const SIZE: &str = "size";
    pub const SEGMENTS: &str = "segments";
    pub const PROVIDER: &str = "provider";
    pub const ALGORITHM: &str = "algorithm";
    pub const KEY: &str = "key";
    pub const SIGNATURE: &str = "signature";
    pub const ISSUER: &str = "issuer";
    pub const AUDIENCE: &str = "audience";
    pub const EXPIRY: &str = "expiry";
    pub const SUBJECT: &str = "subject";
    pub const CLAIM_NAMES: &str = "claim-names";
}

/// The outcome of one step. `detail` may name kid, alg, issuer, matched audience and times;
/// never the token or its signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepReport {
    pub step: &'static str,
    pub ok: bool,
    pub detail: String,
}

/// Collects step reports when asked to; otherwise a no-op so the request path does not format
/// details nobody reads.
#[derive(Debug, Default)]
pub struct Trace {
    enabled: bool,
    steps: Vec<StepReport>,
}

impl Trace {
    pub fn recording() -> Self {
        Self {
            enabled: true,
            steps: Vec::new(),
        }
    }

    pub fn silent() -> Self {
        Self::default()
    }

    pub fn pass(&mut self, step: &'static str, detail: impl FnOnce() -> String) {
        if self.enabled {
            self.steps.push(StepReport {
                step,
                ok: true,
                detail: detail(),
            });
        }
    }

    /// Records `err` as the failure of `step` and hands it back, for `return Err(trace.fail(…))`.
    pub fn fail(&mut self, step: &'static str, err: TokenError) -> TokenError {
        if self.enabled {
            self.steps.push(StepReport {
                step,
                ok: false,
                detail: format!("{} ({err})", err.kind()),
            });
        }
        err
    }

    /// Like [`Trace::fail`], adding context (times, refresh outcome) after the error.
    pub fn fail_with(
        &mut self,
        step: &'static str,
        err: TokenError,
        context: impl FnOnce() -> String,
    ) -> TokenError {
        if self.enabled {
            self.steps.push(StepReport {
                step,
                ok: false,
                detail: format!("{} ({err}); {}", err.kind(), context()),
            });
        }
        err
    }

    pub fn into_steps(self) -> Vec<StepReport> {
        self.steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silent_trace_records_nothing_and_never_formats() {
        let mut t = Trace::silent();
        t.pass(step::SIZE, || unreachable!("detail must not be built"));
        let e = t.fail(step::SIZE, TokenError::TooLarge);
        assert_eq!(e, TokenError::TooLarge);
        assert!(t.into_steps().is_empty());
    }

    #[test]
    fn recording_trace_keeps_order_and_kind() {
        let mut t = Trace::recording();
        t.pass(step::SIZE, || "123 bytes".into());
        t.fail(step::SEGMENTS, TokenError::Malformed("x"));
        let steps = t.into_steps();
        assert_eq!(steps.len(), 2);
        assert!(steps[0].ok);
        assert_eq!(steps[1].step, "segments");
        assert!(!steps[1].ok);
        assert!(steps[1].detail.starts_with("malformed"));
    }
}
