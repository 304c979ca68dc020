//! Pod identity: a projected ServiceAccount token in, the credentials of the role its
//! `podIdentityAssociations` entry names out — the contract of the AWS SDKs' container
//! credentials provider (https://docs.aws.amazon.com/sdkref/latest/guide/feature-container-credentials.html)
//! with associations as EKS Pod Identity has them. The token is verified, and the role assumed,
//! by the same steps as AssumeRoleWithWebIdentity.

use std::net::IpAddr;

use serde_json::Value;
use time::OffsetDateTime;

use super::params::{check_length, is_session_name_byte, SESSION_NAME_LEN, TOKEN_LEN};
use super::{AssumeRoleOutput, AssumeRoleRequest, RoleTarget, ServiceError, StsService};
use crate::config::{IamConfig, PodIdentityAssociation};
use crate::providers::VerifiedIdentity;

/// The `sub` of a ServiceAccount token: `system:serviceaccount:<namespace>:<name>`.
const SERVICE_ACCOUNT_SUBJECT_PREFIX: &str = "system:serviceaccount:";
/// The claim in which the API server names the pod, namespace and ServiceAccount.
const KUBERNETES_CLAIM: &str = "kubernetes.io";
/// Used when neither the pod's nor the ServiceAccount's name makes a valid session name.
const FALLBACK_SESSION_NAME: &str = "pod-identity";

/// A request to the container-credentials endpoint: the token from its `Authorization` header.
#[derive(Debug, Clone)]
pub struct PodIdentityRequest {
    pub token: String,
    /// The caller's address, for `aws:SourceIp` conditions (set by the transport).
    pub source_ip: Option<IpAddr>,
}

impl PodIdentityRequest {
    /// The SDKs send the token file's content as the whole header value; a `Bearer ` prefix is
    /// accepted too. Messages never quote the header.
    pub fn from_authorization(header: Option<&[u8]>) -> Result<Self, ServiceError> {
        let missing = || ServiceError::MissingAuthenticationToken {
            message: "The request must carry a ServiceAccount token in the Authorization header"
                .to_owned(),
        };
        let header = header.ok_or_else(missing)?;
        let text = std::str::from_utf8(header).map_err(|_| ServiceError::InvalidIdentityToken {
            message: "The Authorization header does not hold a JWT".to_owned(),
        })?;
        let text = text.trim();
        let token = match (text.get(..6), text.get(6..)) {
            (Some(scheme), Some(rest))
                if scheme.eq_ignore_ascii_case("bearer")
                    && (rest.is_empty() || rest.starts_with(char::is_whitespace)) =>
            {
                rest.trim_start()
            }
            _ => text,
        };
        if token.is_empty() {
            return Err(missing());
        }
        let mut violations = Vec::new();
        check_length(&mut violations, "authorization", token, TOKEN_LEN);
        if let Some(v) = violations.into_iter().next() {
            return Err(ServiceError::Validation {
                message: format!("1 validation error detected: {v}"),
            });
        }
        Ok(Self {
            token: token.to_owned(),
            source_ip: None,
        })
    }
}

/// What the container-credentials response carries.
#[derive(Debug, Clone)]
pub struct PodIdentityOutput {
    pub assumed: AssumeRoleOutput,
    /// `sts.accountId`, when configured.
    pub account_id: Option<String>,
}

/// The Kubernetes workload a verified ServiceAccount token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workload<'a> {
    pub namespace: &'a str,
    pub service_account: &'a str,
    pub pod: Option<&'a str>,
}

fn non_empty_str(value: Option<&Value>) -> Option<&str> {
    value.and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// From the token's `kubernetes.io` claim, or else its `sub`. When both name a workload they
/// must agree: a token that says two different things is not trusted to say either.
pub fn workload(identity: &VerifiedIdentity) -> Option<Workload<'_>> {
    let from_subject = identity
        .subject
        .strip_prefix(SERVICE_ACCOUNT_SUBJECT_PREFIX)
        .and_then(|rest| rest.split_once(':'))
        .filter(|(ns, sa)| !ns.is_empty() && !sa.is_empty() && !sa.contains(':'));
    let claim = identity.claims.get(KUBERNETES_CLAIM);
    let from_claim = claim.and_then(|k| {
        Some((
            non_empty_str(k.get("namespace"))?,
            non_empty_str(k.get("serviceaccount").and_then(|s| s.get("name")))?,
        ))
    });
    let (namespace, service_account) = match (from_claim, from_subject) {
        (Some(c), Some(s)) if c != s => return None,
        (Some(c), _) => c,
        (None, Some(s)) => s,
        (None, None) => return None,
    };
    Some(Workload {
        namespace,
        service_account,
        pod: claim.and_then(|k| non_empty_str(k.get("pod").and_then(|p| p.get("name")))),
    })
}

