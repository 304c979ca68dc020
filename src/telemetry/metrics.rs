//! Prometheus metric names (DESIGN.md §8) and the registry `/metrics` exposes. Labels come only
//! from bounded sets: action names, error codes, configured provider names, fixed results.

use prometheus::core::Collector;
use prometheus::proto::MetricFamily;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

pub const REQUESTS_TOTAL: &str = "stsd_requests_total";
pub const REQUEST_DURATION_SECONDS: &str = "stsd_request_duration_seconds";
pub const CREDENTIALS_ISSUED_TOTAL: &str = "stsd_credentials_issued_total";
pub const JWKS_FETCH_TOTAL: &str = "stsd_jwks_fetch_total";
pub const JWKS_KEYS: &str = "stsd_jwks_keys";
pub const CONFIG_RELOADS_TOTAL: &str = "stsd_config_reloads_total";
pub const PROVIDERS: &str = "stsd_providers";
pub const THROTTLED_TOTAL: &str = "stsd_throttled_total";
pub const RATE_LIMIT_TRACKED: &str = "stsd_rate_limit_tracked";
pub const REVOKED_TOTAL: &str = "stsd_revoked_total";

/// The label value for a request whose action could not be determined.
pub const NO_ACTION: &str = "none";
/// The `code` label of a successful request.
pub const CODE_OK: &str = "OK";
/// `result` label values of `jwks_fetch_total` and `config_reloads_total`.
pub const RESULT_SUCCESS: &str = "success";
pub const RESULT_FAILURE: &str = "failure";
/// `state` label values of `providers`.
pub const STATE_ENABLED: &str = "enabled";
pub const STATE_DISABLED: &str = "disabled";

/// What the provider-derived metrics need to know about one configured provider, read from the
/// running configuration at scrape time so that a reload never leaves a stale series behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSample {
    pub name: String,
    pub enabled: bool,
    /// `None` for providers without a key set (mock).
    pub jwks: Option<JwksSample>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwksSample {
    pub keys: u64,
    pub fetches_ok: u64,
    pub fetches_failed: u64,
}

