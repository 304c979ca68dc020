//! `roleMapping`: a provider's claim rules, and the roles they name, checked in one place.

use super::*;

pub(super) fn role_mapping(c: &mut Collector, path: &str, m: &RoleMappingEntry) -> RoleMapping {
    let mut rules = Vec::new();
    for (i, r) in m.rules.iter().enumerate() {
        let rp = format!("{path}.rules[{i}]");
        for (key, value) in [("claim", &r.claim), ("value", &r.value), ("role", &r.role)] {
            if value.is_empty() {
                c.err(join(&rp, key), "required");
            }
        }
        if !r.role.is_empty() && parse_role_arn(&r.role).is_none() {
            c.err(
                join(&rp, "role"),
                format!("{:?} is not an IAM role ARN", r.role),
            );
        }
        rules.push(RoleMappingRule {
            claim: r.claim.clone(),
            value: r.value.clone(),
            role: r.role.clone(),
        });
    }
    if let Some(d) = &m.default_role {
        if parse_role_arn(d).is_none() {
            c.err(
                join(path, "defaultRole"),
                format!("{d:?} is not an IAM role ARN"),
            );
        }
    }
    RoleMapping {
        rules,
        default_role: m.default_role.clone(),
    }
}

/// A role mapping that names a role this file does not define is legal (the mapping only feeds
/// `req_ctx`), but almost always a typo, so it is worth a warning.
pub(super) fn check_role_mappings(c: &mut Collector, file: &IamFile, roles: &[Role]) {
    let known = |arn: &str| {
        parse_role_arn(arn).is_some_and(|p| roles.iter().any(|r| r.role_name == p.name))
    };
    for (path, entry) in provider_entries(file) {
        let (mapping, mpath) = match (&entry.role_mapping, &entry.config.role_mapping) {
            (Some(m), None) => (m, join(&path, "roleMapping")),
            (None, Some(m)) => (m, format!("{path}.config.roleMapping")),
            _ => continue,
        };
        for (i, rule) in mapping.rules.iter().enumerate() {
            if parse_role_arn(&rule.role).is_some() && !known(&rule.role) {
                c.warn(
                    format!("{mpath}.rules[{i}].role"),
                    format!(
                        "no role named by {:?} is defined under \"roles\"",
                        rule.role
                    ),
                );
            }
        }
        if let Some(d) = mapping.default_role.as_deref() {
            if parse_role_arn(d).is_some() && !known(d) {
                c.warn(
                    join(&mpath, "defaultRole"),
                    format!("no role named by {d:?} is defined under \"roles\""),
                );
            }
        }
    }
}
