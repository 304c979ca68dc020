//! Identity revocation (`sts.revoked`): rules that refuse new credentials to an identity and
//! turn session tokens already issued to it into invalid ones, before they expire.
//!
//! stsd keeps no session store, so a rule is matched against what a token itself says: the
//! provider (`idp`), subject (`ext_uid`), role, issue time (`assumed_at`) and session id (`sid`)
//! of a session token, or the verified claims of a web identity token. S3 gateways that verify
//! session tokens on their own never see these rules.

use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::arn::parse_role_arn;
use crate::secret::SecretString;
use crate::session::SessionClaims;

/// One rule of `sts.revoked`. Names are checked against the configuration when it loads.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// `{"provider", "subject"}`: one identity of one provider.
    Subject { provider: String, subject: String },
    /// `{"provider", "issuedBefore"}`: web identity tokens of the provider issued (`iat`) before
    /// the time, and sessions issued from that provider before it.
    ProviderIssuedBefore {
        provider: String,
        before: OffsetDateTime,
    },
    /// `{"role", "issuedBefore"}`: sessions of the role issued before the time. `role` is the
    /// role's name; any ARN naming it matches.
    RoleIssuedBefore {
        role: String,
        before: OffsetDateTime,
    },
    /// `{"sessionId"}`: one session, by its `sid`.
    Session { session_id: SecretString },
}

/// What a request for new credentials is, once its web identity token has been verified.
#[derive(Debug, Clone, Copy)]
pub struct CredentialRequest<'a> {
    /// The configured name of the provider that verified the token.
    pub provider: &'a str,
    pub subject: &'a str,
    /// The token's `iat`, when it has one.
    pub token_issued_at: Option<i64>,
    /// The name of the role asked for (none in claim-based mode).
    pub role: Option<&'a str>,
    /// The issue time of the session that would be minted.
    pub now: OffsetDateTime,
}

/// `sts.revoked`, validated. Matching is a linear scan: lists are short, written by hand.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Revocations {
    rules: Vec<Rule>,
}

