//! JWKS retrieval against a real OIDC issuer on loopback: discovery, caching, unknown-kid
//! refetch and its rate limit, stale-if-error, bearer tokens, single flight and reloads.

mod common;

use std::time::Duration;

use serde_json::{json, Value};

use common::clock::now;
use common::idp::{Family, TestIdp};
use stsd::config::{ProviderKind, ProviderSpec};
use stsd::providers::Registry;

const NOW: i64 = 1_800_000_000;
const SKEW: Duration = Duration::from_secs(60);
const CLIENT: &str = "sts-client";

/// Claims valid for an hour around `now`.
fn claims_at(idp: &TestIdp, now: i64) -> Value {
    json!({ "iss": idp.issuer(), "sub": "user-1", "aud": CLIENT, "exp": now + 3600, "iat": now - 5 })
}

fn spec(idp: &TestIdp) -> ProviderSpec {
    idp.provider_spec("corp", &[CLIENT])
}

fn registry(spec: ProviderSpec) -> Registry {
    Registry::new(&[spec], SKEW).expect("registry")
}

async fn kind_at(registry: &Registry, token: &str, now: i64) -> &'static str {
    match registry.verify(token, now).await {
        Ok(_) => panic!("expected a rejection"),
        Err(e) => e.kind(),
    }
}

#[tokio::test]
async fn discovery_then_cache_hits() {
    let idp = TestIdp::start().await;
    let registry = registry(spec(&idp));
    assert_eq!(idp.jwks_requests(), 0, "nothing is fetched before use");
    registry
        .verify(&idp.sign(&claims_at(&idp, NOW)), NOW)
        .await
        .expect("first");
    assert_eq!((idp.discovery_requests(), idp.jwks_requests()), (1, 1));
    let second = idp.sign_with("ES256", Some(&idp.kid(Family::Ec)), &claims_at(&idp, NOW));
    registry.verify(&second, NOW + 100).await.expect("second");
    assert_eq!(
        (idp.discovery_requests(), idp.jwks_requests()),
        (1, 1),
        "served from the cache"
    );

    let status = registry.list().remove(0).jwks.expect("status");
    assert_eq!(status.keys, 3);
    assert_eq!(status.kids, vec!["rsa-1", "ec-1", "ed-1"]);
    assert!(status.algorithms.contains(&"EdDSA") && status.algorithms.contains(&"PS256"));
    assert_eq!(status.fetched_at, Some(NOW));
    assert_eq!(status.next_refresh, Some(NOW + 3600));
    assert_eq!(status.jwks_uri, Some(idp.jwks_uri()));
    assert_eq!(status.last_error, None);
}

#[tokio::test]
async fn configured_jwks_uri_skips_discovery() {
    let idp = TestIdp::start().await;
    let mut spec = spec(&idp);
    spec.settings.jwks_uri = Some(idp.jwks_uri());
    // Discovery would name another issuer; it must not be consulted at all.
    idp.set_discovery_issuer(Some("https://impostor.example.com"));
    let registry = registry(spec);
    registry
        .verify(&idp.sign(&claims_at(&idp, NOW)), NOW)
        .await
        .expect("verifies");
    assert_eq!((idp.discovery_requests(), idp.jwks_requests()), (0, 1));
}

#[tokio::test]
async fn discovery_naming_another_issuer_is_refused() {
    let idp = TestIdp::start().await;
    idp.set_discovery_issuer(Some("https://impostor.example.com"));
    let registry = registry(spec(&idp));
    let token = idp.sign(&claims_at(&idp, NOW));
    assert_eq!(kind_at(&registry, &token, NOW).await, "idp-unavailable");
    assert_eq!(idp.jwks_requests(), 0);
    let status = registry.list().remove(0).jwks.expect("status");
    assert!(status.last_error.expect("error").contains("impostor"));
}

#[tokio::test]
async fn ttl_expiry_refetches() {
    let idp = TestIdp::start().await;
    let registry = registry(spec(&idp));
    registry
        .verify(&idp.sign(&claims_at(&idp, NOW)), NOW)
        .await
        .expect("first");
    let later = NOW + 3600;
    registry
        .verify(&idp.sign(&claims_at(&idp, later)), later)
        .await
        .expect("after ttl");
    assert_eq!(idp.jwks_requests(), 2);
    // The discovered JWKS URI is remembered.
    assert_eq!(idp.discovery_requests(), 1);
}

