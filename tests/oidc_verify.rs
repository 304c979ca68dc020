//! Web identity token verification against a real OIDC issuer on loopback: every accepted
//! algorithm family and every rejection path, with a pinned clock.

mod common;

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

use common::idp::{compact, mock_spec, Family, TestIdp};
use stsd::config::ClaimsMapping;
use stsd::providers::{Jws, JwsAlgorithm, Registry, Trace};

const NOW: i64 = 1_800_000_000;
const SKEW: Duration = Duration::from_secs(60);
const CLIENT: &str = "sts-client";

fn claims(idp: &TestIdp) -> Value {
    json!({
        "iss": idp.issuer(),
        "sub": "system:serviceaccount:apps:builder",
        "aud": CLIENT,
        "exp": NOW + 600,
        "iat": NOW - 10,
        "nbf": NOW - 10,
        "preferred_username": "builder",
        "email": "builder@example.com",
        "groups": ["ci", "developers"],
    })
}

fn with(mut base: Value, changes: Value) -> Value {
    for (k, v) in changes.as_object().expect("object") {
        if v.is_null() {
            base.as_object_mut().expect("object").remove(k);
        } else {
            base[k] = v.clone();
        }
    }
    base
}

async fn setup() -> (TestIdp, Registry) {
    let idp = TestIdp::start().await;
    let registry = Registry::new(
        &[idp.provider_spec("corp", &[CLIENT, "other-client"])],
        SKEW,
    )
    .expect("registry");
    (idp, registry)
}

async fn kind_of(registry: &Registry, token: &str) -> &'static str {
    match registry.verify(token, NOW).await {
        Ok(id) => panic!("expected a rejection, got an identity for {}", id.subject),
        Err(e) => e.kind(),
    }
}

#[tokio::test]
async fn every_algorithm_family_verifies() {
    let (idp, registry) = setup().await;
    for alg in [
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "EdDSA",
    ] {
        let family = Family::for_alg(alg).expect("family");
        let token = idp.sign_with(alg, Some(&idp.kid(family)), &claims(&idp));
        let id = registry
            .verify(&token, NOW)
            .await
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(id.provider, "corp");
        assert_eq!(id.issuer, idp.issuer());
        assert_eq!(id.subject, "system:serviceaccount:apps:builder");
        assert_eq!(id.matched_audience, CLIENT);
        assert_eq!(id.audiences, vec![CLIENT]);
        assert_eq!(id.expires_at, Some(NOW + 600));
        assert_eq!(id.username.as_deref(), Some("builder"));
        assert_eq!(id.email.as_deref(), Some("builder@example.com"));
        assert_eq!(id.groups, vec!["ci", "developers"]);
        assert_eq!(id.claims["iat"], json!(NOW - 10));
    }
    // One discovery and one JWKS download served all of them.
    assert_eq!(idp.discovery_requests(), 1);
    assert_eq!(idp.jwks_requests(), 1);
}

#[tokio::test]
async fn token_file_whitespace_is_ignored() {
    let (idp, registry) = setup().await;
    let token = format!("{}\n", idp.sign(&claims(&idp)));
    assert!(registry.verify(&token, NOW).await.is_ok());
}

#[tokio::test]
async fn kidless_token_uses_the_only_key_of_its_type() {
    let (idp, registry) = setup().await;
    let token = idp.sign_with("ES256", None, &claims(&idp));
    assert!(registry.verify(&token, NOW).await.is_ok());
}

