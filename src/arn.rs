//! IAM role ARNs: the one parser for `roleArn` in iam.json and `RoleArn` in requests, in the forms
//! SeaweedFS gateways read (seaweedfs-sts.md §9) plus the `seaweed` partition its pages use.

use std::fmt;

/// The partitions stsd accepts. `seaweed` appears in SeaweedFS's distributed-STS page
/// (`arn:seaweed:iam::role/S3AdminRole`); current SeaweedFS gateways parse only `aws`, so session
/// tokens always carry `aws` principals and only the answers to the caller use `seaweed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Partition {
    #[default]
    Aws,
    Seaweed,
}

impl Partition {
    pub fn name(self) -> &'static str {
        match self {
            Self::Aws => "aws",
            Self::Seaweed => "seaweed",
        }
    }

    /// `arn:aws:…` → `arn:<self>:…`; anything else is returned unchanged.
    pub fn apply(self, aws_arn: &str) -> String {
        match (self, aws_arn.strip_prefix("arn:aws:")) {
            (Self::Seaweed, Some(rest)) => format!("arn:seaweed:{rest}"),
            _ => aws_arn.to_string(),
        }
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The parts of a role ARN. `name` is everything after `role/`, so a path is part of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleArn<'a> {
    pub partition: Partition,
    pub account: &'a str,
    pub name: &'a str,
}

/// The role name SeaweedFS reserves for claim-based policy mode (seaweedfs-sts.md §8.3).
pub const CLAIM_BASED_ROLE_NAME: &str = "sts-claim-based";
/// `arn:aws:iam:::role/sts-claim-based`, the RoleArn SeaweedFS clients send for claim-based mode.
pub const CLAIM_BASED_ROLE_ARN: &str = "arn:aws:iam:::role/sts-claim-based";

impl RoleArn<'_> {
    /// The claim-based sentinel: no account and the reserved name, in either partition.
    pub fn is_claim_based(&self) -> bool {
        self.account.is_empty() && self.name == CLAIM_BASED_ROLE_NAME
    }
}

/// Accepts `arn:P:iam::role/X`, `arn:P:iam::123456789012:role/X` and `arn:P:iam:::role/X` with
/// `P` = `aws` or `seaweed`. The account, when present, is letters, digits and `-`; the name is not
/// empty, does not end with `/` and holds no whitespace or control character. Anything else
/// (another partition, a user ARN, a bare name) is `None`.
pub fn parse_role_arn(arn: &str) -> Option<RoleArn<'_>> {
    let (partition, rest) = if let Some(rest) = arn.strip_prefix("arn:aws:iam::") {
        (Partition::Aws, rest)
    } else if let Some(rest) = arn.strip_prefix("arn:seaweed:iam::") {
        (Partition::Seaweed, rest)
    } else {
        return None;
    };
    let (account, resource) = match rest.split_once(':') {
        Some((account, resource)) => (account, resource),
        None => ("", rest),
    };
    if !account
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return None;
    }
    let name = resource.strip_prefix("role/")?;
    if name.is_empty()
        || name.ends_with('/')
        || name.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return None;
    }
    Some(RoleArn {
        partition,
        account,
        name,
    })
}

/// The ARN stsd gives a role configured without `roleArn`.
pub fn default_role_arn(role_name: &str) -> String {
    format!("arn:aws:iam::role/{role_name}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parts(arn: &str) -> (Partition, &str, &str) {
        let p = parse_role_arn(arn).unwrap();
        (p.partition, p.account, p.name)
    }

    #[test]
    fn parses_the_seaweedfs_forms() {
        use Partition::{Aws, Seaweed};
        assert_eq!(parts("arn:aws:iam::role/X"), (Aws, "", "X"));
        assert_eq!(
            parts("arn:aws:iam::123456789012:role/X"),
            (Aws, "123456789012", "X")
        );
        assert_eq!(parts("arn:aws:iam:::role/X"), (Aws, "", "X"));
        assert_eq!(
            parts("arn:aws:iam::123:role/path/X"),
            (Aws, "123", "path/X")
        );
        assert_eq!(
            parts("arn:seaweed:iam::role/S3AdminRole"),
            (Seaweed, "", "S3AdminRole")
        );
        assert_eq!(
            parts("arn:seaweed:iam::123456789012:role/X"),
            (Seaweed, "123456789012", "X")
        );
    }

    #[test]
    fn rejects_other_forms() {
        for bad in [
            "arn:aws:iam::123:user/role/X",
            "arn:aws-cn:iam::123:role/X",
            "arn:seaweed:sts::role/X",
            "arn:aws:sts::123456789012:role/X",
            "X",
            "arn:aws:iam::role/",
            "arn:aws:iam::123:role/",
            "arn:aws:iam::123:role/path/",
            "arn:aws:iam::12:34:role/Xyzzy",
            "arn:aws:iam::role/has space",
            "",
        ] {
            assert_eq!(parse_role_arn(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_claim_based_sentinel_in_both_partitions() {
        assert!(parse_role_arn(CLAIM_BASED_ROLE_ARN)
            .unwrap()
            .is_claim_based());
        assert!(parse_role_arn("arn:seaweed:iam:::role/sts-claim-based")
            .unwrap()
            .is_claim_based());
        assert!(
            !parse_role_arn("arn:aws:iam::123456789012:role/sts-claim-based")
                .unwrap()
                .is_claim_based()
        );
    }

    #[test]
    fn partition_rewrites_only_aws_arns() {
        assert_eq!(
            Partition::Seaweed.apply("arn:aws:sts::assumed-role/R/s"),
            "arn:seaweed:sts::assumed-role/R/s"
        );
        assert_eq!(
            Partition::Aws.apply("arn:aws:sts::assumed-role/R/s"),
            "arn:aws:sts::assumed-role/R/s"
        );
    }
}
