//! Service-level tests of AssumeRoleWithWebIdentity through the mock provider: trust policy,
//! duration caps, session policy, claim mode, and the minted token as a SeaweedFS gateway reads it.

use serde_json::json;
use time::macros::datetime;

use super::*;
use crate::config;

const KEY_B64: &str = "dGVzdC1zaWduaW5nLWtleS0zMi1jaGFyYWN0ZXJzLWxvbmc=";
const NOW: OffsetDateTime = datetime!(2026-01-01 00:00:00 UTC);

fn service_with(mutate: impl FnOnce(&mut serde_json::Value)) -> StsService {
    let mut file = json!({
        "sts": {"issuer": "test-sts", "signingKey": KEY_B64, "tokenDuration": "1h", "maxSessionLength": "2h"},
        "providers": [{"name": "mock", "type": "mock",
                       "config": {"issuer": "https://mock.example", "clientId": "test-client"}}],
        "policies": [{"name": "S3Read", "document": {"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}}],
        "roles": [
            {"roleName": "Reader", "attachedPolicies": ["S3Read"],
             "trustPolicy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Federated": "mock"}, "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {"oidc:sub": "test-user-id"}}}]}},
            {"roleName": "Other", "attachedPolicies": ["S3Read"], "maxSessionDuration": 3600,
             "trustPolicy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Federated": "*"}, "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {"oidc:sub": "someone-else"}}}]}},
            {"roleName": "Denied", "attachedPolicies": [],
             "trustPolicy": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"Federated": "mock"}, "Action": "sts:AssumeRoleWithWebIdentity"},
                {"Sid": "NoDevelopers", "Effect": "Deny", "Principal": "*", "Action": "sts:*",
                 "Condition": {"ForAnyValue:StringEquals": {"oidc:groups": "developers"}}}]}}
        ]
    });
    mutate(&mut file);
    let loaded = config::load_str(&file.to_string(), "test", &|_| None).expect("valid config");
    StsService::new(loaded.config).expect("service")
}

fn request(role_arn: Option<&str>) -> AssumeRoleRequest {
    AssumeRoleRequest::validate(RawAssumeRoleParams {
        role_arn: role_arn.map(str::to_string),
        role_session_name: Some("alice-session".into()),
        web_identity_token: Some("valid_test_token\n".into()),
        duration_seconds: None,
        policy: None,
    })
    .expect("valid parameters")
}

async fn assume(
    svc: &StsService,
    req: AssumeRoleRequest,
) -> Result<AssumeRoleOutput, ServiceError> {
    svc.assume_role_with_web_identity(req, NOW).await
}

#[tokio::test]
async fn issues_credentials_a_seaweedfs_gateway_accepts() {
    let svc = service_with(|_| {});
    let out = assume(&svc, request(Some("arn:aws:iam::role/Reader")))
        .await
        .unwrap();

    assert_eq!(out.subject, "test-user-id");
    assert_eq!(out.provider, "https://mock.example");
    assert_eq!(out.audience, "test-client");
    assert_eq!(
        out.assumed_role_user.arn,
        "arn:aws:sts::assumed-role/Reader/alice-session"
    );
    assert_eq!(
        out.assumed_role_user.assumed_role_id,
        "Reader:alice-session"
    );
    assert_eq!(out.packed_policy_size, None);
    assert_eq!(
        out.credentials.expiration,
        datetime!(2026-01-01 01:00:00 UTC)
    );

    // Verify as a gateway would: the token under the shared key, then the credentials from sid.
    let rt = svc.runtime();
    let claims = rt
        .keys
        .verify(&out.credentials.session_token, NOW.unix_timestamp() + 60)
        .unwrap();
    assert_eq!(claims.iss, "test-sts");
    assert_eq!(claims.typ, "session");
    assert_eq!(claims.role, "arn:aws:iam::role/Reader");
    assert_eq!(claims.principal, out.assumed_role_user.arn);
    assert_eq!(claims.assumed, out.assumed_role_user.arn);
    assert_eq!(claims.idp, "mock");
    assert_eq!(claims.ext_uid, "test-user-id");
    assert_eq!(claims.max_dur, Some(3600));
    assert_eq!(claims.sid.len(), 32);
    assert_eq!(claims.req_ctx.get("sub"), Some(&json!("test-user-id")));
    assert_eq!(
        claims.req_ctx.get("roles"),
        Some(&json!("readwrite,readonly"))
    );
    assert_eq!(
        claims.req_ctx.get("aws:userid"),
        Some(&json!(session::parent_user_id(
            "test-user-id",
            "https://mock.example"
        )))
    );
    let derived = session::derive_credentials(
        &claims.sid,
        session::SecretDerivation::SeaweedFs,
        &rt.config.sts.signing_key,
    );
    assert_eq!(derived.access_key_id, out.credentials.access_key_id);
    assert_eq!(derived.secret_access_key, out.credentials.secret_access_key);
    assert!(out.credentials.access_key_id.starts_with("ASIA"));
    assert_eq!(svc.active_sessions(NOW), 1);
    assert_eq!(svc.active_sessions(datetime!(2026-01-01 01:00:00 UTC)), 0);
}

