//! What a SeaweedFS S3 gateway reading the same `iam.json` will refuse, reported as warnings:
//! stsd serves such a role while the gateway denies every request made with it.
//!
//! The gateway checks each trust-policy statement when it loads a role (seaweedfs-4.48.md): an
//! `Effect` of Allow or Deny, a `Principal`, a non-empty `Action` list naming only
//! `sts:AssumeRole`, `sts:AssumeRoleWithWebIdentity` or `sts:AssumeRoleWithCredentials`, spelt
//! exactly (no wildcards). A failing statement makes it drop the whole role.

use serde_json::Value;

use super::problem::Problem;
use super::schema::RoleEntry;

/// The trust-policy actions a SeaweedFS gateway accepts.
const GATEWAY_TRUST_ACTIONS: [&str; 3] = [
    "sts:AssumeRole",
    "sts:AssumeRoleWithWebIdentity",
    "sts:AssumeRoleWithCredentials",
];

/// One warning per trust-policy statement a SeaweedFS gateway would refuse.
pub fn gateway_warnings(roles: &[RoleEntry]) -> Vec<Problem> {
    let mut out = Vec::new();
    for (i, role) in roles.iter().enumerate() {
        let Some(Value::Object(policy)) = &role.trust_policy else {
            continue;
        };
        let (statements, single) = match policy.get("Statement") {
            Some(Value::Array(items)) => (items.iter().collect::<Vec<_>>(), false),
            Some(one @ Value::Object(_)) => (vec![one], true),
            _ => continue,
        };
        for (j, statement) in statements.into_iter().enumerate() {
            let Value::Object(statement) = statement else {
                continue;
            };
            let path = if single {
                format!("roles[{i}].trustPolicy.Statement")
            } else {
                format!("roles[{i}].trustPolicy.Statement[{j}]")
            };
            let refused = |why: String| {
                Problem::new(
                    path.clone(),
                    format!(
                        "SeaweedFS gateways refuse {why}, drop role {:?} and deny every request \
                         made with its sessions",
                        role.role_name
                    ),
                )
            };
            if !statement.contains_key("Principal") {
                out.push(refused("a trust-policy statement without Principal".into()));
            }
            let actions: Vec<&str> = match statement.get("Action") {
                Some(Value::String(a)) => vec![a.as_str()],
                Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            if actions.is_empty() {
                out.push(refused(
                    "a trust-policy statement without an Action list (NotAction alone)".into(),
                ));
            }
            for action in actions {
                if GATEWAY_TRUST_ACTIONS.contains(&action) {
                    continue;
                }
                let instead = match action {
                    "sts:TagSession" => {
                        "; to govern session tags, list the keys in the provider's \
                         allowedPrincipalTagKeys and put conditions on aws:RequestTag/<key> or \
                         aws:TagKeys in the sts:AssumeRoleWithWebIdentity statement"
                    }
                    "sts:SetSourceIdentity" => {
                        "; to govern the source identity, put a condition on sts:SourceIdentity \
                         in the sts:AssumeRoleWithWebIdentity statement"
                    }
                    _ => "; name sts:AssumeRoleWithWebIdentity exactly",
                };
                out.push(Problem::new(
                    path.clone(),
                    format!(
                        "SeaweedFS gateways refuse the trust-policy action {action:?} (only \
                         sts:AssumeRole, sts:AssumeRoleWithWebIdentity and \
                         sts:AssumeRoleWithCredentials, spelt exactly), drop role {:?} and deny \
                         every request made with its sessions{instead}",
                        role.role_name
                    ),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn role(name: &str, trust: Value) -> RoleEntry {
        serde_json::from_value(json!({"roleName": name, "trustPolicy": trust})).unwrap()
    }

    #[test]
    fn accepted_statements_give_no_warning() {
        let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Federated": "idp"}, "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {"aws:RequestTag/team": "blue"}}}]});
        assert!(gateway_warnings(&[role("R", trust)]).is_empty());
    }

    #[test]
    fn refused_statements_are_named_with_their_path_and_the_fix() {
        let trust = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Federated": "idp"},
             "Action": ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"]},
            {"Effect": "Allow", "NotAction": "s3:*"},
            {"Effect": "Allow", "Principal": "*", "Action": "sts:*"}]});
        let warnings: Vec<String> = gateway_warnings(&[role("Tagged", trust)])
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(warnings.len(), 4, "{warnings:#?}");
        assert!(warnings[0].starts_with(
            "roles[0].trustPolicy.Statement[0]: SeaweedFS gateways refuse the trust-policy action \"sts:TagSession\""
        ));
        assert!(warnings[0].contains("drop role \"Tagged\""));
        assert!(warnings[0].contains("aws:RequestTag/<key>"));
        assert!(warnings[1].starts_with("roles[0].trustPolicy.Statement[1]: SeaweedFS gateways refuse a trust-policy statement without Principal"));
        assert!(warnings[2].contains("without an Action list"));
        assert!(warnings[3].contains("\"sts:*\""));
    }
}
