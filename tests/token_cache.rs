//! The verified-token cache against a real OIDC issuer on loopback: a repeated token is served
//! from the cache, and every rejection full verification would give still happens.

mod common;

use std::time::Duration;

use serde_json::{json, Value};

use common::idp::{mock_spec, Family, TestIdp};
use stsd::providers::{Registry, TokenError};

const NOW: i64 = 1_800_000_000;
const SKEW: Duration = Duration::from_secs(60);
const CLIENT: &str = "sts-client";

fn claims(idp: &TestIdp, exp: i64) -> Value {
    json!({
        "iss": idp.issuer(),
        "sub": "system:serviceaccount:apps:builder",
        "aud": CLIENT,
        "exp": exp,
        "iat": NOW - 10,
        "groups": ["ci"],
    })
}

async fn setup() -> (TestIdp, Registry) {
    let idp = TestIdp::start().await;
    let registry = Registry::new(&[idp.provider_spec("corp", &[CLIENT])], SKEW).expect("registry");
    (idp, registry)
}

async fn error_of(registry: &Registry, token: &str, now: i64) -> TokenError {
    match registry.verify(token, now).await {
        Ok(id) => panic!("expected a rejection, got an identity for {}", id.subject),
        Err(e) => e,
    }
}

#[tokio::test]
async fn a_repeated_token_is_answered_from_the_cache() {
    let (idp, registry) = setup().await;
    let token = idp.sign(&claims(&idp, NOW + 600));
    let first = registry.verify(&token, NOW).await.expect("verified");
    assert_eq!(registry.token_cache().entry_count(), 1);
    // Surrounding whitespace is trimmed before hashing, like before verification.
    let again = registry
        .verify(&format!(" {token}\n"), NOW + 5)
        .await
        .expect("cached");
    assert_eq!(again, first);
    assert_eq!(registry.token_cache().entry_count(), 1);
    assert_eq!(idp.jwks_requests(), 1);
}

#[tokio::test]
async fn a_cached_token_is_refused_once_expired() {
    let (idp, registry) = setup().await;
    let exp = NOW + 600;
    let token = idp.sign(&claims(&idp, exp));
    registry.verify(&token, NOW).await.expect("verified");
    // Within the clock skew after exp it is still served; at exp + skew it is expired.
    registry
        .verify(&token, exp + 59)
        .await
        .expect("within skew");
    assert_eq!(
        error_of(&registry, &token, exp + 60).await,
        TokenError::Expired
    );
    assert_eq!(registry.token_cache().entry_count(), 0);
}

#[tokio::test]
async fn a_cached_token_is_refused_when_the_clock_is_before_its_iat() {
    let (idp, registry) = setup().await;
    let token = idp.sign(&claims(&idp, NOW + 600));
    registry.verify(&token, NOW).await.expect("verified");
    // iat is NOW - 10; a caller clock further back than the skew refuses it as full
    // verification would.
    assert_eq!(
        error_of(&registry, &token, NOW - 71).await,
        TokenError::IssuedInFuture
    );
}

#[tokio::test]
async fn a_reload_that_disables_the_provider_refuses_cached_tokens() {
    let (idp, registry) = setup().await;
    let token = idp.sign(&claims(&idp, NOW + 600));
    registry.verify(&token, NOW).await.expect("verified");

    let mut disabled = idp.provider_spec("corp", &[CLIENT]);
    disabled.enabled = false;
    let reloaded = registry.rebuild(&[disabled], SKEW).expect("rebuild");
    assert_eq!(reloaded.token_cache().entry_count(), 0);
    assert_eq!(
        error_of(&reloaded, &token, NOW + 1).await,
        TokenError::ProviderDisabled {
            provider: "corp".into()
        }
    );
}