#[tokio::test]
async fn account_id_appears_in_the_assumed_role_arn() {
    let svc = service_with(|f| f["sts"]["accountId"] = json!("123456789012"));
    let out = assume(&svc, request(Some("arn:aws:iam::123456789012:role/Reader")))
        .await
        .unwrap();
    assert_eq!(
        out.assumed_role_user.arn,
        "arn:aws:sts::123456789012:assumed-role/Reader/alice-session"
    );
}

#[tokio::test]
async fn unknown_role_is_access_denied() {
    let svc = service_with(|_| {});
    let err = assume(&svc, request(Some("arn:aws:iam::role/Nope")))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ServiceError::AccessDenied { message } if message == "Not authorized to perform sts:AssumeRoleWithWebIdentity"),
        "{err:?}"
    );
}

#[tokio::test]
async fn trust_policy_without_matching_allow_is_access_denied() {
    let svc = service_with(|_| {});
    let err = assume(&svc, request(Some("arn:aws:iam::role/Other")))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ServiceError::AccessDenied { message } if message == "Not authorized to perform sts:AssumeRoleWithWebIdentity"),
        "{err:?}"
    );
}

#[tokio::test]
async fn explicit_deny_wins_over_allow() {
    let svc = service_with(|_| {});
    let err = assume(&svc, request(Some("arn:aws:iam::role/Denied")))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ServiceError::AccessDenied { message } if message == "Not authorized to perform sts:AssumeRoleWithWebIdentity"),
        "{err:?}"
    );
}

#[tokio::test]
async fn token_failures_map_to_their_aws_codes() {
    let svc = service_with(|_| {});
    let mut req = request(Some("arn:aws:iam::role/Reader"));
    req.web_identity_token = "expired_token".into();
    assert!(matches!(
        assume(&svc, req.clone()).await,
        Err(ServiceError::ExpiredToken { .. })
    ));
    req.web_identity_token = "invalid_token".into();
    assert!(matches!(
        assume(&svc, req.clone()).await,
        Err(ServiceError::InvalidIdentityToken { .. })
    ));
    req.web_identity_token = "not-a-jwt-at-all".into();
    assert!(matches!(
        assume(&svc, req).await,
        Err(ServiceError::InvalidIdentityToken { .. })
    ));
}

