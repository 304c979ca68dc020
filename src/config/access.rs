//! Validation of `sts.rateLimits` and `sts.revoked`: how often credentials may be asked for, and
//! who may no longer have them.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::problem::{join, Problem};
use super::schema::{RateEntry, RateLimitsEntry, RevokedEntry, RoleEntry};
use crate::arn::parse_role_arn;
use crate::limits::{Limit, Rate, RateLimits};
use crate::revocation::{Revocations, Rule};
use crate::secret::SecretString;

const RATE_LIMITS: &str = "sts.rateLimits";

pub(super) fn rate_limits(
    problems: &mut Vec<Problem>,
    entry: Option<&RateLimitsEntry>,
) -> RateLimits {
    let Some(entry) = entry else {
        return RateLimits::default();
    };
    let mut limit = |limit: Limit, rate: Option<&RateEntry>| {
        rate.and_then(|r| parse_rate(problems, &join(RATE_LIMITS, limit.name()), r))
    };
    RateLimits {
        per_source_ip: limit(Limit::PerSourceIp, entry.per_source_ip.as_ref()),
        per_subject: limit(Limit::PerSubject, entry.per_subject.as_ref()),
        global: limit(Limit::Global, entry.global.as_ref()),
    }
}

fn parse_rate(problems: &mut Vec<Problem>, path: &str, entry: &RateEntry) -> Option<Rate> {
    let rps = match entry.rps.as_ref().map(serde_json::Number::as_f64) {
        None => {
            problems.push(Problem::new(
                join(path, "rps"),
                "required: requests per second, greater than 0",
            ));
            None
        }
        Some(Some(rps)) if rps.is_finite() && rps > 0.0 => Some(rps),
        Some(_) => {
            problems.push(Problem::new(join(path, "rps"), "must be greater than 0"));
            None
        }
    };
    let burst = match &entry.burst {
        None => {
            problems.push(Problem::new(
                join(path, "burst"),
                "required: how many requests may come at once, at least 1",
            ));
            None
        }
        Some(n) => match n.as_u64().map(u32::try_from) {
            Some(Ok(burst)) if burst >= 1 => Some(burst),
            _ => {
                problems.push(Problem::new(
                    join(path, "burst"),
                    format!("must be a whole number from 1 to {}", u32::MAX),
                ));
                None
            }
        },
    };
    Rate::new(rps?, burst?)
}

const RULE_SHAPES: &str = "{\"provider\", \"subject\"}, {\"provider\", \"issuedBefore\"}, \
                           {\"role\", \"issuedBefore\"} or {\"sessionId\"}";

/// `providers` and `roles` are every name the file declares, valid or not, so that a provider
/// with problems of its own is not also reported as unknown here.
pub(super) fn revocations(
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
    entries: &[RevokedEntry],
    providers: &[&str],
    roles: &[RoleEntry],
) -> Revocations {
    let mut rules = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let path = format!("sts.revoked[{i}]");
        let start = problems.len();
        let mut text = |key: &str, value: &Option<String>| -> Option<String> {
            let value = value.as_ref()?;
            if value.trim().is_empty() {
                problems.push(Problem::new(join(&path, key), "must not be empty"));
            }
            Some(value.clone())
        };
        let provider = text("provider", &entry.provider);
        let subject = text("subject", &entry.subject);
        let role = text("role", &entry.role);
        let issued_before = text("issuedBefore", &entry.issued_before);
        let session_id = text("sessionId", &entry.session_id);
        if problems.len() > start {
            continue;
        }
        let mut check_provider = |name: &str| {
            if !providers.contains(&name) {
                problems.push(Problem::new(
                    join(&path, "provider"),
                    format!("unknown provider {name:?}; it must be named under \"providers\" or \"sts.providers\""),
                ));
            }
        };
        let rule = match (provider, subject, role, issued_before, session_id) {
            (Some(provider), Some(subject), None, None, None) => {
                check_provider(&provider);
                Some(Rule::Subject { provider, subject })
            }
            (Some(provider), None, None, Some(before), None) => {
                check_provider(&provider);
                cutoff(problems, &path, &before)
                    .map(|before| Rule::ProviderIssuedBefore { provider, before })
            }
            (None, None, Some(role), Some(before), None) => {
                let name = role_name(problems, &path, &role, roles);
                let before = cutoff(problems, &path, &before);
                name.zip(before)
                    .map(|(role, before)| Rule::RoleIssuedBefore { role, before })
            }
            (None, None, None, None, Some(session_id)) => {
                // Never quoted: in the unkeyed derivation a session id yields its secret.
                if session_id.len() != 32
                    || !session_id
                        .bytes()
                        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                {
                    warnings.push(Problem::new(
                        join(&path, "sessionId"),
                        "stsd's session ids are 32 lowercase hexadecimal characters (the \"sid\" \
                         claim); this rule can only match sessions minted elsewhere",
                    ));
                }
                Some(Rule::Session {
                    session_id: SecretString::new(session_id),
                })
            }
            _ => {
                problems.push(Problem::new(
                    &path,
                    format!("a rule is one of {RULE_SHAPES}, with nothing else"),
                ));
                None
            }
        };
        if let (Some(rule), true) = (rule, problems.len() == start) {
            rules.push(rule);
        }
    }
    Revocations::new(rules)
}

