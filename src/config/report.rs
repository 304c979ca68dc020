//! The text `stsd check-config` prints: a summary of a valid file or every problem of an invalid one.
//!
//! Secrets (`clientSecret`, signing keys) appear only as `***`; the key id shown is the public one
//! that session-token headers carry anyway.

use std::fmt::Write;

use super::duration::format as fmt_duration;
use super::{ConfigErrors, Loaded, Problem};
use crate::limits::{Rate, RateLimits};

const REDACTED: &str = "***";

/// Render the outcome of loading `source`.
pub fn report(source: &str, result: &Result<Loaded, ConfigErrors>) -> String {
    let mut out = String::new();
    match result {
        Ok(loaded) => summary(&mut out, source, loaded),
        Err(errors) => {
            let n = errors.problems.len();
            let _ = writeln!(
                out,
                "{source}: invalid, {n} problem{}",
                if n == 1 { "" } else { "s" }
            );
            for p in &errors.problems {
                let _ = writeln!(out, "  {p}");
            }
            warnings(&mut out, &errors.warnings);
        }
    }
    out
}

fn summary(out: &mut String, source: &str, loaded: &Loaded) {
    let cfg = &loaded.config;
    let sts = &cfg.sts;
    let _ = writeln!(out, "{source}: valid");
    let _ = writeln!(
        out,
        "sts: issuer {:?}, tokenDuration {}, maxSessionLength {}, clockSkew {}, secretDerivation {}{}",
        sts.issuer,
        fmt_duration(sts.token_duration),
        fmt_duration(sts.max_session_length),
        fmt_duration(sts.clock_skew),
        format_args!(
            "{} ({})",
            sts.secret_derivation.name(),
            sts.secret_derivation.gateways()
        ),
        sts.account_id
            .as_deref()
            .map(|a| format!(", accountId {a}"))
            .unwrap_or_default(),
    );
    let _ = writeln!(
        out,
        "  signing key {REDACTED} (kid {}), {} previous key(s)",
        sts.signing_key.kid(),
        sts.previous_signing_keys.len()
    );
    let limits = &sts.rate_limits;
    if *limits != RateLimits::default() {
        let rate = |r: Option<Rate>| match r {
            Some(r) => format!("{}/s burst {}", r.rps(), r.burst()),
            None => "off".to_owned(),
        };
        let _ = writeln!(
            out,
            "  rateLimits: perSourceIp {}, perSubject {}, global {}",
            rate(limits.per_source_ip),
            rate(limits.per_subject),
            rate(limits.global)
        );
    }
    if !sts.revoked.is_empty() {
        let _ = writeln!(out, "  revoked: {} rule(s)", sts.revoked.rules().len());
    }

    let _ = writeln!(out, "providers ({}):", cfg.providers.len());
    for p in &cfg.providers {
        let s = &p.settings;
        let _ = write!(
            out,
            "  {}: type {}, {}, issuer {}, clientIds [{}]",
            p.name,
            p.kind.name(),
            if p.enabled { "enabled" } else { "disabled" },
            s.issuer,
            s.client_ids.join(", "),
        );
        if let Some(claim) = &s.policy_claim {
            let _ = write!(out, ", policyClaim {claim}");
        }
        if let Some(jwks) = &s.jwks_uri {
            let _ = write!(out, ", jwksUri {jwks}");
        }
        if s.client_secret.is_some() {
            let _ = write!(out, ", clientSecret {REDACTED}");
        }
        out.push('\n');
    }

    let _ = writeln!(out, "roles ({}):", cfg.roles.len());
    for r in &cfg.roles {
        let _ = write!(
            out,
            "  {}: {}, policies [{}]",
            r.role_name,
            r.role_arn,
            r.attached_policies.join(", ")
        );
        if let Some(d) = r.max_session_duration {
            let _ = write!(out, ", maxSessionDuration {}", fmt_duration(d));
        }
        out.push('\n');
    }

    if !cfg.pod_identity_associations.is_empty() {
        let _ = writeln!(
            out,
            "pod identity associations ({}):",
            cfg.pod_identity_associations.len()
        );
        for a in &cfg.pod_identity_associations {
            let _ = write!(
                out,
                "  {}/{}: {}",
                a.namespace, a.service_account, a.role_arn
            );
            if let Some(p) = &a.provider {
                let _ = write!(out, ", provider {p}");
            }
            out.push('\n');
        }
    }

    let names: Vec<&str> = cfg.policies.iter().map(|p| p.name.as_str()).collect();
    let _ = writeln!(out, "policies ({}): {}", names.len(), names.join(", "));
    if !loaded.seaweedfs_keys.is_empty() {
        let _ = writeln!(
            out,
            "SeaweedFS settings stsd does not use ({}): {}",
            loaded.seaweedfs_keys.len(),
            loaded.seaweedfs_keys.join(", ")
        );
    }
    warnings(out, &loaded.warnings);
}

fn warnings(out: &mut String, warnings: &[Problem]) {
    if warnings.is_empty() {
        return;
    }
    let _ = writeln!(out, "warnings ({}):", warnings.len());
    for w in warnings {
        let _ = writeln!(out, "  {w}");
    }
}