#[tokio::test]
async fn unknown_kid_refetches_once_per_interval() {
    let idp = TestIdp::start().await;
    let registry = registry(spec(&idp));
    registry
        .verify(&idp.sign(&claims_at(&idp, NOW)), NOW)
        .await
        .expect("first");
    assert_eq!(idp.jwks_requests(), 1);

    // The IdP rotates: the new kid is unknown to the cache, one refetch finds it.
    idp.rotate();
    let rotated = idp.sign(&claims_at(&idp, NOW));
    let id = registry
        .verify(&rotated, NOW + 1)
        .await
        .expect("after rotation");
    assert_eq!(id.subject, "user-1");
    assert_eq!(idp.jwks_requests(), 2);

    // A kid nobody publishes: no second refetch within 30 s of the last one.
    let bogus = idp.sign_with("RS256", Some("no-such-kid"), &claims_at(&idp, NOW));
    for t in [NOW + 2, NOW + 10, NOW + 30] {
        assert_eq!(kind_at(&registry, &bogus, t).await, "unknown-key");
    }
    assert_eq!(idp.jwks_requests(), 2, "rate-limited");
    // 30 s after the last refetch, one more is allowed; the kid is still unknown afterwards.
    assert_eq!(kind_at(&registry, &bogus, NOW + 31).await, "unknown-key");
    assert_eq!(idp.jwks_requests(), 3);
    assert_eq!(kind_at(&registry, &bogus, NOW + 40).await, "unknown-key");
    assert_eq!(idp.jwks_requests(), 3);

    let (_, steps) = registry.verify_explained(&bogus, NOW + 45).await;
    let key = steps.last().expect("steps");
    assert_eq!((key.step, key.ok), ("key", false));
    assert!(key.detail.contains("rate-limited"), "{}", key.detail);
}

#[tokio::test]
async fn refresh_failure_keeps_the_last_good_keys() {
    let idp = TestIdp::start().await;
    let registry = registry(spec(&idp));
    registry
        .verify(&idp.sign(&claims_at(&idp, NOW)), NOW)
        .await
        .expect("first");
    idp.set_down(true);
    let later = NOW + 3600 + 5;
    let id = registry
        .verify(&idp.sign(&claims_at(&idp, later)), later)
        .await
        .expect("stale keys still verify");
    assert_eq!(id.subject, "user-1");
    assert_eq!(idp.jwks_requests(), 2, "the refresh was attempted");
    let status = registry.list().remove(0).jwks.expect("status");
    assert_eq!(status.keys, 3);
    assert_eq!(status.fetched_at, Some(NOW));
    assert_eq!(status.last_error_at, Some(later));
    assert!(status.last_error.expect("error").contains("503"));
    assert_eq!((status.fetches_ok, status.fetches_failed), (1, 1));

    // Back-off: the next request inside 30 s does not hit the IdP again.
    registry
        .verify(&idp.sign(&claims_at(&idp, later)), later + 10)
        .await
        .expect("stale keys");
    assert_eq!(idp.jwks_requests(), 2);

    // Once the IdP is back, the next attempt after the back-off refreshes.
    idp.set_down(false);
    registry
        .verify(&idp.sign(&claims_at(&idp, later)), later + 30)
        .await
        .expect("fresh keys");
    assert_eq!(idp.jwks_requests(), 3);
    let status = registry.list().remove(0).jwks.expect("status");
    assert_eq!(status.fetched_at, Some(later + 30));
}

#[tokio::test]
async fn idp_down_without_cached_keys_is_unavailable() {
    let idp = TestIdp::start().await;
    idp.set_down(true);
    let registry = registry(spec(&idp));
    let token = idp.sign(&claims_at(&idp, NOW));
    assert_eq!(kind_at(&registry, &token, NOW).await, "idp-unavailable");
    let err = registry.verify(&token, NOW + 1).await.expect_err("down");
    assert!(!err.to_string().contains(&token));

    // Nothing listens on the port at all.
    let issuer = idp.issuer().to_owned();
    let token = idp.sign(&claims_at(&idp, NOW));
    drop(idp);
    let mut spec = common::idp::oidc_spec("corp", &issuer, &[CLIENT]);
    spec.settings.http_timeout = Duration::from_secs(2);
    let registry = Registry::new(&[spec], SKEW).expect("registry");
    assert_eq!(kind_at(&registry, &token, NOW).await, "idp-unavailable");
}

