//! Micro-benchmarks of the pieces every AssumeRoleWithWebIdentity runs: form parsing, token
//! parsing and signature verification, the verified-token cache key, trust-policy evaluation,
//! session-token minting, credential derivation and the XML response.

#[path = "support/tokens.rs"]
mod tokens;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};

use stsd::api::sts::form::Params;
use stsd::api::sts::xml;
use stsd::arn::Partition;
use stsd::config::{OidcSettings, ProviderKind, ProviderSpec};
use stsd::jwks::KeySet;
use stsd::policy::{evaluate, federated_identifiers, ContextKeys, EvalRequest, PolicyDocument};
use stsd::providers::{Jws, JwsAlgorithm, TokenCache, VerifiedIdentity};
use stsd::service::context::trust_context;
use stsd::service::tags::SessionAttributes;
use stsd::service::{
    AssumeRoleOutput, AssumeRoleRequest, AssumedRoleUser, IssuedCredentials, RoleTarget,
};
use stsd::session::{
    derive_credentials, new_session_id, parent_user_id, SecretDerivation, SessionClaims,
    SessionKeys, SigningKey,
};

use tokens::{k8s_claims, Alg, Signer};

const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
const AUDIENCE: &str = "sts.example.com";
const NOW: i64 = 1_800_000_000;

fn signed(alg: Alg) -> (String, KeySet) {
    let signer = Signer::generate(alg);
    let token = signer.sign(&k8s_claims(ISSUER, AUDIENCE, 1, NOW, NOW + 3600));
    let jwks = tokens::jwks(&[&signer]).to_string();
    let keys = KeySet::from_json(jwks.as_bytes(), &JwsAlgorithm::ALL).expect("jwks");
    (token, keys)
}

fn verify(c: &mut Criterion) {
    let mut group = c.benchmark_group("verify");
    for (alg, jws_alg) in [
        (Alg::Rs256, JwsAlgorithm::Rs256),
        (Alg::Es256, JwsAlgorithm::Es256),
    ] {
        let (token, keys) = signed(alg);
        let jws = Jws::parse(&token).expect("parse");
        let key = keys.find(jws.kid(), jws_alg).expect("key");
        group.bench_function(format!("{}_signature", alg.name()), |b| {
            b.iter(|| {
                assert!(key.verify(
                    jws_alg,
                    black_box(jws.signing_input().as_bytes()),
                    jws.signature()
                ))
            })
        });
        group.bench_function(format!("{}_parse", alg.name()), |b| {
            b.iter(|| Jws::parse(black_box(&token)).expect("parse"))
        });
    }
    let (token, _) = signed(Alg::Rs256);
    group.bench_function("cache_key_sha256", |b| {
        b.iter(|| TokenCache::digest(black_box(&token)))
    });
    group.finish();
}

fn provider_spec() -> ProviderSpec {
    ProviderSpec {
        name: "k8s".into(),
        kind: ProviderKind::Kubernetes,
        enabled: true,
        settings: OidcSettings::new(ISSUER, vec![AUDIENCE.into()]),
    }
}

fn identity() -> VerifiedIdentity {
    let claims = k8s_claims(ISSUER, AUDIENCE, 1, NOW, NOW + 3600);
    VerifiedIdentity {
        provider: "k8s".into(),
        issuer: ISSUER.into(),
        subject: "system:serviceaccount:apps:builder".into(),
        audiences: vec![AUDIENCE.into()],
        matched_audience: AUDIENCE.into(),
        expires_at: Some(NOW + 3600),
        claims: tokens::as_map(&claims),
        username: None,
        email: None,
        groups: vec![],
        roles: vec![],
    }
}