/// The association for this workload, among those that accept tokens of `provider`.
/// Validation guarantees at most one matches.
pub fn find_association<'a>(
    config: &'a IamConfig,
    provider: &str,
    workload: &Workload<'_>,
) -> Option<&'a PodIdentityAssociation> {
    config.pod_identity_associations.iter().find(|a| {
        a.namespace == workload.namespace
            && a.service_account == workload.service_account
            && a.provider.as_deref().is_none_or(|p| p == provider)
    })
}

/// The pod's name (else the ServiceAccount's) cut to RoleSessionName's rules: 2–64 characters
/// of `[\w+=,.@-]`, anything else replaced by `-`.
pub fn session_name(workload: &Workload<'_>) -> String {
    let (min, max) = SESSION_NAME_LEN;
    [workload.pod, Some(workload.service_account)]
        .into_iter()
        .flatten()
        .map(|name| {
            name.bytes()
                .take(max)
                .map(|b| {
                    if is_session_name_byte(b) {
                        char::from(b)
                    } else {
                        '-'
                    }
                })
                .collect::<String>()
        })
        .find(|name| name.len() >= min)
        .unwrap_or_else(|| FALLBACK_SESSION_NAME.to_owned())
}

/// The AssumeRoleWithWebIdentity request the association stands for: its role, the session
/// name from the pod, the default duration, no session policy.
fn assume_role_request(
    config: &IamConfig,
    identity: &VerifiedIdentity,
    request: PodIdentityRequest,
) -> Result<AssumeRoleRequest, ServiceError> {
    let workload = workload(identity).ok_or_else(|| ServiceError::AccessDenied {
        message: "The token names no Kubernetes ServiceAccount (no kubernetes.io claim, and its \
                  subject is not system:serviceaccount:<namespace>:<name>)"
            .to_owned(),
    })?;
    let association = find_association(config, &identity.provider, &workload).ok_or_else(|| {
        let message =
            if is_displayable(workload.namespace) && is_displayable(workload.service_account) {
                format!(
                    "No pod identity association for ServiceAccount {} in namespace {}",
                    workload.service_account, workload.namespace
                )
            } else {
                "No pod identity association for this token's ServiceAccount".to_owned()
            };
        ServiceError::AccessDenied { message }
    })?;
    // check-config accepted the association's roleArn, so it parses.
    let role =
        RoleTarget::parse(association.role_arn.clone()).ok_or_else(|| ServiceError::Internal {
            detail: "a pod identity association's roleArn does not parse".into(),
        })?;
    Ok(AssumeRoleRequest {
        role,
        role_session_name: session_name(&workload),
        web_identity_token: request.token,
        duration_seconds: None,
        policy: None,
        source_ip: request.source_ip,
    })
}