#[tokio::test]
async fn disabled_provider_is_idp_rejected_claim() {
    let svc = service_with(|f| f["providers"][0]["enabled"] = json!(false));
    let err = assume(&svc, request(Some("arn:aws:iam::role/Reader")))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ServiceError::IdpRejectedClaim { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn duration_is_capped_by_role_and_max_session_length() {
    let svc = service_with(|f| {
        f["roles"][0]["maxSessionDuration"] = json!(5400);
    });
    let mut req = request(Some("arn:aws:iam::role/Reader"));
    req.duration_seconds = Some(43_200);
    let out = assume(&svc, req.clone()).await.unwrap();
    assert_eq!(
        out.credentials.expiration,
        NOW + time::Duration::seconds(5400)
    );

    let svc = service_with(|_| {});
    let out = assume(&svc, req.clone()).await.unwrap();
    assert_eq!(
        out.credentials.expiration,
        NOW + time::Duration::hours(2),
        "maxSessionLength 2h"
    );

    req.duration_seconds = Some(900);
    let out = assume(&svc, req).await.unwrap();
    assert_eq!(
        out.credentials.expiration,
        NOW + time::Duration::seconds(900)
    );
}

#[tokio::test]
async fn session_policy_is_embedded_and_sized() {
    let svc = service_with(|_| {});
    let mut req = request(Some("arn:aws:iam::role/Reader"));
    req.policy = Some(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}"#
            .into(),
    );
    let out = assume(&svc, req).await.unwrap();
    let claims = svc
        .runtime()
        .keys
        .verify(&out.credentials.session_token, NOW.unix_timestamp())
        .unwrap();
    let spol = claims.spol.expect("spol");
    assert!(
        spol.starts_with(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"]"#
        ),
        "{spol}"
    );
    assert_eq!(
        out.packed_policy_size,
        Some(u32::try_from(spol.len() * 100 / 2048).unwrap())
    );
}

#[tokio::test]
async fn malformed_and_oversized_session_policies_are_refused() {
    let svc = service_with(|_| {});
    for bad in [
        "not json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Maybe","Action":"s3:*","Resource":"*"}]}"#,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*"}]}"#,
    ] {
        let mut req = request(Some("arn:aws:iam::role/Reader"));
        req.policy = Some(bad.into());
        let err = assume(&svc, req).await.unwrap_err();
        assert!(
            matches!(err, ServiceError::MalformedPolicyDocument { .. }),
            "{bad}: {err:?}"
        );
    }
    // Normalisation can grow a policy past the packed limit (Action/Resource become arrays).
    let statements: Vec<String> = (0..40)
        .map(|i| format!(r#"{{"Effect":"Allow","Action":"s3:Get{i}","Resource":"*"}}"#))
        .collect();
    let mut req = request(Some("arn:aws:iam::role/Reader"));
    req.policy = Some(format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        statements.join(",")
    ));
    let err = assume(&svc, req).await.unwrap_err();
    assert!(
        matches!(err, ServiceError::PackedPolicyTooLarge { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn missing_role_arn_needs_a_policy_claim_provider() {
    let svc = service_with(|_| {});
    let err = assume(&svc, request(None)).await.unwrap_err();
    assert!(
        matches!(err, ServiceError::MissingParameter { .. }),
        "{err:?}"
    );
}

/// A policy named `name` that allows reading everything.
fn read_policy(name: &str) -> serde_json::Value {
    json!({"name": name, "document": {"Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}})
}

/// The mock token carries `groups: [developers, users]`; use it as the policy claim, with a
/// policy named `developers` and none named `users`.
fn weka_service(policy_claim: serde_json::Value) -> StsService {
    service_with(|f| {
        f["providers"][0]["config"]["policyClaim"] = policy_claim;
        f["policies"]
            .as_array_mut()
            .unwrap()
            .push(read_policy("developers"));
    })
}

fn session_claims(svc: &StsService, out: &AssumeRoleOutput) -> SessionClaims {
    svc.runtime()
        .keys
        .verify(&out.credentials.session_token, NOW.unix_timestamp())
        .unwrap()
}

#[tokio::test]
async fn claim_mode_grants_the_claim_values_that_name_policies() {
    let svc = weka_service(json!("groups"));
    for arn in [None, Some(CLAIM_MODE_ROLE_ARN)] {
        let out = assume(&svc, request(arn)).await.unwrap();
        assert_eq!(
            out.assumed_role_user.arn,
            "arn:aws:sts::assumed-role/sts-claim-based/alice-session"
        );
        let claims = session_claims(&svc, &out);
        // `users` names no policy: ignored (with a warning), never granted.
        assert_eq!(claims.pol, Some(vec!["developers".to_string()]));
        assert_eq!(claims.role, CLAIM_MODE_ROLE_ARN);
    }

    let svc = service_with(|f| f["providers"][0]["config"]["policyClaim"] = json!("no_such_claim"));
    let err = assume(&svc, request(Some(CLAIM_MODE_ROLE_ARN)))
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::AccessDenied { .. }), "{err:?}");

    // The claim is there, but none of its values names a policy.
    let svc = service_with(|f| f["providers"][0]["config"]["policyClaim"] = json!("groups"));
    match assume(&svc, request(None)).await.unwrap_err() {
        ServiceError::AccessDenied { message } => {
            assert_eq!(
                message,
                "Not authorized to perform sts:AssumeRoleWithWebIdentity"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn weka_role_arn_names_one_claim_value_and_its_policy() {
    let svc = weka_service(json!("groups"));
    let out = assume(&svc, request(Some("arn:aws:iam::role/developers")))
        .await
        .unwrap();
    assert_eq!(
        out.assumed_role_user.arn,
        "arn:aws:sts::assumed-role/developers/alice-session"
    );
    assert_eq!(
        out.assumed_role_user.assumed_role_id,
        "developers:alice-session"
    );
    let claims = session_claims(&svc, &out);
    assert_eq!(claims.pol, Some(vec!["developers".to_string()]));
    assert_eq!(claims.role, "arn:aws:iam::role/developers");

    // A value the token carries but no policy has: AccessDenied.
    let err = assume(&svc, request(Some("arn:aws:iam::role/users")))
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::AccessDenied { .. }), "{err:?}");

    // A policy the token's claim does not carry is never granted.
    let svc = service_with(|f| {
        f["providers"][0]["config"]["policyClaim"] = json!("groups");
        f["policies"]
            .as_array_mut()
            .unwrap()
            .push(read_policy("admins"));
    });
    match assume(&svc, request(Some("arn:aws:iam::role/admins")))
        .await
        .unwrap_err()
    {
        ServiceError::AccessDenied { message } => {
            assert_eq!(
                message,
                "Not authorized to perform sts:AssumeRoleWithWebIdentity"
            )
        }
        other => panic!("{other:?}"),
    }

    // Configured roles still win over claim values.
    let out = assume(&svc, request(Some("arn:aws:iam::role/Reader")))
        .await
        .unwrap();
    assert_eq!(session_claims(&svc, &out).pol, None);
}

#[tokio::test]
async fn policy_claim_true_reads_the_roles_claim() {
    let svc = weka_service(json!(true));
    assert_eq!(
        svc.runtime().config.providers[0]
            .settings
            .policy_claim
            .as_deref(),
        Some("roles")
    );
    // The mock token has no `roles` claim.
    let err = assume(&svc, request(Some("arn:aws:iam::role/developers")))
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::AccessDenied { .. }), "{err:?}");
}

#[tokio::test]
async fn seaweed_partition_roles_answer_in_their_partition() {
    let svc = service_with(|f| {
        f["roles"][0]["roleArn"] = json!("arn:seaweed:iam::role/Reader");
    });
    for requested in ["arn:seaweed:iam::role/Reader", "arn:aws:iam::role/Reader"] {
        let out = assume(&svc, request(Some(requested))).await.unwrap();
        assert_eq!(
            out.assumed_role_user.arn,
            "arn:seaweed:sts::assumed-role/Reader/alice-session"
        );
        let claims = session_claims(&svc, &out);
        // SeaweedFS gateways parse only `arn:aws:sts::…` principals.
        assert_eq!(
            claims.principal,
            "arn:aws:sts::assumed-role/Reader/alice-session"
        );
        assert_eq!(claims.role, requested);
    }
}

/// Every mode, fed to the real call and to the dry run: they must decide alike.
#[tokio::test]
async fn dry_run_and_real_call_decide_alike() {
    let services = [
        service_with(|_| {}),
        weka_service(json!("groups")),
        weka_service(json!(true)),
        service_with(|f| f["providers"][0]["config"]["policyClaim"] = json!("groups")),
        service_with(|f| f["roles"][0]["roleArn"] = json!("arn:seaweed:iam::role/Reader")),
    ];
    let arns = [
        None,
        Some(CLAIM_MODE_ROLE_ARN),
        Some("arn:seaweed:iam:::role/sts-claim-based"),
        Some("arn:aws:iam::role/Reader"),
        Some("arn:seaweed:iam::role/Reader"),
        Some("arn:aws:iam::role/Other"),
        Some("arn:aws:iam::role/Denied"),
        Some("arn:aws:iam::role/developers"),
        Some("arn:aws:iam::role/users"),
        Some("arn:aws:iam::role/Nope"),
    ];
    for (i, svc) in services.iter().enumerate() {
        for arn in arns {
            for token in ["valid_test_token", "expired_token", "invalid_token"] {
                let mut req = request(arn);
                req.web_identity_token = token.into();
                let real = assume(svc, req.clone()).await.err().map(|e| e.aws_code());
                let dry = svc.explain(&req, NOW).await;
                assert_eq!(
                    dry.code, real,
                    "service {i}, {arn:?}, {token}: {:?}",
                    dry.steps
                );
                assert_eq!(dry.allowed, real.is_none());
            }
        }
    }
}

#[tokio::test]
async fn dry_run_explains_claim_based_mode_and_its_warnings() {
    let svc = weka_service(json!("groups"));
    let run = svc.explain(&request(Some(CLAIM_MODE_ROLE_ARN)), NOW).await;
    assert!(run.allowed, "{:?}", run.steps);
    let last = run.steps.last().unwrap();
    assert_eq!((last.step, last.ok), ("policy-claim", true));
    assert!(last.detail.contains("developers"), "{}", last.detail);
    assert_eq!(run.warnings.len(), 1, "{:?}", run.warnings);
    assert!(run.warnings[0].contains("users"), "{:?}", run.warnings);
}

#[tokio::test]
async fn legacy_derivation_is_unkeyed_and_the_default_is_keyed() {
    let legacy = service_with(|f| f["sts"]["secretDerivation"] = json!("seaweedfs-legacy"));
    let keyed = service_with(|_| {});
    for (svc, mode) in [
        (&legacy, session::SecretDerivation::SeaweedFsLegacy),
        (&keyed, session::SecretDerivation::SeaweedFs),
    ] {
        let out = assume(svc, request(Some("arn:aws:iam::role/Reader")))
            .await
            .unwrap();
        let claims = svc
            .runtime()
            .keys
            .verify(&out.credentials.session_token, NOW.unix_timestamp())
            .unwrap();
        let other_key = session::SigningKey::from_bytes(vec![9; 32]).unwrap();
        let with_other_key = session::derive_credentials(&claims.sid, mode, &other_key);
        assert_eq!(with_other_key.access_key_id, out.credentials.access_key_id);
        assert_eq!(
            with_other_key.secret_access_key == out.credentials.secret_access_key,
            mode == session::SecretDerivation::SeaweedFsLegacy,
            "{mode:?}"
        );
    }
}

#[tokio::test]
async fn reload_swaps_the_configuration() {
    let svc = service_with(|_| {});
    assert!(assume(&svc, request(Some("arn:aws:iam::role/Other")))
        .await
        .is_err());
    let mut file = json!({
        "sts": {"issuer": "test-sts", "signingKey": KEY_B64},
        "providers": [{"name": "mock", "type": "mock",
                       "config": {"issuer": "https://mock.example", "clientId": "test-client"}}],
        "roles": [{"roleName": "Other", "attachedPolicies": [],
             "trustPolicy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Federated": "mock"}, "Action": "sts:AssumeRoleWithWebIdentity"}]}}]
    });
    file["sts"]["issuer"] = json!("reloaded-sts");
    let loaded = config::load_str(&file.to_string(), "test", &|_| None).unwrap();
    svc.reload(loaded.config).unwrap();
    let out = assume(&svc, request(Some("arn:aws:iam::role/Other")))
        .await
        .unwrap();
    let claims = svc
        .runtime()
        .keys
        .verify(&out.credentials.session_token, NOW.unix_timestamp())
        .unwrap();
    assert_eq!(claims.iss, "reloaded-sts");
}

#[tokio::test]
async fn inspecting_a_session_token_never_reveals_what_derives_the_secret() {
    let svc = service_with(|_| {});
    let out = assume(&svc, request(Some("arn:aws:iam::role/Reader")))
        .await
        .unwrap();
    let token = out.credentials.session_token.clone();

    let ok = svc.inspect_session_token(&token, NOW);
    assert!(ok.valid);
    let summary = ok.session.as_ref().unwrap();
    assert_eq!(summary.access_key_id, out.credentials.access_key_id);
    assert_eq!(summary.role, "arn:aws:iam::role/Reader");
    assert_eq!(summary.session_name, "alice-session");
    assert_eq!(summary.subject, "test-user-id");
    assert_eq!(summary.policies, ["S3Read"]);
    assert_eq!(summary.expires_at, "2026-01-01T01:00:00Z");
    let rendered = serde_json::to_string(&ok).unwrap();
    let claims = svc
        .runtime()
        .keys
        .verify(&token, NOW.unix_timestamp())
        .unwrap();
    assert!(
        !rendered.contains(&claims.sid),
        "the session id derives the secret"
    );
    assert!(!rendered.contains(out.credentials.secret_access_key.expose()));
    assert!(rendered.contains(r#""valid":true"#));

    let expired = svc.inspect_session_token(&token, datetime!(2026-01-01 01:00:00 UTC));
    assert_eq!((expired.valid, expired.reason), (false, Some("expired")));

    let flip = token.len() - 10;
    let replacement = if &token[flip..=flip] == "A" { "B" } else { "A" };
    let tampered = format!("{}{replacement}{}", &token[..flip], &token[flip + 1..]);
    assert_eq!(
        svc.inspect_session_token(&tampered, NOW).reason,
        Some("bad-signature")
    );
    assert_eq!(
        svc.inspect_session_token("garbage", NOW).reason,
        Some("malformed")
    );

    // After rotation the old key still verifies as a previous key; an unrelated key does not.
    let rotated = service_with(|f| {
        f["sts"]["previousSigningKeys"] = json!([KEY_B64]);
        f["sts"]["signingKey"] = json!("YW5vdGhlci1zaWduaW5nLWtleS1vZi0zMi1ieXRlcy1sb25n");
    });
    assert!(rotated.inspect_session_token(&token, NOW).valid);
    let unrelated = service_with(|f| {
        f["sts"]["signingKey"] = json!("YW5vdGhlci1zaWduaW5nLWtleS1vZi0zMi1ieXRlcy1sb25n");
    });
    assert_eq!(
        unrelated.inspect_session_token(&token, NOW).reason,
        Some("unknown-key")
    );
}

#[tokio::test]
async fn dry_run_names_the_failing_step() {
    let svc = service_with(|_| {});
    let allowed = svc
        .explain(&request(Some("arn:aws:iam::role/Reader")), NOW)
        .await;
    assert!(allowed.allowed);
    assert_eq!(allowed.steps.last().map(|s| s.step), Some("trust-policy"));
    assert!(allowed.steps.iter().all(|s| s.ok));

    let denied = svc
        .explain(&request(Some("arn:aws:iam::role/Other")), NOW)
        .await;
    assert_eq!((denied.allowed, denied.code), (false, Some("AccessDenied")));
    let last = denied.steps.last().unwrap();
    assert_eq!((last.step, last.ok), ("trust-policy", false));
    let explained = serde_json::to_string(&last.statements).unwrap();
    assert!(
        explained.contains("oidc:sub") && explained.contains("test-user-id"),
        "{explained}"
    );

    let no_role = svc
        .explain(&request(Some("arn:aws:iam::role/Nope")), NOW)
        .await;
    assert_eq!(
        no_role.steps.last().map(|s| (s.step, s.ok)),
        Some(("role", false))
    );

    let mut expired = request(Some("arn:aws:iam::role/Reader"));
    expired.web_identity_token = "expired_token".into();
    let run = svc.explain(&expired, NOW).await;
    assert_eq!(run.code, Some("ExpiredTokenException"));
    assert!(run.steps.iter().any(|s| !s.ok));
    assert_eq!(svc.active_sessions(NOW), 0, "a dry run mints nothing");
}

/// A GetCallerIdentity request signed as an SDK would, with the given credentials.
fn signed_caller_request(
    ak: &str,
    secret: &str,
    token: &str,
    amz_date: &str,
) -> crate::sigv4::SignedRequest {
    use sha2::{Digest, Sha256};
    let body = "Action=GetCallerIdentity&Version=2011-06-15";
    let mut req = crate::sigv4::SignedRequest {
        method: "POST".into(),
        path: "/".into(),
        query: Vec::new(),
        headers: vec![
            ("host".into(), "127.0.0.1:8090".into()),
            (
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
            ("x-amz-date".into(), amz_date.into()),
            ("x-amz-security-token".into(), token.into()),
        ],
        payload_sha256: hex::encode(Sha256::digest(body.as_bytes())),
    };
    let auth = crate::sigv4::authorization_header(
        &req,
        ak,
        secret,
        "us-east-1",
        "sts",
        &["content-type", "host", "x-amz-date", "x-amz-security-token"],
    )
    .unwrap();
    req.headers.push(("authorization".into(), auth));
    req
}

#[tokio::test]
async fn get_caller_identity_authenticates_with_issued_credentials() {
    let svc = service_with(|f| f["sts"]["accountId"] = json!("123456789012"));
    let out = assume(&svc, request(Some("arn:aws:iam::123456789012:role/Reader")))
        .await
        .unwrap();
    let c = &out.credentials;
    let date = "20260101T000500Z";
    let later = NOW + time::Duration::minutes(5);

    let req = signed_caller_request(
        &c.access_key_id,
        c.secret_access_key.expose(),
        &c.session_token,
        date,
    );
    let who = svc.get_caller_identity(&req, later).unwrap();
    assert_eq!(
        who.arn,
        "arn:aws:sts::123456789012:assumed-role/Reader/alice-session"
    );
    assert_eq!(who.user_id, "Reader:alice-session");
    assert_eq!(who.account, "123456789012");

    let code = |r: Result<_, ServiceError>| r.unwrap_err().aws_code();
    let wrong_secret =
        signed_caller_request(&c.access_key_id, "not-the-secret", &c.session_token, date);
    assert_eq!(
        code(svc.get_caller_identity(&wrong_secret, later)),
        "SignatureDoesNotMatch"
    );
    let wrong_key = signed_caller_request(
        "ASIA0000000000000000",
        c.secret_access_key.expose(),
        &c.session_token,
        date,
    );
    assert_eq!(
        code(svc.get_caller_identity(&wrong_key, later)),
        "InvalidClientTokenId"
    );
    let forged = signed_caller_request(
        &c.access_key_id,
        c.secret_access_key.expose(),
        "forged.token.value",
        date,
    );
    assert_eq!(
        code(svc.get_caller_identity(&forged, later)),
        "InvalidClientTokenId"
    );
    let after_expiry = NOW + time::Duration::hours(2);
    let late = signed_caller_request(
        &c.access_key_id,
        c.secret_access_key.expose(),
        &c.session_token,
        "20260101T020000Z",
    );
    assert_eq!(
        code(svc.get_caller_identity(&late, after_expiry)),
        "ExpiredToken"
    );
    assert_eq!(
        code(svc.get_caller_identity(&req, NOW + time::Duration::minutes(30))),
        "RequestExpired"
    );
    let mut unsigned = req.clone();
    unsigned.headers.retain(|(n, _)| n != "authorization");
    assert_eq!(
        code(svc.get_caller_identity(&unsigned, later)),
        "MissingAuthenticationToken"
    );
}

#[tokio::test]
async fn caller_identity_account_and_arns_agree_and_keep_the_partition() {
    let svc = service_with(|f| f["roles"][0]["roleArn"] = json!("arn:seaweed:iam::role/Reader"));
    let out = assume(&svc, request(Some("arn:seaweed:iam::role/Reader")))
        .await
        .unwrap();
    let c = &out.credentials;
    let req = signed_caller_request(
        &c.access_key_id,
        c.secret_access_key.expose(),
        &c.session_token,
        "20260101T000500Z",
    );
    let who = svc
        .get_caller_identity(&req, NOW + time::Duration::minutes(5))
        .unwrap();
    assert_eq!(who.arn, out.assumed_role_user.arn);
    assert_eq!(
        who.arn,
        "arn:seaweed:sts::assumed-role/Reader/alice-session"
    );
    // No `sts.accountId`: the ARN has no account, and neither has the answer.
    assert_eq!(who.account, "");
}

/// The same generated requests fed to the real call and to the dry run: allowed exactly when the
/// real call issues credentials, and the same AWS code otherwise.
mod dry_run_matches_the_real_call {
    use super::*;
    use proptest::prelude::*;
    use proptest::sample::select;
    use std::sync::OnceLock;

    fn services() -> &'static [StsService] {
        static SERVICES: OnceLock<Vec<StsService>> = OnceLock::new();
        SERVICES.get_or_init(|| {
            vec![
                service_with(|_| {}),
                weka_service(json!("groups")),
                weka_service(json!(true)),
                service_with(|f| f["providers"][0]["config"]["policyClaim"] = json!("groups")),
                service_with(|f| f["roles"][0]["roleArn"] = json!("arn:seaweed:iam::role/Reader")),
            ]
        })
    }

    fn role_arn() -> impl Strategy<Value = Option<String>> {
        prop_oneof![
            Just(None),
            select(vec![
                CLAIM_MODE_ROLE_ARN,
                "arn:seaweed:iam:::role/sts-claim-based",
                "arn:aws:iam::role/Reader",
                "arn:seaweed:iam::role/Reader",
                "arn:aws:iam::role/Other",
                "arn:aws:iam::role/Denied",
                "arn:aws:iam::role/developers",
                "arn:aws:iam::role/users",
            ])
            .prop_map(|a| Some(a.to_owned())),
            "arn:(aws|seaweed):iam::(123456789012)?:?role/[A-Za-z-]{1,12}".prop_map(Some),
        ]
    }

    fn policy() -> impl Strategy<Value = Option<String>> {
        prop_oneof![
            3 => Just(None),
            1 => Just(Some(
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                    "Action": "s3:GetObject", "Resource": "*"}]})
                .to_string()
            )),
            1 => Just(Some(r#"{"Version":"2012-10-17","Statement":"#.to_owned())),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn they_decide_alike(
            svc in 0..5usize,
            role_arn in role_arn(),
            token in select(vec!["valid_test_token", "expired_token", "invalid_token"]),
            session_name in "[A-Za-z0-9+=,.@_-]{2,16}",
            duration in prop::option::of(prop_oneof![900u32..=43_200, 0u32..900, 43_201u32..50_000]),
            policy in policy(),
        ) {
            let raw = RawAssumeRoleParams {
                role_arn,
                role_session_name: Some(session_name),
                web_identity_token: Some(token.to_owned()),
                duration_seconds: duration.map(|d| d.to_string()),
                policy,
            };
            let Ok(req) = AssumeRoleRequest::validate(raw) else {
                // Refused before either runs: nothing to compare.
                return Ok(());
            };
            let svc = &services()[svc];
            let (real, dry) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    let real = assume(svc, req.clone()).await.err().map(|e| e.aws_code());
                    (real, svc.explain(&req, NOW).await)
                });
            prop_assert_eq!(dry.code, real, "{:?}: {:?}", req.role, dry.steps);
            prop_assert_eq!(dry.allowed, real.is_none());
        }
    }
}