/// The trust policy of the usual Kubernetes role: this service account, this audience.
const TRUST_POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{
    "Effect": "Allow",
    "Principal": {"Federated": "k8s"},
    "Action": "sts:AssumeRoleWithWebIdentity",
    "Condition": {
      "StringEquals": {
        "kubernetes.default.svc.cluster.local:aud": "sts.example.com",
        "oidc:kubernetes.io/namespace": "apps"
      },
      "StringLike": {"oidc:sub": "system:serviceaccount:apps:*"}
    }
  }]
}"#;

fn policy(c: &mut Criterion) {
    let doc = PolicyDocument::parse(TRUST_POLICY).expect("policy");
    let spec = provider_spec();
    let identity = identity();
    let request = AssumeRoleRequest {
        role: RoleTarget::Named {
            arn: "arn:aws:iam::role/Builder".into(),
            partition: Partition::Aws,
            name: "Builder".into(),
        },
        role_session_name: "builder-7d9f8c6b5-00001".into(),
        web_identity_token: String::new(),
        duration_seconds: None,
        policy: None,
        source_ip: None,
    };
    let attributes = SessionAttributes::default();
    let federated = federated_identifiers("k8s", ISSUER, None);
    let mut group = c.benchmark_group("policy");
    let keys = doc.context_keys();
    group.bench_function("trust_context", |b| {
        b.iter(|| {
            trust_context(
                &spec,
                black_box(&identity),
                &attributes,
                &request,
                NOW,
                &keys,
            )
        })
    });
    group.bench_function("trust_context_all_keys", |b| {
        b.iter(|| {
            trust_context(
                &spec,
                black_box(&identity),
                &attributes,
                &request,
                NOW,
                &ContextKeys::All,
            )
        })
    });
    let ctx = trust_context(&spec, &identity, &attributes, &request, NOW, &keys);
    group.bench_function("evaluate_trust", |b| {
        b.iter(|| {
            let req = EvalRequest {
                action: "sts:AssumeRoleWithWebIdentity",
                federated: &federated,
                context: black_box(&ctx),
            };
            assert!(evaluate(&doc, &req).is_allowed());
        })
    });
    group.finish();
}

fn session(c: &mut Criterion) {
    let key = SigningKey::from_bytes(b"a-32-byte-signing-key-for-bench!".to_vec()).expect("key");
    let keys = SessionKeys::new("seaweedfs-sts", key.clone(), vec![]);
    let sid = new_session_id();
    let mut claims = SessionClaims::new("seaweedfs-sts", &sid, NOW, NOW + 3600);
    claims.snam = "builder-7d9f8c6b5-00001".into();
    claims.role = "arn:aws:iam::role/Builder".into();
    claims.assumed = "arn:aws:sts::assumed-role/Builder/builder-7d9f8c6b5-00001".into();
    claims.principal = claims.assumed.clone();
    claims.idp = "k8s".into();
    claims.ext_uid = "system:serviceaccount:apps:builder".into();
    claims.prov_iss = ISSUER.into();
    claims.puid = parent_user_id(&claims.ext_uid, ISSUER);
    claims.max_dur = Some(3600);

    let mut group = c.benchmark_group("session");
    group.bench_function("mint", |b| b.iter(|| keys.mint(black_box(&claims))));
    let token = keys.mint(&claims);
    group.bench_function("verify", |b| {
        b.iter(|| keys.verify(black_box(&token), NOW).expect("valid"))
    });
    group.bench_function("new_session_id", |b| b.iter(new_session_id));
    for (name, mode) in [
        ("derive_seaweedfs", SecretDerivation::SeaweedFs),
        ("derive_seaweedfs_legacy", SecretDerivation::SeaweedFsLegacy),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| derive_credentials(black_box(&sid), mode, &key))
        });
    }
    group.finish();
}