#[tokio::test]
async fn alg_none_is_refused() {
    let (idp, registry) = setup().await;
    let body = claims(&idp).to_string();
    let token = compact(r#"{"alg":"none","typ":"JWT"}"#, &body, |_| Vec::new());
    assert_eq!(kind_of(&registry, &token).await, "algorithm-not-allowed");
    let with_kid = compact(
        &json!({"alg": "none", "kid": idp.kid(Family::Rsa)}).to_string(),
        &body,
        |_| Vec::new(),
    );
    assert_eq!(kind_of(&registry, &with_kid).await, "algorithm-not-allowed");
}

#[tokio::test]
async fn hs256_keyed_with_the_rsa_public_key_is_refused() {
    let (idp, registry) = setup().await;
    let kid = idp.kid(Family::Rsa);
    let pem = idp.rsa_public_pem();
    let token = idp.sign_hs256(&pem, Some(&kid), &claims(&idp));
    assert_eq!(kind_of(&registry, &token).await, "algorithm-not-allowed");
    let jwk_bytes = serde_json::to_vec(&idp.jwks()["keys"][0]).expect("jwk");
    let token = idp.sign_hs256(&jwk_bytes, Some(&kid), &claims(&idp));
    assert_eq!(kind_of(&registry, &token).await, "algorithm-not-allowed");
}

#[tokio::test]
async fn algorithm_outside_the_allow_list_is_refused() {
    let idp = TestIdp::start().await;
    let mut spec = idp.provider_spec("corp", &[CLIENT]);
    spec.settings.allowed_algorithms = vec![JwsAlgorithm::Rs256];
    let registry = Registry::new(&[spec], SKEW).expect("registry");
    let es = idp.sign_with("ES256", Some(&idp.kid(Family::Ec)), &claims(&idp));
    assert_eq!(kind_of(&registry, &es).await, "algorithm-not-allowed");
    let ps = idp.sign_with("PS256", Some(&idp.kid(Family::Rsa)), &claims(&idp));
    assert_eq!(kind_of(&registry, &ps).await, "algorithm-not-allowed");
    assert!(registry.verify(&idp.sign(&claims(&idp)), NOW).await.is_ok());
    // Nothing was fetched for the refused tokens before the accepted one.
    assert_eq!(idp.jwks_requests(), 1);
}

#[tokio::test]
async fn algorithm_that_does_not_fit_the_key_type_is_refused() {
    let (idp, registry) = setup().await;
    // Signed with the EC key, but the header names the RSA key.
    let token = idp.sign_with("ES256", Some(&idp.kid(Family::Rsa)), &claims(&idp));
    assert_eq!(kind_of(&registry, &token).await, "key-type-mismatch");
    // RS256 naming the Ed25519 key.
    let token = idp.sign_with("RS256", Some(&idp.kid(Family::Ed)), &claims(&idp));
    assert_eq!(kind_of(&registry, &token).await, "key-type-mismatch");
}

#[tokio::test]
async fn wrong_issuer_is_refused_by_the_provider() {
    let (idp, registry) = setup().await;
    let token = idp.sign(&with(
        claims(&idp),
        json!({"iss": "https://elsewhere.example.com"}),
    ));
    // Through the registry, an unconfigured iss has no provider at all.
    assert_eq!(kind_of(&registry, &token).await, "unknown-issuer");
    // Handed straight to the provider, the signature is fine but the issuer is not.
    let jws = Jws::parse(&token).expect("parses");
    let provider = registry.provider("corp").expect("provider");
    let err = provider
        .verify(&jws, NOW, 60, &mut Trace::silent())
        .await
        .expect_err("wrong issuer");
    assert_eq!(err.kind(), "wrong-issuer");
    // A trailing slash is a different issuer.
    let slash = idp.sign(&with(
        claims(&idp),
        json!({"iss": format!("{}/", idp.issuer())}),
    ));
    assert_eq!(kind_of(&registry, &slash).await, "unknown-issuer");
}

#[tokio::test]
async fn unknown_issuer_and_missing_iss_are_refused() {
    let (idp, registry) = setup().await;
    let token = idp.sign(&with(claims(&idp), json!({"iss": null})));
    assert_eq!(kind_of(&registry, &token).await, "unknown-issuer");
    let token = idp.sign(&with(claims(&idp), json!({"iss": 17})));
    assert_eq!(kind_of(&registry, &token).await, "unknown-issuer");
    assert_eq!(idp.jwks_requests(), 0);
}

#[tokio::test]
async fn disabled_provider_is_refused_without_fetching_keys() {
    let idp = TestIdp::start().await;
    let mut spec = idp.provider_spec("corp", &[CLIENT]);
    spec.enabled = false;
    let registry = Registry::new(&[spec], SKEW).expect("registry");
    assert_eq!(
        kind_of(&registry, &idp.sign(&claims(&idp))).await,
        "provider-disabled"
    );
    assert_eq!(idp.jwks_requests() + idp.discovery_requests(), 0);
}

#[tokio::test]
async fn audience_rules() {
    let (idp, registry) = setup().await;
    let wrong = idp.sign(&with(claims(&idp), json!({"aud": "someone-else"})));
    assert_eq!(kind_of(&registry, &wrong).await, "wrong-audience");
    let missing = idp.sign(&with(claims(&idp), json!({"aud": null})));
    assert_eq!(kind_of(&registry, &missing).await, "wrong-audience");

    let array = idp.sign(&with(
        claims(&idp),
        json!({"aud": ["https://kubernetes.default.svc", "other-client"]}),
    ));
    let id = registry.verify(&array, NOW).await.expect("array aud");
    assert_eq!(id.matched_audience, "other-client");
    assert_eq!(id.audiences.len(), 2);

    // azp names the client the token was issued to; with another `aud` the token was meant for
    // another service, and is accepted only when the provider opts in.
    let azp = idp.sign(&with(
        claims(&idp),
        json!({"aud": "account", "azp": CLIENT}),
    ));
    assert_eq!(kind_of(&registry, &azp).await, "wrong-audience");
    let mut spec = idp.provider_spec("corp", &[CLIENT, "other-client"]);
    spec.settings.accept_azp_as_audience = true;
    let opted_in = Registry::new(&[spec], SKEW).expect("registry");
    let id = opted_in.verify(&azp, NOW).await.expect("azp");
    assert_eq!(id.matched_audience, CLIENT);
    assert_eq!(id.audiences, vec!["account"]);
    let azp_only = idp.sign(&with(claims(&idp), json!({"aud": null, "azp": CLIENT})));
    let id = registry
        .verify(&azp_only, NOW)
        .await
        .expect("azp without aud");
    assert_eq!(id.matched_audience, CLIENT);

    let azp_wrong = idp.sign(&with(
        claims(&idp),
        json!({"aud": "account", "azp": "nobody"}),
    ));
    assert_eq!(kind_of(&registry, &azp_wrong).await, "wrong-audience");

    let object = idp.sign(&with(claims(&idp), json!({"aud": {"client": CLIENT}})));
    assert_eq!(kind_of(&registry, &object).await, "invalid-claim");
}

#[tokio::test]
async fn expiry_with_clock_skew() {
    let (idp, registry) = setup().await;
    let within = idp.sign(&with(claims(&idp), json!({"exp": NOW - 30})));
    assert!(
        registry.verify(&within, NOW).await.is_ok(),
        "expired 30 s ago, 60 s skew"
    );
    let beyond = idp.sign(&with(claims(&idp), json!({"exp": NOW - 61})));
    assert_eq!(kind_of(&registry, &beyond).await, "expired");
    let no_exp = idp.sign(&with(claims(&idp), json!({"exp": null})));
    assert_eq!(kind_of(&registry, &no_exp).await, "missing-claim");
    let string_exp = idp.sign(&with(claims(&idp), json!({"exp": (NOW + 600).to_string()})));
    assert_eq!(kind_of(&registry, &string_exp).await, "invalid-claim");

    let strict =
        Registry::new(&[idp.provider_spec("corp", &[CLIENT])], Duration::ZERO).expect("registry");
    assert_eq!(kind_of(&strict, &within).await, "expired");
}

#[tokio::test]
async fn not_before_and_issued_at_in_the_future() {
    let (idp, registry) = setup().await;
    let nbf = idp.sign(&with(claims(&idp), json!({"nbf": NOW + 120})));
    assert_eq!(kind_of(&registry, &nbf).await, "not-yet-valid");
    let nbf_ok = idp.sign(&with(claims(&idp), json!({"nbf": NOW + 50})));
    assert!(registry.verify(&nbf_ok, NOW).await.is_ok());
    let iat = idp.sign(&with(claims(&idp), json!({"iat": NOW + 120})));
    assert_eq!(kind_of(&registry, &iat).await, "issued-in-future");
    let iat_ok = idp.sign(&with(claims(&idp), json!({"iat": NOW + 50})));
    assert!(registry.verify(&iat_ok, NOW).await.is_ok());
}

#[tokio::test]
async fn subject_must_be_a_string() {
    let (idp, registry) = setup().await;
    let numeric = idp.sign(&with(claims(&idp), json!({"sub": 1234})));
    assert_eq!(kind_of(&registry, &numeric).await, "invalid-claim");
    let object = idp.sign(&with(claims(&idp), json!({"sub": {"id": "x"}})));
    assert_eq!(kind_of(&registry, &object).await, "invalid-claim");
    let missing = idp.sign(&with(claims(&idp), json!({"sub": null})));
    assert_eq!(kind_of(&registry, &missing).await, "missing-claim");
}

#[tokio::test]
async fn tampered_payload_fails_the_signature() {
    let (idp, registry) = setup().await;
    let token = idp.sign(&claims(&idp));
    let parts: Vec<&str> = token.split('.').collect();
    let forged = with(claims(&idp), json!({"sub": "admin"})).to_string();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(forged),
        parts[2]
    );
    assert_eq!(kind_of(&registry, &tampered).await, "bad-signature");
    // A signature from another key of the same type.
    let other = TestIdp::start().await;
    let foreign = other.sign_with("RS256", Some(&idp.kid(Family::Rsa)), &claims(&idp));
    assert_eq!(kind_of(&registry, &foreign).await, "bad-signature");
    // Truncated signature.
    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).expect("signature");
    sig.truncate(200);
    let cut = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(sig));
    assert_eq!(kind_of(&registry, &cut).await, "bad-signature");
}

