//! `podIdentityAssociations`: namespace and ServiceAccount to role, one association per token.

use super::*;

/// A Kubernetes namespace name: an RFC 1123 label.
pub(super) fn is_dns_label(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// A ServiceAccount name: an RFC 1123 subdomain (labels joined by dots).
pub(super) fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(is_dns_label)
}

/// Every association names an existing role and (when given) an existing provider, and no two
/// of them can match the same token: the same namespace and ServiceAccount with the same
/// provider, or with no provider on either side.
pub(super) fn pod_identity_associations(
    c: &mut Collector,
    file: &IamFile,
    entries: &[PodIdentityAssociationEntry],
) -> Vec<PodIdentityAssociation> {
    let role_names: HashSet<&str> = file.roles.iter().map(|r| r.role_name.as_str()).collect();
    let provider_names: HashSet<&str> = provider_entries(file)
        .into_iter()
        .map(|(_, p)| p.name.as_str())
        .collect();
    let mut out: Vec<(usize, PodIdentityAssociation)> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let path = format!("podIdentityAssociations[{i}]");
        let start = c.problems.len();
        if e.namespace.is_empty() {
            c.err(join(&path, "namespace"), "required");
        } else if !is_dns_label(&e.namespace) {
            c.err(
                join(&path, "namespace"),
                "not a Kubernetes namespace name (lowercase letters, digits and '-', at most 63)",
            );
        }
        if e.service_account.is_empty() {
            c.err(join(&path, "serviceAccount"), "required");
        } else if !is_dns_subdomain(&e.service_account) {
            c.err(
                join(&path, "serviceAccount"),
                "not a Kubernetes ServiceAccount name (lowercase letters, digits, '-' and '.')",
            );
        }
        let arn_path = join(&path, "roleArn");
        if e.role_arn.is_empty() {
            c.err(arn_path, "required");
        } else {
            match parse_role_arn(&e.role_arn) {
                None => c.err(
                    arn_path,
                    format!(
                        "{:?} is not an IAM role ARN (arn:aws:iam::[ACCOUNT:]role/NAME)",
                        e.role_arn
                    ),
                ),
                Some(parsed) if !role_names.contains(parsed.name) => c.err(
                    arn_path,
                    format!(
                        "unknown role {:?}; it must be defined under \"roles\"",
                        parsed.name
                    ),
                ),
                Some(_) => {}
            }
        }
        if let Some(provider) = &e.provider {
            if !provider_names.contains(provider.as_str()) {
                c.err(
                    join(&path, "provider"),
                    format!(
                        "unknown provider {provider:?}; it must be defined under \"providers\""
                    ),
                );
            }
        }
        let association = PodIdentityAssociation {
            namespace: e.namespace.clone(),
            service_account: e.service_account.clone(),
            role_arn: e.role_arn.clone(),
            provider: e.provider.clone(),
        };
        if let Some((first, _)) = out.iter().find(|(_, other)| overlaps(other, &association)) {
            c.err(
                &path,
                format!(
                    "duplicate association for namespace {:?} and serviceAccount {:?} (also \
                     podIdentityAssociations[{first}]); give each a different provider",
                    e.namespace, e.service_account
                ),
            );
        }
        if c.problems.len() == start {
            out.push((i, association));
        }
    }
    let enabled_providers = provider_entries(file)
        .iter()
        .filter(|(_, p)| p.enabled.unwrap_or(true))
        .count();
    if enabled_providers > 1 {
        for (i, a) in &out {
            if a.provider.is_none() {
                c.warn(
                    format!("podIdentityAssociations[{i}]"),
                    "matches tokens of every provider; with several providers set \"provider\" \
                     to the cluster's, so that another issuer cannot claim this ServiceAccount",
                );
            }
        }
    }
    out.into_iter().map(|(_, a)| a).collect()
}

pub(super) fn overlaps(a: &PodIdentityAssociation, b: &PodIdentityAssociation) -> bool {
    a.namespace == b.namespace
        && a.service_account == b.service_account
        && match (&a.provider, &b.provider) {
            (Some(x), Some(y)) => x == y,
            _ => true,
        }
}