fn http(c: &mut Criterion) {
    let (token, _) = signed(Alg::Rs256);
    let body = format!(
        "Action=AssumeRoleWithWebIdentity&Version=2011-06-15\
         &RoleArn=arn%3Aaws%3Aiam%3A%3Arole%2FBuilder&RoleSessionName=builder\
         &DurationSeconds=3600&WebIdentityToken={token}"
    );
    let key = SigningKey::from_bytes(b"a-32-byte-signing-key-for-bench!".to_vec()).expect("key");
    let creds = derive_credentials(&new_session_id(), SecretDerivation::SeaweedFs, &key);
    let output = AssumeRoleOutput {
        credentials: IssuedCredentials {
            access_key_id: creds.access_key_id,
            secret_access_key: creds.secret_access_key,
            // A session token of the usual size.
            session_token: "x".repeat(900),
            expiration: time::OffsetDateTime::from_unix_timestamp(NOW + 3600).expect("time"),
        },
        subject: "system:serviceaccount:apps:builder".into(),
        assumed_role_user: AssumedRoleUser {
            arn: "arn:aws:sts::assumed-role/Builder/builder".into(),
            assumed_role_id: "Builder:builder".into(),
        },
        provider: ISSUER.into(),
        provider_name: "k8s".into(),
        audience: AUDIENCE.into(),
        packed_policy_size: None,
        source_identity: None,
    };
    let mut group = c.benchmark_group("http");
    group.bench_function("form_parse", |b| {
        b.iter(|| Params::parse(b"", black_box(body.as_bytes())).expect("form"))
    });
    group.bench_function("xml_assume_role_response", |b| {
        b.iter(|| {
            xml::assume_role_with_web_identity(
                black_box(&output),
                "c0ffee00-0000-4000-8000-000000000000",
            )
        })
    });
    group.finish();
}

/// The rate-limit checks a request pays: nothing configured, a bucket that admits, one that
/// refuses (the whole cost of a throttled request inside the service), and a new address each time.
fn limits(c: &mut Criterion) {
    use std::net::{IpAddr, Ipv4Addr};
    use stsd::limits::{Rate, RateLimiter, RateLimits};
    use time::OffsetDateTime;

    let mut group = c.benchmark_group("limits");
    let now = OffsetDateTime::from_unix_timestamp(NOW).expect("time");
    let ip = Some(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)));
    let off = RateLimiter::new(&RateLimits::default(), None);
    group.bench_function("off", |b| {
        b.iter(|| off.admit_source(black_box(ip), now).expect("admitted"))
    });
    let generous = Rate::new(1e9, u32::MAX).expect("rate");
    let on = RateLimiter::new(
        &RateLimits {
            per_source_ip: Some(generous),
            per_subject: Some(generous),
            global: Some(generous),
        },
        None,
    );
    group.bench_function("admitted_source_and_global", |b| {
        b.iter(|| on.admit_source(black_box(ip), now).expect("admitted"))
    });
    group.bench_function("admitted_subject", |b| {
        b.iter(|| {
            on.admit_subject("k8s", black_box("system:serviceaccount:apps:builder"), now)
                .expect("admitted")
        })
    });
    let tight = Rate::new(0.001, 1).expect("rate");
    let throttling = RateLimiter::new(
        &RateLimits {
            per_source_ip: Some(tight),
            per_subject: None,
            global: None,
        },
        None,
    );
    let _ = throttling.admit_source(ip, now);
    group.bench_function("throttled", |b| {
        b.iter(|| {
            throttling
                .admit_source(black_box(ip), now)
                .expect_err("throttled")
        })
    });
    let flood = RateLimiter::new(
        &RateLimits {
            per_source_ip: Some(tight),
            per_subject: None,
            global: None,
        },
        None,
    );
    let mut n: u32 = 0;
    group.bench_function("new_address_each_time", |b| {
        b.iter(|| {
            n = n.wrapping_add(1);
            let _ = flood.admit_source(Some(IpAddr::V4(Ipv4Addr::from(n))), now);
        })
    });
    group.finish();
}

fn config() -> Criterion {
    // Short runs: these are for spotting regressions and relative costs, not publication.
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = verify, policy, session, http, limits
}
criterion_main!(benches);