#[tokio::test]
async fn a_reload_that_narrows_the_audience_refuses_cached_tokens() {
    let (idp, registry) = setup().await;
    let token = idp.sign(&claims(&idp, NOW + 600));
    registry.verify(&token, NOW).await.expect("verified");

    let reloaded = registry
        .rebuild(&[idp.provider_spec("corp", &["another-client"])], SKEW)
        .expect("rebuild");
    assert_eq!(
        error_of(&reloaded, &token, NOW + 1).await,
        TokenError::WrongAudience
    );
}

#[tokio::test]
async fn a_cached_token_is_refused_once_its_key_left_the_jwks() {
    let (idp, registry) = setup().await;
    let old = idp.sign(&claims(&idp, NOW + 7200));
    let old_kid = idp.kid(Family::Rsa);
    registry.verify(&old, NOW).await.expect("verified");

    // Rotation: a token with the new kid makes stsd refetch; the old key is gone from it.
    idp.rotate();
    let new = idp.sign(&claims(&idp, NOW + 7200));
    registry.verify(&new, NOW + 1).await.expect("new key");
    assert_eq!(
        error_of(&registry, &old, NOW + 2).await,
        TokenError::UnknownKey { kid: Some(old_kid) }
    );
    // The token signed with the current key is still served.
    registry.verify(&new, NOW + 3).await.expect("new key again");
}

#[tokio::test]
async fn a_cached_token_is_refused_after_a_ttl_refetch_without_its_key() {
    let (idp, registry) = setup().await;
    let old = idp.sign(&claims(&idp, NOW + 7200));
    registry.verify(&old, NOW).await.expect("verified");
    idp.rotate();
    // Still within the JWKS TTL: the keys stsd holds still carry the old kid.
    registry
        .verify(&old, NOW + 3599)
        .await
        .expect("keys not stale yet");
    // Past the TTL the keys are refetched and the old kid is gone.
    assert!(matches!(
        error_of(&registry, &old, NOW + 3600).await,
        TokenError::UnknownKey { .. }
    ));
}

#[tokio::test]
async fn refused_tokens_are_not_cached() {
    let (idp, registry) = setup().await;
    let mut wrong_aud = claims(&idp, NOW + 600);
    wrong_aud["aud"] = "someone-else".into();
    let token = idp.sign(&wrong_aud);
    for now in [NOW, NOW + 1] {
        assert_eq!(
            error_of(&registry, &token, now).await,
            TokenError::WrongAudience
        );
    }
    let tampered = {
        let good = idp.sign(&claims(&idp, NOW + 600));
        let (rest, sig) = good.rsplit_once('.').expect("three segments");
        let flipped = if sig.starts_with('A') { "B" } else { "A" };
        format!("{rest}.{flipped}{}", &sig[1..])
    };
    assert_eq!(
        error_of(&registry, &tampered, NOW).await,
        TokenError::BadSignature
    );
    assert_eq!(registry.token_cache().entry_count(), 0);
}

#[tokio::test]
async fn the_dry_run_always_verifies_in_full() {
    let (idp, registry) = setup().await;
    let token = idp.sign(&claims(&idp, NOW + 600));
    registry.verify(&token, NOW).await.expect("verified");
    let (result, steps) = registry.verify_explained(&token, NOW + 1).await;
    assert!(result.is_ok());
    let names: Vec<&str> = steps.iter().map(|s| s.step).collect();
    assert!(names.contains(&"signature"), "{names:?}");
    // And a dry run does not fill the cache either.
    let other = idp.sign(&claims(&idp, NOW + 900));
    let (result, _) = registry.verify_explained(&other, NOW).await;
    assert!(result.is_ok());
    assert_eq!(registry.token_cache().entry_count(), 1);
}

#[tokio::test]
async fn mock_fixed_tokens_are_not_cached() {
    let registry =
        Registry::new(&[mock_spec("dev", "https://mock", CLIENT)], SKEW).expect("registry");
    registry
        .verify("valid_test_token", NOW)
        .await
        .expect("mock identity");
    assert_eq!(registry.token_cache().entry_count(), 0);
}