/// Kubernetes object names are shown back; anything else a token might carry is not.
fn is_displayable(name: &str) -> bool {
    (1..=253).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

impl StsService {
    /// `GET /v1/credentials`: verify the token as AssumeRoleWithWebIdentity does, find the
    /// association for its ServiceAccount, and assume that role with it.
    pub async fn pod_identity_credentials(
        &self,
        request: PodIdentityRequest,
        now: OffsetDateTime,
    ) -> Result<PodIdentityOutput, ServiceError> {
        let rt = self.runtime.load_full();
        // The query API's order: address and global limits before any token work.
        rt.limits.admit_source(request.source_ip, now)?;
        let identity = rt
            .registry
            .verify(&request.token, now.unix_timestamp())
            .await?;
        let assume = assume_role_request(&rt.config, &identity, request)?;
        let assumed = self.issue(&rt, &identity, &assume, None, now)?;
        Ok(PodIdentityOutput {
            assumed,
            account_id: rt.config.sts.account_id.clone(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn identity(subject: &str, claims: Value) -> VerifiedIdentity {
        VerifiedIdentity {
            provider: "cluster".into(),
            issuer: "https://k8s.test".into(),
            subject: subject.into(),
            audiences: vec!["stsd".into()],
            matched_audience: "stsd".into(),
            expires_at: None,
            claims: claims.as_object().cloned().unwrap_or_default(),
            username: None,
            email: None,
            groups: Vec::new(),
            roles: Vec::new(),
        }
    }

    fn k8s_claims(ns: &str, sa: &str, pod: Option<&str>) -> Value {
        let mut k = json!({"namespace": ns, "serviceaccount": {"name": sa, "uid": "u"}});
        if let Some(pod) = pod {
            k["pod"] = json!({"name": pod, "uid": "p"});
        }
        json!({ "kubernetes.io": k })
    }

    #[test]
    fn authorization_forms() {
        let r = PodIdentityRequest::from_authorization(Some(b"abcd.efgh.ijkl\n")).unwrap();
        assert_eq!(r.token, "abcd.efgh.ijkl");
        let r = PodIdentityRequest::from_authorization(Some(b"Bearer abcd.efgh.ijkl")).unwrap();
        assert_eq!(r.token, "abcd.efgh.ijkl");
        let r = PodIdentityRequest::from_authorization(Some(b"bearer  abcd.efgh")).unwrap();
        assert_eq!(r.token, "abcd.efgh");
        for missing in [None, Some(&b""[..]), Some(b"  \n"), Some(b"Bearer ")] {
            assert!(matches!(
                PodIdentityRequest::from_authorization(missing),
                Err(ServiceError::MissingAuthenticationToken { .. })
            ));
        }
        assert!(matches!(
            PodIdentityRequest::from_authorization(Some(b"\xff\xfe.x.y")),
            Err(ServiceError::InvalidIdentityToken { .. })
        ));
        let long = "a".repeat(20_001);
        match PodIdentityRequest::from_authorization(Some(long.as_bytes())) {
            Err(ServiceError::Validation { message }) => {
                assert!(message.contains("less than or equal to 20000"));
                assert!(!message.contains("aaaa"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn workload_from_the_kubernetes_claim_or_the_subject() {
        let id = identity(
            "system:serviceaccount:team-a:app",
            k8s_claims("team-a", "app", Some("app-5d8f-x")),
        );
        assert_eq!(
            workload(&id),
            Some(Workload {
                namespace: "team-a",
                service_account: "app",
                pod: Some("app-5d8f-x")
            })
        );
        let id = identity("system:serviceaccount:team-b:web", json!({}));
        assert_eq!(
            workload(&id),
            Some(Workload {
                namespace: "team-b",
                service_account: "web",
                pod: None
            })
        );
        let id = identity("opaque-subject", k8s_claims("team-c", "db", None));
        assert_eq!(workload(&id).unwrap().namespace, "team-c");
        // Disagreeing names, or no names at all, are no workload.
        let id = identity(
            "system:serviceaccount:team-a:app",
            k8s_claims("kube-system", "app", None),
        );
        assert_eq!(workload(&id), None);
        for sub in [
            "alice",
            "system:serviceaccount:team-a",
            "system:serviceaccount::app",
            "system:serviceaccount:a:b:c",
        ] {
            assert_eq!(workload(&identity(sub, json!({}))), None, "{sub}");
        }
    }

    #[test]
    fn session_names_follow_role_session_name_rules() {
        let w = |pod: Option<&'static str>, sa: &'static str| Workload {
            namespace: "ns",
            service_account: sa,
            pod,
        };
        assert_eq!(
            session_name(&w(Some("app-7d9f8b6c5-x2x4z"), "app")),
            "app-7d9f8b6c5-x2x4z"
        );
        assert_eq!(session_name(&w(None, "app.v2")), "app.v2");
        let long = "p".repeat(100);
        let long: &'static str = Box::leak(long.into_boxed_str());
        assert_eq!(session_name(&w(Some(long), "app")).len(), 64);
        assert_eq!(session_name(&w(Some("a b/c"), "app")), "a-b-c");
        assert_eq!(session_name(&w(Some("x"), "app")), "app");
        assert_eq!(session_name(&w(Some("x"), "y")), "pod-identity");
    }
}
