//! `roles`: names, ARNs, attached policies, trust policies, session limits.

use super::*;

pub(super) fn is_role_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "+=,.@_-".contains(ch))
}

// Attached policies are checked against every declared name, so that a policy with its own
// problems does not also show up as "unknown" in each role that attaches it.
pub(super) fn roles(
    c: &mut Collector,
    entries: &[RoleEntry],
    policies: &[PolicyEntry],
) -> Vec<Role> {
    let known: HashSet<&str> = policies.iter().map(|p| p.name.as_str()).collect();
    let mut seen = FirstSeen::default();
    let mut out = Vec::new();
    for (i, r) in entries.iter().enumerate() {
        let path = format!("roles[{i}]");
        let start = c.problems.len();
        let name_path = join(&path, "roleName");
        if r.role_name.is_empty() {
            c.err(name_path, "required");
        } else if !is_role_name(&r.role_name) {
            c.err(
                name_path,
                "must be 1-64 characters of letters, digits and +=,.@_-",
            );
        } else if let Some(first) = seen.earlier(&r.role_name, &path) {
            c.err(
                name_path,
                format!("duplicate role name {:?} (also {first})", r.role_name),
            );
        }

        let role_arn = r
            .role_arn
            .clone()
            .unwrap_or_else(|| default_role_arn(&r.role_name));
        let partition = parse_role_arn(&role_arn).map_or(Partition::Aws, |p| p.partition);
        if r.role_arn.is_some() {
            let arn_path = join(&path, "roleArn");
            match parse_role_arn(&role_arn) {
                None => c.err(
                    arn_path,
                    format!(
                        "{role_arn:?} is not an IAM role ARN (arn:aws:iam::[ACCOUNT:]role/NAME or arn:seaweed:iam::[ACCOUNT:]role/NAME)"
                    ),
                ),
                Some(parsed) if parsed.name.contains('/') => c.err(
                    arn_path,
                    "role paths are not supported: SeaweedFS gateways would read the first path \
                     segment as the role name",
                ),
                Some(parsed) if parsed.name != r.role_name => c.err(
                    arn_path,
                    format!(
                        "names role {:?} but roleName is {:?}",
                        parsed.name, r.role_name
                    ),
                ),
                Some(_) => {}
            }
        }

        let trust_path = join(&path, "trustPolicy");
        let trust_policy = match &r.trust_policy {
            None => {
                c.err(
                    &trust_path,
                    "required: a role without a trust policy can never be assumed",
                );
                None
            }
            Some(raw) => match PolicyDocument::from_value(raw) {
                Ok(doc) => {
                    for e in doc.validate_trust() {
                        c.err(nest(&trust_path, &e.path), e.message);
                    }
                    Some(doc)
                }
                Err(e) => {
                    c.err(nest(&trust_path, &e.path), e.message);
                    None
                }
            },
        };

        for (j, name) in r.attached_policies.iter().enumerate() {
            if !known.contains(name.as_str()) {
                c.err(
                    format!("{path}.attachedPolicies[{j}]"),
                    format!("unknown policy {name:?}; it must be defined under \"policies\""),
                );
            }
        }

        let dur_path = join(&path, "maxSessionDuration");
        let (lo, hi) = ROLE_MAX_SESSION_RANGE;
        let max_session_duration = match r
            .max_session_duration
            .as_ref()
            .map(RawDuration::to_duration)
        {
            None => None,
            Some(Err(e)) => {
                c.err(dur_path, e.to_string());
                None
            }
            // SeaweedFS reads 0 as "no role-specific limit".
            Some(Ok(d)) if d.is_zero() => None,
            Some(Ok(d)) if d < Duration::from_secs(lo) || d > Duration::from_secs(hi) => {
                c.err(
                    dur_path,
                    format!("must be between {lo} and {hi} seconds (1h to 12h), or 0 for no limit"),
                );
                None
            }
            Some(Ok(d)) => Some(d),
        };

        if let (Some(trust_policy), true) = (trust_policy, c.problems.len() == start) {
            out.push(Role {
                role_name: r.role_name.clone(),
                role_arn,
                partition,
                attached_policies: r.attached_policies.clone(),
                trust_keys: trust_policy.context_keys(),
                trust_policy,
                max_session_duration,
                description: r.description.clone(),
            });
        }
    }
    out
}
