//! IAM role ARNs as SeaweedFS gateways parse them (seaweedfs-sts.md §9).

/// The parts of a role ARN. `name` is everything after `role/`, so a path is part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleArn<'a> {
    pub account: &'a str,
    pub name: &'a str,
}

/// Accepts `arn:aws:iam::role/X`, `arn:aws:iam::123456789012:role/X` and `arn:aws:iam:::role/X`;
/// anything else (another partition, a user ARN, a bare name, an empty name) is `None`.
pub fn parse_role_arn(arn: &str) -> Option<RoleArn<'_>> {
    let rest = arn.strip_prefix("arn:aws:iam::")?;
    let (account, resource) = match rest.split_once(':') {
        Some((account, resource)) => (account, resource),
        None => ("", rest),
    };
    let name = resource.strip_prefix("role/")?;
    if name.is_empty() {
        return None;
    }
    Some(RoleArn { account, name })
}

/// The ARN stsd gives a role configured without `roleArn`.
pub fn default_role_arn(role_name: &str) -> String {
    format!("arn:aws:iam::role/{role_name}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_seaweedfs_forms() {
        assert_eq!(
            parse_role_arn("arn:aws:iam::role/X"),
            Some(RoleArn {
                account: "",
                name: "X"
            })
        );
        assert_eq!(
            parse_role_arn("arn:aws:iam::123456789012:role/X"),
            Some(RoleArn {
                account: "123456789012",
                name: "X"
            })
        );
        assert_eq!(
            parse_role_arn("arn:aws:iam:::role/X"),
            Some(RoleArn {
                account: "",
                name: "X"
            })
        );
        assert_eq!(
            parse_role_arn("arn:aws:iam::123:role/path/X"),
            Some(RoleArn {
                account: "123",
                name: "path/X"
            })
        );
    }

    #[test]
    fn rejects_other_forms() {
        for bad in [
            "arn:aws:iam::123:user/role/X",
            "arn:aws-cn:iam::123:role/X",
            "arn:seaweed:iam::role/X",
            "X",
            "arn:aws:iam::role/",
            "arn:aws:iam::123:role/",
            "",
        ] {
            assert_eq!(parse_role_arn(bad), None, "{bad}");
        }
    }
}