#[tokio::test]
async fn bearer_token_is_required_and_read_on_every_fetch() {
    let idp = TestIdp::start().await;
    idp.require_bearer(Some("sa-token-1"));
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "sa-token-1\n").expect("write");

    // Without the file configured, the IdP refuses and there are no keys.
    let anonymous = registry(spec(&idp));
    let token = idp.sign(&claims_at(&idp, NOW));
    assert_eq!(kind_at(&anonymous, &token, NOW).await, "idp-unavailable");
    assert_eq!(idp.authorizations(), vec![None]);

    let mut with_bearer = spec(&idp);
    with_bearer.settings.bearer_token_file = Some(token_file.clone());
    let registry = registry(with_bearer);
    registry
        .verify(&token, NOW)
        .await
        .expect("verifies with bearer");
    let seen = idp.authorizations();
    assert_eq!(
        &seen[1..],
        &[
            Some("Bearer sa-token-1".to_owned()),
            Some("Bearer sa-token-1".to_owned())
        ]
    );

    // The kubelet rotates the token; the next fetch sends the new one.
    std::fs::write(&token_file, "sa-token-2").expect("write");
    idp.require_bearer(Some("sa-token-2"));
    idp.rotate();
    registry
        .verify(&idp.sign(&claims_at(&idp, NOW)), NOW + 1)
        .await
        .expect("refetch with the rotated bearer");
    assert_eq!(
        idp.authorizations().last(),
        Some(&Some("Bearer sa-token-2".to_owned()))
    );

    // The bearer token never shows in the operator listing.
    let listing = serde_json::to_string(&registry.list()).expect("json");
    assert!(!listing.contains("sa-token"), "{listing}");
}

#[tokio::test]
async fn concurrent_misses_share_one_fetch() {
    let idp = TestIdp::start().await;
    idp.set_delay(Duration::from_millis(300));
    let registry = registry(spec(&idp));
    let token = idp.sign(&claims_at(&idp, NOW));
    let results = futures_join_all((0..12).map(|_| registry.verify(&token, NOW))).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!((idp.discovery_requests(), idp.jwks_requests()), (1, 1));

    // Same for an unknown kid after a rotation: one refetch serves every waiter.
    idp.rotate();
    let rotated = idp.sign(&claims_at(&idp, NOW));
    let results = futures_join_all((0..12).map(|_| registry.verify(&rotated, NOW + 1))).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(idp.jwks_requests(), 2);
}

