//! Revocation checks of the service: on new credentials (AssumeRoleWithWebIdentity) and on
//! session tokens stsd is shown (GetCallerIdentity, validate-token). Rate limits need no helper:
//! they are one call each on [`Runtime::limits`](super::Runtime).

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::config::Role;
use crate::providers::VerifiedIdentity;
use crate::revocation::CredentialRequest;
use crate::session::SessionClaims;

use super::{Runtime, ServiceError, StsService};

/// What a revocation refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    /// New credentials for a revoked identity.
    Credentials,
    /// A session token that is revoked (GetCallerIdentity, validate-token).
    Session,
}

impl Revoked {
    pub const ALL: [Revoked; 2] = [Self::Credentials, Self::Session];

    /// The `kind` label of the metric.
    pub fn name(self) -> &'static str {
        match self {
            Self::Credentials => "credentials",
            Self::Session => "session",
        }
    }
}

/// Refusals since start, across reloads.
#[derive(Debug, Default)]
pub struct RevocationCounts {
    credentials: AtomicU64,
    sessions: AtomicU64,
}

impl RevocationCounts {
    fn counter(&self, kind: Revoked) -> &AtomicU64 {
        match kind {
            Revoked::Credentials => &self.credentials,
            Revoked::Session => &self.sessions,
        }
    }
}

impl StsService {
    /// `AccessDenied` when a rule of `sts.revoked` refuses this verified identity the role (or
    /// the claim-based grant when `role` is `None`).
    pub(super) fn refuse_revoked_identity(
        &self,
        rt: &Runtime,
        identity: &VerifiedIdentity,
        role: Option<&Role>,
        now: OffsetDateTime,
    ) -> Result<(), ServiceError> {
        match revoking_rule(rt, identity, role, now) {
            None => Ok(()),
            Some(rule) => {
                self.count_revoked(Revoked::Credentials, rule);
                Err(revoked_identity())
            }
        }
    }

    /// Whether a rule of `sts.revoked` revokes this verified session token. A revoked session
    /// is counted and logged with the rule's position, never with the token.
    pub fn is_session_revoked(&self, rt: &Runtime, claims: &SessionClaims) -> bool {
        match rt.config.sts.revoked.revoking(claims) {
            None => false,
            Some(rule) => {
                self.count_revoked(Revoked::Session, rule);
                true
            }
        }
    }

    /// How many times `kind` was refused since start.
    pub fn revoked_refusals(&self, kind: Revoked) -> u64 {
        self.revocations.counter(kind).load(Ordering::Relaxed)
    }

    fn count_revoked(&self, kind: Revoked, rule: usize) {
        self.revocations
            .counter(kind)
            .fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            rule = %format_args!("sts.revoked[{rule}]"),
            kind = kind.name(),
            "refused: revoked"
        );
    }
}

/// The position in `sts.revoked` of the first rule refusing `identity` the role, if any.
pub(super) fn revoking_rule(
    rt: &Runtime,
    identity: &VerifiedIdentity,
    role: Option<&Role>,
    now: OffsetDateTime,
) -> Option<usize> {
    rt.config.sts.revoked.refusing(&CredentialRequest {
        provider: &identity.provider,
        subject: &identity.subject,
        token_issued_at: issued_at(&identity.claims),
        role: role.map(|r| r.role_name.as_str()),
        now,
    })
}

/// A revoked identity is told no more than a caller without a role: AWS's one message.
pub(super) fn revoked_identity() -> ServiceError {
    super::grant::not_authorized()
}

/// The verified token's `iat` (a NumericDate, already checked to be a number if present).
fn issued_at(claims: &Map<String, Value>) -> Option<i64> {
    let n = claims.get("iat")?.as_number()?;
    // `as` saturates at the i64 bounds, like the verifier's own reading.
    n.as_i64().or_else(|| n.as_f64().map(|f| f.floor() as i64))
}
