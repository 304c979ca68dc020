//! Prometheus metric names (DESIGN.md §8) and the registry `/metrics` exposes. Labels come only
//! from bounded sets: action names, error codes, configured provider names, fixed results.

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

/// The label value for a request whose action could not be determined.
pub const NO_ACTION: &str = "none";
/// The `code` label of a successful request.
pub const CODE_OK: &str = "OK";

/// Every collector stsd exports, registered in one registry. Cheap to clone (shared inside).
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub requests_total: IntCounterVec,
    pub request_duration_seconds: HistogramVec,
    pub credentials_issued_total: IntCounterVec,
    pub jwks_fetch_total: IntCounterVec,
    pub jwks_keys: IntGaugeVec,
    pub config_reloads_total: IntCounterVec,
    pub providers: IntGaugeVec,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(c.clone()))?;
            Ok::<_, prometheus::Error>(c)
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(g.clone()))?;
            Ok::<_, prometheus::Error>(g)
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
        let jwks_fetch_total = counter(
            JWKS_FETCH_TOTAL,
            "JWKS fetches by provider and result",
            &["provider", "result"],
        )?;
        let jwks_keys = gauge(
            JWKS_KEYS,
            "Keys in each provider's JWKS cache",
            &["provider"],
        )?;
        let config_reloads_total = counter(
            CONFIG_RELOADS_TOTAL,
            "iam.json reloads by result",
            &["result"],
        )?;
        let providers = gauge(
            PROVIDERS,
            "Configured identity providers by state",
            &["state"],
        )?;
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
        Ok(Self {
            registry,
            requests_total,
            request_duration_seconds,
            credentials_issued_total,
            jwks_fetch_total,
            jwks_keys,
            config_reloads_total,
            providers,
        })
    }

    /// Counts one finished STS API request.
    pub fn observe_request(&self, action: &str, code: &str, seconds: f64) {
        self.requests_total.with_label_values(&[action, code]).inc();
        self.request_duration_seconds
            .with_label_values(&[action])
            .observe(seconds);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
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
        let text = m.render().unwrap();
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
        assert!(!b.render().unwrap().contains("GetCallerIdentity"));
    }
}