/// Rate-limit and revocation counts, kept by the service and read at scrape time like the JWKS
/// counts. Label values are the limits' config keys and fixed kinds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuardSample {
    /// `(limit, requests refused)` for every limit, configured or not.
    pub throttled: Vec<(&'static str, u64)>,
    /// `(limit, addresses or subjects tracked)` for each configured per-key limit.
    pub tracked: Vec<(&'static str, u64)>,
    /// `(kind, refusals)`: `credentials` refused and `session` tokens found revoked.
    pub revoked: Vec<(&'static str, u64)>,
}

/// Every collector stsd exports, registered in one registry. Cheap to clone (shared inside).
///
/// `jwks_fetch_total`, `jwks_keys` and `providers` are not kept here: the JWKS caches count
/// their own fetches and the configuration knows its providers, so those series are derived
/// from a [`ProviderSample`] list on each [`Metrics::render`].
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub requests_total: IntCounterVec,
    pub request_duration_seconds: HistogramVec,
    pub credentials_issued_total: IntCounterVec,
    pub config_reloads_total: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(c.clone()))?;
            Ok::<_, prometheus::Error>(c)
        };
        let requests_total = counter(
            REQUESTS_TOTAL,
            "STS API requests by action and result code (OK or the AWS error code)",
            &["action", "code"],
        )?;
        let credentials_issued_total = counter(
            CREDENTIALS_ISSUED_TOTAL,
            "Temporary credentials issued, by identity provider",
            &["provider"],
        )?;
        let config_reloads_total = counter(
            CONFIG_RELOADS_TOTAL,
            "iam.json reloads by result",
            &["result"],
        )?;
        // Both results exist from the start, so an alert on `increase(...{result="failure"})`
        // sees the first refusal as a change rather than a new series.
        for result in [RESULT_SUCCESS, RESULT_FAILURE] {
            config_reloads_total.with_label_values(&[result]);
        }
        let request_duration_seconds = HistogramVec::new(
            HistogramOpts::new(
                REQUEST_DURATION_SECONDS,
                "STS API request duration by action",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["action"],
        )?;
        registry.register(Box::new(request_duration_seconds.clone()))?;
        // CPU, memory, file descriptors and start time under the conventional `process_` names,
        // which dashboards expect unprefixed.
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(Self {
            registry,
            requests_total,
            request_duration_seconds,
            credentials_issued_total,
            config_reloads_total,
        })
    }

    /// Counts one set of credentials issued by the configured provider `provider`.
    pub fn credentials_issued(&self, provider: &str) {
        self.credentials_issued_total
            .with_label_values(&[provider])
            .inc();
    }

    /// Counts one finished STS API request.
    pub fn observe_request(&self, action: &str, code: &str, seconds: f64) {
        self.requests_total.with_label_values(&[action, code]).inc();
        self.request_duration_seconds
            .with_label_values(&[action])
            .observe(seconds);
    }

    /// The Prometheus text exposition of every metric, with the provider-derived series taken
    /// from `providers`.
    pub fn render(&self, providers: &[ProviderSample]) -> Result<String, prometheus::Error> {
        self.render_with(providers, &GuardSample::default())
    }

    /// [`Metrics::render`] plus the rate-limit and revocation series of `guards`.
    pub fn render_with(
        &self,
        providers: &[ProviderSample],
        guards: &GuardSample,
    ) -> Result<String, prometheus::Error> {
        let mut families = self.registry.gather();
        families.extend(provider_families(providers)?);
        families.extend(guard_families(guards)?);
        families.sort_by(|a, b| a.name().cmp(b.name()));
        let mut out = Vec::new();
        TextEncoder::new().encode(&families, &mut out)?;
        String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

/// `providers{state}` (both states always present), `jwks_keys{provider}` and
/// `jwks_fetch_total{provider,result}` for every provider with a key set. The fetch counters are
/// the caches' own, so they only move forward while a cache lives; a reload that keeps a
/// provider's settings keeps its cache and its counts.
fn provider_families(providers: &[ProviderSample]) -> Result<Vec<MetricFamily>, prometheus::Error> {
    let by_state = IntGaugeVec::new(
        Opts::new(PROVIDERS, "Configured identity providers by state"),
        &["state"],
    )?;
    let keys = IntGaugeVec::new(
        Opts::new(JWKS_KEYS, "Usable keys in each provider's JWKS cache"),
        &["provider"],
    )?;
    let fetches = IntCounterVec::new(
        Opts::new(JWKS_FETCH_TOTAL, "JWKS fetches by provider and result"),
        &["provider", "result"],
    )?;
    let enabled = providers.iter().filter(|p| p.enabled).count();
    by_state
        .with_label_values(&[STATE_ENABLED])
        .set(saturating_i64(enabled as u64));
    by_state
        .with_label_values(&[STATE_DISABLED])
        .set(saturating_i64((providers.len() - enabled) as u64));
    for provider in providers {
        let Some(jwks) = provider.jwks else { continue };
        let name = provider.name.as_str();
        keys.with_label_values(&[name])
            .set(saturating_i64(jwks.keys));
        fetches
            .with_label_values(&[name, RESULT_SUCCESS])
            .inc_by(jwks.fetches_ok);
        fetches
            .with_label_values(&[name, RESULT_FAILURE])
            .inc_by(jwks.fetches_failed);
    }
    let mut families = by_state.collect();
    families.extend(keys.collect());
    families.extend(fetches.collect());
    // A vector with no series renders as an empty family; leave those out.
    families.retain(|f| !f.get_metric().is_empty());
    Ok(families)
}

/// `throttled_total{limit}`, `rate_limit_tracked{limit}` and `revoked_total{kind}`.
fn guard_families(guards: &GuardSample) -> Result<Vec<MetricFamily>, prometheus::Error> {
    let throttled = IntCounterVec::new(
        Opts::new(
            THROTTLED_TOTAL,
            "Requests refused with Throttling, by rate limit",
        ),
        &["limit"],
    )?;
    let tracked = IntGaugeVec::new(
        Opts::new(
            RATE_LIMIT_TRACKED,
            "Source addresses or subjects with a bucket, by rate limit (bounded)",
        ),
        &["limit"],
    )?;
    let revoked = IntCounterVec::new(
        Opts::new(
            REVOKED_TOTAL,
            "Refusals by sts.revoked: new credentials, and session tokens shown to stsd",
        ),
        &["kind"],
    )?;
    for &(limit, n) in &guards.throttled {
        throttled.with_label_values(&[limit]).inc_by(n);
    }
    for &(limit, n) in &guards.tracked {
        tracked.with_label_values(&[limit]).set(saturating_i64(n));
    }
    for &(kind, n) in &guards.revoked {
        revoked.with_label_values(&[kind]).inc_by(n);
    }
    let mut families = throttled.collect();
    families.extend(tracked.collect());
    families.extend(revoked.collect());
    families.retain(|f| !f.get_metric().is_empty());
    Ok(families)
}

fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_prefix() {
        for name in [
            REQUESTS_TOTAL,
            REQUEST_DURATION_SECONDS,
            CREDENTIALS_ISSUED_TOTAL,
            JWKS_FETCH_TOTAL,
            JWKS_KEYS,
            CONFIG_RELOADS_TOTAL,
            PROVIDERS,
            THROTTLED_TOTAL,
            RATE_LIMIT_TRACKED,
            REVOKED_TOTAL,
        ] {
            assert!(name.starts_with("stsd_"), "{name}");
        }
    }

    #[test]
    fn requests_are_counted_and_rendered() {
        let m = Metrics::new().unwrap();
        m.observe_request("AssumeRoleWithWebIdentity", "OK", 0.01);
        m.observe_request("AssumeRoleWithWebIdentity", "OK", 0.02);
        m.observe_request(NO_ACTION, "MissingAction", 0.001);
        let text = m.render(&[]).unwrap();
        assert!(
            text.contains(r#"stsd_requests_total{action="AssumeRoleWithWebIdentity",code="OK"} 2"#)
        );
        assert!(text.contains(r#"stsd_requests_total{action="none",code="MissingAction"} 1"#));
        assert!(text.contains(
            r#"stsd_request_duration_seconds_count{action="AssumeRoleWithWebIdentity"} 2"#
        ));
    }

    #[test]
    fn registries_are_independent() {
        let a = Metrics::new().unwrap();
        let b = Metrics::new().unwrap();
        a.observe_request("GetCallerIdentity", "OK", 0.0);
        assert!(!b.render(&[]).unwrap().contains("GetCallerIdentity"));
    }

    #[test]
    fn provider_series_come_from_the_samples() {
        let m = Metrics::new().unwrap();
        let samples = [
            ProviderSample {
                name: "corp".into(),
                enabled: true,
                jwks: Some(JwksSample {
                    keys: 2,
                    fetches_ok: 3,
                    fetches_failed: 1,
                }),
            },
            ProviderSample {
                name: "mock".into(),
                enabled: true,
                jwks: None,
            },
            ProviderSample {
                name: "old".into(),
                enabled: false,
                jwks: Some(JwksSample {
                    keys: 0,
                    fetches_ok: 0,
                    fetches_failed: 0,
                }),
            },
        ];
        let text = m.render(&samples).unwrap();
        for line in [
            r#"stsd_providers{state="enabled"} 2"#,
            r#"stsd_providers{state="disabled"} 1"#,
            r#"stsd_jwks_keys{provider="corp"} 2"#,
            r#"stsd_jwks_keys{provider="old"} 0"#,
            r#"stsd_jwks_fetch_total{provider="corp",result="success"} 3"#,
            r#"stsd_jwks_fetch_total{provider="corp",result="failure"} 1"#,
            "# TYPE stsd_jwks_fetch_total counter",
            "# TYPE stsd_jwks_keys gauge",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        assert!(!text.contains(r#"provider="mock""#), "{text}");
    }

    #[test]
    fn no_providers_still_reports_both_states() {
        let text = Metrics::new().unwrap().render(&[]).unwrap();
        assert!(
            text.contains(r#"stsd_providers{state="enabled"} 0"#),
            "{text}"
        );
        assert!(
            text.contains(r#"stsd_providers{state="disabled"} 0"#),
            "{text}"
        );
        assert!(!text.contains("stsd_jwks_keys{"), "{text}");
    }

    #[test]
    fn reload_results_start_at_zero() {
        let text = Metrics::new().unwrap().render(&[]).unwrap();
        assert!(text.contains(r#"stsd_config_reloads_total{result="success"} 0"#));
        assert!(text.contains(r#"stsd_config_reloads_total{result="failure"} 0"#));
    }

    #[test]
    fn credentials_are_counted_by_provider() {
        let m = Metrics::new().unwrap();
        m.credentials_issued("mock");
        m.credentials_issued("mock");
        let text = m.render(&[]).unwrap();
        assert!(text.contains(r#"stsd_credentials_issued_total{provider="mock"} 2"#));
    }

    #[test]
    fn guard_series_come_from_the_sample() {
        let m = Metrics::new().unwrap();
        let guards = GuardSample {
            throttled: vec![("perSourceIp", 7), ("perSubject", 0), ("global", 2)],
            tracked: vec![("perSourceIp", 3)],
            revoked: vec![("credentials", 1), ("session", 4)],
        };
        let text = m.render_with(&[], &guards).unwrap();
        for line in [
            r#"stsd_throttled_total{limit="perSourceIp"} 7"#,
            r#"stsd_throttled_total{limit="perSubject"} 0"#,
            r#"stsd_throttled_total{limit="global"} 2"#,
            r#"stsd_rate_limit_tracked{limit="perSourceIp"} 3"#,
            r#"stsd_revoked_total{kind="credentials"} 1"#,
            r#"stsd_revoked_total{kind="session"} 4"#,
            "# TYPE stsd_throttled_total counter",
            "# TYPE stsd_rate_limit_tracked gauge",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        assert!(!m.render(&[]).unwrap().contains("stsd_throttled_total"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn process_metrics_are_exported() {
        let text = Metrics::new().unwrap().render(&[]).unwrap();
        assert!(text.contains("process_resident_memory_bytes "), "{text}");
        assert!(text.contains("process_start_time_seconds "), "{text}");
    }
}