/// Polls every future on the current task so they really overlap.
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut outputs: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (fut, out) in set.iter_mut().zip(outputs.iter_mut()) {
            if out.is_none() {
                match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *out = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(|o| o.expect("completed")).collect()
}

#[tokio::test]
async fn reload_keeps_caches_of_unchanged_providers() {
    let idp = TestIdp::start().await;
    let other = TestIdp::start().await;
    let specs = vec![spec(&idp), other.provider_spec("other", &[CLIENT])];
    let first = Registry::new(&specs, SKEW).expect("registry");
    first
        .verify(&idp.sign(&claims_at(&idp, NOW)), NOW)
        .await
        .expect("corp");
    first
        .verify(&other.sign(&claims_at(&other, NOW)), NOW)
        .await
        .expect("other");

    // "corp" changes only its audiences (keys kept); "other" changes its TTL (keys dropped).
    let mut changed = specs.clone();
    changed[0].settings.client_ids.push("new-client".into());
    changed[1].settings.jwks_cache_ttl = Duration::from_secs(600);
    let second = first.rebuild(&changed, SKEW).expect("rebuild");
    let token = idp.sign(&json!({
        "iss": idp.issuer(), "sub": "u", "aud": "new-client", "exp": NOW + 60
    }));
    second
        .verify(&token, NOW + 1)
        .await
        .expect("new audience, cached keys");
    second
        .verify(&other.sign(&claims_at(&other, NOW)), NOW + 1)
        .await
        .expect("other");
    assert_eq!(idp.jwks_requests(), 1);
    assert_eq!(other.jwks_requests(), 2);
}

#[tokio::test]
async fn start_prefetches_in_the_background() {
    let idp = TestIdp::start().await;
    let mut disabled = idp.provider_spec("off", &[CLIENT]);
    disabled.enabled = false;
    disabled.settings.issuer = "https://disabled.example.com".into();
    let registry = Registry::new(&[spec(&idp), disabled], SKEW).expect("registry");
    idp.pause();
    registry.start();
    // start() returned although the IdP has not answered.
    assert_eq!(
        registry.list()[0].jwks.as_ref().map(|s| s.fetches_ok),
        Some(0)
    );
    idp.resume();
    for _ in 0..100 {
        if registry.list()[0].jwks.as_ref().is_some_and(|s| s.keys > 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(idp.jwks_requests(), 1);
    let now = now();
    registry
        .verify(&idp.sign(&claims_at(&idp, now)), now)
        .await
        .expect("prefetched keys");
    assert_eq!(idp.jwks_requests(), 1);
    // The disabled provider was not prefetched.
    assert_eq!(
        registry.list()[1]
            .jwks
            .as_ref()
            .map(|s| s.fetches_ok + s.fetches_failed),
        Some(0)
    );
}

#[tokio::test]
async fn encryption_keys_and_junk_in_the_jwks_are_skipped() {
    let idp = TestIdp::start().await;
    idp.publish_extra(
        json!({"kty": "RSA", "kid": "enc-1", "use": "enc", "n": "AQAB", "e": "AQAB"}),
    );
    idp.publish_extra(json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}));
    idp.publish_extra(json!({"kty": "EC", "kid": "bad-ec", "crv": "P-256", "x": "!!", "y": "AA"}));
    let registry = registry(spec(&idp));
    registry
        .verify(&idp.sign(&claims_at(&idp, NOW)), NOW)
        .await
        .expect("verifies");
    let status = registry.list().remove(0).jwks.expect("status");
    assert_eq!(status.keys, 3);
    assert_eq!(status.skipped.len(), 3, "{:?}", status.skipped);
    // A token naming the skipped encryption key finds no key.
    let token = idp.sign_with("RS256", Some("enc-1"), &claims_at(&idp, NOW));
    assert_eq!(kind_at(&registry, &token, NOW).await, "unknown-key");
}

#[tokio::test]
async fn listing_shows_no_secrets() {
    let idp = TestIdp::start().await;
    let mut spec = spec(&idp);
    spec.settings.client_secret = Some(stsd::secret::SecretString::new("very-secret-value".into()));
    let registry = registry(spec);
    let listing = registry.list();
    assert_eq!(listing[0].name, "corp");
    assert_eq!(listing[0].kind, "oidc");
    assert!(listing[0].enabled);
    assert_eq!(listing[0].client_ids, vec![CLIENT]);
    let json = serde_json::to_value(&listing).expect("json");
    assert_eq!(json[0]["type"], "oidc");
    assert_eq!(json[0]["clientIds"][0], CLIENT);
    let text = format!("{json} {listing:?} {registry:?}");
    assert!(!text.contains("very-secret-value"));
}

#[tokio::test]
async fn kubernetes_provider_with_jwks_uri_and_bearer_token() {
    let idp = TestIdp::start().await;
    idp.require_bearer(Some("kubelet-projected"));
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "kubelet-projected").expect("write");
    let mut spec = idp.provider_spec("cluster", &["https://stsd.example.com"]);
    spec.kind = ProviderKind::Kubernetes;
    spec.settings.jwks_uri = Some(idp.jwks_uri());
    spec.settings.bearer_token_file = Some(token_file);
    let registry = registry(spec);
    let token = idp.sign(&json!({
        "iss": idp.issuer(),
        "sub": "system:serviceaccount:ci:runner",
        "aud": ["https://kubernetes.default.svc", "https://stsd.example.com"],
        "exp": NOW + 3600, "iat": NOW, "nbf": NOW,
        "kubernetes.io": {"namespace": "ci", "serviceaccount": {"name": "runner"}}
    }));
    let id = registry.verify(&token, NOW).await.expect("verifies");
    assert_eq!(id.provider, "cluster");
    assert_eq!(id.matched_audience, "https://stsd.example.com");
    assert_eq!(id.claims["kubernetes.io"]["namespace"], "ci");
    assert_eq!((idp.discovery_requests(), idp.jwks_requests()), (0, 1));
    assert_eq!(registry.list()[0].kind, "kubernetes");
}