fn cutoff(problems: &mut Vec<Problem>, path: &str, text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|_| {
            problems.push(Problem::new(
                join(path, "issuedBefore"),
                "must be an RFC 3339 time such as \"2026-12-01T00:00:00Z\"",
            ));
        })
        .ok()
}

fn role_name(
    problems: &mut Vec<Problem>,
    path: &str,
    arn: &str,
    roles: &[RoleEntry],
) -> Option<String> {
    let path = join(path, "role");
    let Some(parsed) = parse_role_arn(arn) else {
        problems.push(Problem::new(
            path,
            format!("{arn:?} is not an IAM role ARN (arn:aws:iam::[ACCOUNT:]role/NAME)"),
        ));
        return None;
    };
    if !roles.iter().any(|r| r.role_name == parsed.name) {
        problems.push(Problem::new(
            path,
            format!("no role named {:?} is defined under \"roles\"", parsed.name),
        ));
        return None;
    }
    Some(parsed.name.to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::{json, Value};
    use time::macros::datetime;

    use crate::config::{load_str, report, ConfigErrors, Loaded};
    use crate::limits::Rate;
    use crate::revocation::Rule;

    fn file(sts_extra: Value) -> Value {
        let mut sts = json!({"signingKey": "dGVzdC1zaWduaW5nLWtleS0zMi1jaGFyYWN0ZXJzLWxvbmc="});
        for (k, v) in sts_extra.as_object().unwrap() {
            sts[k] = v.clone();
        }
        json!({
            "sts": sts,
            "providers": [{"name": "corp", "type": "oidc",
                           "config": {"issuer": "https://idp.example.com", "clientId": "app"}}],
            "roles": [{"roleName": "Deploy",
                       "trustPolicy": {"Version": "2012-10-17", "Statement": [
                           {"Effect": "Allow", "Principal": {"Federated": "corp"},
                            "Action": "sts:AssumeRoleWithWebIdentity"}]}}]
        })
    }

    fn load(sts_extra: Value) -> Result<Loaded, ConfigErrors> {
        load_str(&file(sts_extra).to_string(), "iam.json", &|_| None)
    }

    fn problems(sts_extra: Value) -> Vec<String> {
        let mut p: Vec<String> = load(sts_extra)
            .unwrap_err()
            .problems
            .iter()
            .map(ToString::to_string)
            .collect();
        p.sort();
        p
    }

    #[test]
    fn rate_limits_are_off_unless_configured() {
        let loaded = load(json!({})).unwrap();
        assert_eq!(loaded.config.sts.rate_limits, Default::default());
        let loaded = load(json!({"rateLimits": {}})).unwrap();
        assert_eq!(loaded.config.sts.rate_limits, Default::default());
    }

    #[test]
    fn rate_limits_take_any_subset() {
        let loaded = load(json!({"rateLimits": {
            "perSourceIp": {"rps": 20, "burst": 40},
            "global": {"rps": 0.5, "burst": 1}}}))
        .unwrap();
        let limits = loaded.config.sts.rate_limits;
        assert_eq!(limits.per_source_ip, Rate::new(20.0, 40));
        assert_eq!(limits.per_subject, None);
        assert_eq!(limits.global, Rate::new(0.5, 1));
        let text = report("iam.json", &Ok(loaded));
        assert!(
            text.contains(
                "rateLimits: perSourceIp 20/s burst 40, perSubject off, global 0.5/s burst 1"
            ),
            "{text}"
        );
    }

    #[test]
    fn rate_limit_problems_name_their_path() {
        assert_eq!(
            problems(json!({"rateLimits": {
                "perSourceIp": {"rps": 0, "burst": 0},
                "perSubject": {"rps": -1, "burst": 1.5},
                "global": {}}})),
            [
                "sts.rateLimits.global.burst: required: how many requests may come at once, at least 1",
                "sts.rateLimits.global.rps: required: requests per second, greater than 0",
                "sts.rateLimits.perSourceIp.burst: must be a whole number from 1 to 4294967295",
                "sts.rateLimits.perSourceIp.rps: must be greater than 0",
                "sts.rateLimits.perSubject.burst: must be a whole number from 1 to 4294967295",
                "sts.rateLimits.perSubject.rps: must be greater than 0",
            ]
        );
        assert_eq!(
            problems(json!({"rateLimits": {"perSourceIp": {"rps": "20", "burst": 40}}})),
            ["sts.rateLimits.perSourceIp.rps: expected a number, found a string"]
        );
        let loaded = load(json!({"rateLimits": {"perSourceIP": {"rps": 1, "burst": 1}}})).unwrap();
        assert!(loaded.warnings.iter().any(|w| w.to_string()
            == "sts.rateLimits.perSourceIP: unknown key; ignored (did you mean \"perSourceIp\"?)"));
    }

    #[test]
    fn revocation_rules_of_each_shape() {
        let loaded = load(json!({"revoked": [
            {"provider": "corp", "subject": "alice"},
            {"role": "arn:aws:iam::role/Deploy", "issuedBefore": "2026-12-01T00:00:00Z"},
            {"provider": "corp", "issuedBefore": "2026-11-30T12:00:00+01:00"},
            {"sessionId": "00112233445566778899aabbccddeeff"}]}))
        .unwrap();
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let rules = loaded.config.sts.revoked.rules().to_vec();
        assert_eq!(
            rules[..3],
            [
                Rule::Subject {
                    provider: "corp".into(),
                    subject: "alice".into()
                },
                Rule::RoleIssuedBefore {
                    role: "Deploy".into(),
                    before: datetime!(2026-12-01 00:00:00 UTC)
                },
                Rule::ProviderIssuedBefore {
                    provider: "corp".into(),
                    before: datetime!(2026-11-30 11:00:00 UTC)
                },
            ]
        );
        assert!(matches!(rules[3], Rule::Session { .. }));
        let text = report("iam.json", &Ok(loaded));
        assert!(text.contains("revoked: 4 rule(s)"), "{text}");
        assert!(!text.contains("00112233445566778899aabbccddeeff"), "{text}");
    }

    #[test]
    fn revocation_problems_name_their_path() {
        assert_eq!(
            problems(json!({"revoked": [
                {"provider": "nope", "subject": "alice"},
                {"role": "arn:aws:iam::role/Missing", "issuedBefore": "2026-12-01T00:00:00Z"},
                {"role": "Deploy", "issuedBefore": "2026-12-01"},
                {"provider": "corp"},
                {"subject": "alice"},
                {"provider": "corp", "subject": "alice", "sessionId": "x"},
                {"provider": "corp", "subject": " "},
                {"provider": "corp", "issuedBefore": "yesterday"},
                {}]})),
            [
                "sts.revoked[0].provider: unknown provider \"nope\"; it must be named under \"providers\" or \"sts.providers\"",
                "sts.revoked[1].role: no role named \"Missing\" is defined under \"roles\"",
                "sts.revoked[2].issuedBefore: must be an RFC 3339 time such as \"2026-12-01T00:00:00Z\"",
                "sts.revoked[2].role: \"Deploy\" is not an IAM role ARN (arn:aws:iam::[ACCOUNT:]role/NAME)",
                "sts.revoked[3]: a rule is one of {\"provider\", \"subject\"}, {\"provider\", \"issuedBefore\"}, {\"role\", \"issuedBefore\"} or {\"sessionId\"}, with nothing else",
                "sts.revoked[4]: a rule is one of {\"provider\", \"subject\"}, {\"provider\", \"issuedBefore\"}, {\"role\", \"issuedBefore\"} or {\"sessionId\"}, with nothing else",
                "sts.revoked[5]: a rule is one of {\"provider\", \"subject\"}, {\"provider\", \"issuedBefore\"}, {\"role\", \"issuedBefore\"} or {\"sessionId\"}, with nothing else",
                "sts.revoked[6].subject: must not be empty",
                "sts.revoked[7].issuedBefore: must be an RFC 3339 time such as \"2026-12-01T00:00:00Z\"",
                "sts.revoked[8]: a rule is one of {\"provider\", \"subject\"}, {\"provider\", \"issuedBefore\"}, {\"role\", \"issuedBefore\"} or {\"sessionId\"}, with nothing else",
            ]
        );
        assert_eq!(
            problems(json!({"revoked": {"provider": "corp"}})),
            ["sts.revoked: expected a list, found an object"]
        );
    }

    #[test]
    fn odd_session_ids_are_warned_about_without_being_shown() {
        let loaded = load(json!({"revoked": [{"sessionId": "SECRET-looking-id"}]})).unwrap();
        let w: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with("sts.revoked[0].sessionId: stsd's session ids"),
            "{w:?}"
        );
        assert!(!w[0].contains("SECRET"));
    }
}