impl Revocations {
    pub fn new(rules: Vec<Rule>) -> Self {
        Self { rules }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The index of the first rule that refuses this request new credentials.
    pub fn refusing(&self, request: &CredentialRequest<'_>) -> Option<usize> {
        self.rules.iter().position(|rule| match rule {
            Rule::Subject { provider, subject } => {
                provider == request.provider && subject == request.subject
            }
            // A token without `iat` cannot show that it is recent enough: it is refused.
            Rule::ProviderIssuedBefore { provider, before } => {
                provider == request.provider
                    && request
                        .token_issued_at
                        .is_none_or(|iat| seconds_before(iat, *before))
            }
            // The session about to be minted would be issued now.
            Rule::RoleIssuedBefore { role, before } => {
                request.role == Some(role.as_str()) && request.now < *before
            }
            Rule::Session { .. } => false,
        })
    }

    /// The index of the first rule that revokes this (verified) session token.
    pub fn revoking(&self, claims: &SessionClaims) -> Option<usize> {
        let issued = session_issued_at(claims);
        // A session without an issue time is older than any cutoff.
        let issued_before = |before: &OffsetDateTime| issued.is_none_or(|t| t < *before);
        self.rules.iter().position(|rule| match rule {
            Rule::Subject { provider, subject } => {
                *provider == claims.idp && *subject == claims.ext_uid
            }
            Rule::ProviderIssuedBefore { provider, before } => {
                *provider == claims.idp && issued_before(before)
            }
            Rule::RoleIssuedBefore { role, before } => {
                parse_role_arn(&claims.role).is_some_and(|arn| arn.name == role)
                    && issued_before(before)
            }
            Rule::Session { session_id } => {
                bool::from(session_id.expose().as_bytes().ct_eq(claims.sid.as_bytes()))
            }
        })
    }
}

fn seconds_before(seconds: i64, before: OffsetDateTime) -> bool {
    i128::from(seconds) * 1_000_000_000 < before.unix_timestamp_nanos()
}

/// `assumed_at` as minted, else the registered `iat`.
fn session_issued_at(claims: &SessionClaims) -> Option<OffsetDateTime> {
    claims.assumed_at.or_else(|| {
        claims
            .iat
            .and_then(|iat| OffsetDateTime::from_unix_timestamp(iat).ok())
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const CUTOFF: OffsetDateTime = datetime!(2026-12-01 00:00:00 UTC);

    fn rules() -> Revocations {
        Revocations::new(vec![
            Rule::Subject {
                provider: "corp".into(),
                subject: "alice".into(),
            },
            Rule::ProviderIssuedBefore {
                provider: "ci".into(),
                before: CUTOFF,
            },
            Rule::RoleIssuedBefore {
                role: "Deploy".into(),
                before: CUTOFF,
            },
            Rule::Session {
                session_id: SecretString::new("00112233445566778899aabbccddeeff".into()),
            },
        ])
    }

    fn request<'a>(provider: &'a str, subject: &'a str) -> CredentialRequest<'a> {
        CredentialRequest {
            provider,
            subject,
            token_issued_at: Some(CUTOFF.unix_timestamp() + 10),
            role: Some("Reader"),
            now: CUTOFF + time::Duration::days(1),
        }
    }

    fn session(idp: &str, sub: &str, role: &str, issued: OffsetDateTime) -> SessionClaims {
        let t = issued.unix_timestamp();
        let mut c = SessionClaims::new(
            "seaweedfs-sts",
            "ffeeddccbbaa99887766554433221100",
            t,
            t + 3600,
        );
        c.idp = idp.into();
        c.ext_uid = sub.into();
        c.role = role.into();
        c
    }

    #[test]
    fn subject_rules_refuse_that_identity_only() {
        let r = rules();
        assert_eq!(r.refusing(&request("corp", "alice")), Some(0));
        assert_eq!(r.refusing(&request("corp", "bob")), None);
        assert_eq!(
            r.refusing(&request("ci", "alice")),
            None,
            "same sub, other provider"
        );
    }

    #[test]
    fn provider_cutoffs_look_at_the_tokens_iat() {
        let r = rules();
        let mut req = request("ci", "job");
        assert_eq!(r.refusing(&req), None);
        req.token_issued_at = Some(CUTOFF.unix_timestamp() - 1);
        assert_eq!(r.refusing(&req), Some(1));
        req.token_issued_at = Some(CUTOFF.unix_timestamp());
        assert_eq!(
            r.refusing(&req),
            None,
            "issued at the cutoff is not before it"
        );
        req.token_issued_at = None;
        assert_eq!(
            r.refusing(&req),
            Some(1),
            "no iat, no proof of being recent"
        );
    }

    #[test]
    fn role_cutoffs_refuse_new_sessions_only_while_the_cutoff_is_ahead() {
        let r = rules();
        let mut req = request("corp", "bob");
        req.role = Some("Deploy");
        assert_eq!(
            r.refusing(&req),
            None,
            "a session minted now is after the cutoff"
        );
        req.now = CUTOFF - time::Duration::seconds(1);
        assert_eq!(r.refusing(&req), Some(2));
        req.role = None;
        assert_eq!(r.refusing(&req), None);
    }

    #[test]
    fn sessions_are_matched_on_their_own_claims() {
        let r = rules();
        let before = CUTOFF - time::Duration::hours(1);
        let after = CUTOFF + time::Duration::hours(1);
        let reader = "arn:aws:iam::role/Reader";
        assert_eq!(
            r.revoking(&session("corp", "alice", reader, after)),
            Some(0)
        );
        assert_eq!(r.revoking(&session("corp", "bob", reader, after)), None);
        assert_eq!(r.revoking(&session("ci", "job", reader, before)), Some(1));
        assert_eq!(r.revoking(&session("ci", "job", reader, after)), None);
        // Any ARN form naming the role matches.
        for arn in [
            "arn:aws:iam::role/Deploy",
            "arn:aws:iam::123456789012:role/Deploy",
        ] {
            assert_eq!(
                r.revoking(&session("corp", "bob", arn, before)),
                Some(2),
                "{arn}"
            );
            assert_eq!(
                r.revoking(&session("corp", "bob", arn, after)),
                None,
                "{arn}"
            );
        }
        assert_eq!(
            r.revoking(&session(
                "corp",
                "bob",
                "arn:aws:iam::role/Deployer",
                before
            )),
            None
        );
    }

    #[test]
    fn session_ids_and_missing_issue_times() {
        let r = rules();
        let after = CUTOFF + time::Duration::hours(1);
        let mut c = session("corp", "bob", "arn:aws:iam::role/Deploy", after);
        assert_eq!(r.revoking(&c), None);
        c.sid = "00112233445566778899aabbccddeeff".into();
        assert_eq!(r.revoking(&c), Some(3));
        let mut c = session("corp", "bob", "arn:aws:iam::role/Deploy", after);
        c.assumed_at = None;
        assert_eq!(r.revoking(&c), None, "iat stands in for assumed_at");
        c.iat = None;
        assert_eq!(
            r.revoking(&c),
            Some(2),
            "no issue time at all is older than any cutoff"
        );
    }

    #[test]
    fn no_rules_revoke_nothing() {
        let r = Revocations::default();
        assert!(r.is_empty());
        assert_eq!(r.refusing(&request("corp", "alice")), None);
        assert_eq!(r.revoking(&session("corp", "alice", "x", CUTOFF)), None);
    }
}