#[tokio::test]
async fn oversize_garbage_and_duplicate_keys_are_malformed() {
    let (idp, registry) = setup().await;
    let big = idp.sign(&with(claims(&idp), json!({"pad": "x".repeat(20_000)})));
    assert_eq!(kind_of(&registry, &big).await, "too-large");
    for garbage in [
        "",
        "garbage",
        "a.b",
        "a.b.c.d",
        "....",
        "eyJ.eyJ.sig",
        "valid_test_token",
    ] {
        assert_eq!(kind_of(&registry, garbage).await, "malformed", "{garbage}");
    }
    let kid = idp.kid(Family::Rsa);
    let dup_header = idp.sign_raw(
        &format!(r#"{{"alg":"RS256","kid":"{kid}","alg":"none"}}"#),
        &claims(&idp).to_string(),
        "RS256",
    );
    assert_eq!(kind_of(&registry, &dup_header).await, "malformed");
    let dup_claims = idp.sign_raw(
        &format!(r#"{{"alg":"RS256","kid":"{kid}"}}"#),
        &format!(
            r#"{{"iss":"{}","aud":"{CLIENT}","exp":{},"sub":"a","sub":"admin"}}"#,
            idp.issuer(),
            NOW + 60
        ),
        "RS256",
    );
    assert_eq!(kind_of(&registry, &dup_claims).await, "malformed");
    assert_eq!(idp.jwks_requests(), 0, "shape errors never reach the IdP");
}

#[tokio::test]
async fn claims_mapping_is_applied() {
    let idp = TestIdp::start().await;
    let mut spec = idp.provider_spec("corp", &[CLIENT]);
    spec.settings.claims_mapping = ClaimsMapping {
        username_claim: Some("upn".into()),
        groups_claim: Some("teams".into()),
        email_claim: Some("mail".into()),
        roles_claim: Some("app_roles".into()),
    };
    let registry = Registry::new(&[spec], SKEW).expect("registry");
    let token = idp.sign(&with(
        claims(&idp),
        json!({"upn": "ann@corp", "teams": "platform", "mail": "ann@corp.example", "app_roles": ["admin"]}),
    ));
    let id = registry.verify(&token, NOW).await.expect("verifies");
    assert_eq!(id.username.as_deref(), Some("ann@corp"));
    assert_eq!(id.groups, vec!["platform"]);
    assert_eq!(id.email.as_deref(), Some("ann@corp.example"));
    assert_eq!(id.roles, vec!["admin"]);
}

#[tokio::test]
async fn mock_provider_tokens() {
    let idp = TestIdp::start().await;
    let registry = Registry::new(
        &[
            mock_spec("dev", "https://mock.stsd.local", "mock-client"),
            idp.provider_spec("corp", &[CLIENT]),
        ],
        SKEW,
    )
    .expect("registry");
    for token in ["valid_test_token", "valid-oidc-token", "valid_test_token\n"] {
        let id = registry.verify(token, NOW).await.expect("mock token");
        assert_eq!(id.provider, "dev");
        assert_eq!(id.subject, "test-user-id");
        assert_eq!(id.groups, vec!["developers", "users"]);
        assert_eq!(id.email.as_deref(), Some("test@example.com"));
        assert_eq!(id.issuer, "https://mock.stsd.local");
        assert_eq!(id.matched_audience, "mock-client");
        assert_eq!(id.expires_at, Some(NOW + 3600));
    }
    assert_eq!(kind_of(&registry, "expired_token").await, "expired");
    assert_eq!(kind_of(&registry, "invalid_token").await, "malformed");
    assert_eq!(kind_of(&registry, "anything-else").await, "malformed");
    // A real JWT naming the mock issuer is not trusted.
    let jwt = idp.sign(&with(
        claims(&idp),
        json!({"iss": "https://mock.stsd.local"}),
    ));
    assert_eq!(kind_of(&registry, &jwt).await, "malformed");
    // The OIDC provider still works beside it.
    assert!(registry.verify(&idp.sign(&claims(&idp)), NOW).await.is_ok());

    let mut disabled = mock_spec("dev", "https://mock.stsd.local", "mock-client");
    disabled.enabled = false;
    let registry = Registry::new(&[disabled], SKEW).expect("registry");
    assert_eq!(
        kind_of(&registry, "valid_test_token").await,
        "provider-disabled"
    );
}

#[tokio::test]
async fn explained_verification_reports_each_step_without_the_token() {
    let (idp, registry) = setup().await;
    let token = idp.sign(&claims(&idp));
    let signature = token.rsplit('.').next().expect("signature").to_owned();
    let (result, steps) = registry.verify_explained(&token, NOW).await;
    assert!(result.is_ok());
    let names: Vec<_> = steps.iter().map(|s| s.step).collect();
    assert_eq!(
        names,
        [
            "size",
            "segments",
            "provider",
            "algorithm",
            "key",
            "signature",
            "issuer",
            "audience",
            "expiry",
            "subject",
            "claim-names"
        ]
    );
    assert!(steps.iter().all(|s| s.ok));
    assert!(steps[4].detail.contains(&idp.kid(Family::Rsa)));
    assert!(steps[7].detail.contains(CLIENT));

    let expired = idp.sign(&with(claims(&idp), json!({"exp": NOW - 3600})));
    let (result, steps) = registry.verify_explained(&expired, NOW).await;
    assert_eq!(result.map_err(|e| e.kind()).err(), Some("expired"));
    let last = steps.last().expect("steps");
    assert_eq!((last.step, last.ok), ("expiry", false));
    assert!(last.detail.contains(&(NOW - 3600).to_string()) || last.detail.contains("expired"));
    for s in &steps {
        assert!(!s.detail.contains(&expired), "token leaked in {}", s.step);
        assert!(
            !s.detail.contains(&signature),
            "signature leaked in {}",
            s.step
        );
        assert!(!s.detail.contains(expired.rsplit('.').next().expect("sig")));
    }

    let (_, steps) = registry.verify_explained("garbage", NOW).await;
    assert_eq!(
        steps.last().map(|s| (s.step, s.ok)),
        Some(("segments", false))
    );
}

#[tokio::test]
async fn error_messages_never_echo_the_token() {
    let (idp, registry) = setup().await;
    let tokens = [
        idp.sign(&with(claims(&idp), json!({"aud": "x"}))),
        idp.sign(&with(claims(&idp), json!({"iss": "https://nope"}))),
        idp.sign_with("RS256", Some("unknown-kid"), &claims(&idp)),
    ];
    for token in &tokens {
        let err = registry.verify(token, NOW).await.expect_err("refused");
        let text = format!("{err} {err:?}");
        for part in token.split('.') {
            assert!(!text.contains(part), "{text}");
        }
    }
}
