//! Behaviour of the policy engine as a whole, with fixtures from the AWS IAM documentation.

use serde_json::{json, Value};

use super::*;

const ACTION: &str = "sts:AssumeRoleWithWebIdentity";
const EKS_ISSUER: &str = "https://oidc.example.com/id/ABC";
const EKS_PROVIDER_ARN: &str = "arn:aws:iam::123456789012:oidc-provider/oidc.example.com/id/ABC";

fn doc(value: Value) -> PolicyDocument {
    PolicyDocument::from_value(&value).expect("valid policy")
}

/// An Allow for any principal, guarded by one condition.
fn allow_if(operator: &str, key: &str, values: Value) -> PolicyDocument {
    doc(json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": "*",
            "Action": ACTION,
            "Condition": {operator: {key: values}}
        }]
    }))
}

fn run(policy: &PolicyDocument, federated: &[String], context: &Context) -> Evaluation {
    evaluate(
        policy,
        &EvalRequest {
            action: ACTION,
            federated,
            context,
        },
    )
}

fn passes(operator: &str, key: &str, values: Value, context: &Context) -> bool {
    run(&allow_if(operator, key, values), &[], context).is_allowed()
}

fn ctx(pairs: &[(&str, &str)]) -> Context {
    pairs.iter().map(|(k, v)| (*k, *v)).collect()
}

fn set(key: &str, values: &[&str]) -> Context {
    Context::new().with(key, values.to_vec())
}

// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_String
#[test]
fn string_operators() {
    let c = ctx(&[("aws:PrincipalTag/job-category", "iamuser-admin")]);
    let key = "aws:PrincipalTag/job-category";
    assert!(passes("StringEquals", key, json!("iamuser-admin"), &c));
    assert!(!passes("StringEquals", key, json!("IAMUSER-ADMIN"), &c));
    assert!(passes(
        "StringEquals",
        key,
        json!(["other", "iamuser-admin"]),
        &c
    ));
    assert!(!passes("StringNotEquals", key, json!("iamuser-admin"), &c));
    assert!(passes("StringNotEquals", key, json!(["a", "b"]), &c));
    assert!(!passes(
        "StringNotEquals",
        key,
        json!(["a", "iamuser-admin"]),
        &c
    ));
    assert!(passes(
        "StringEqualsIgnoreCase",
        key,
        json!("IAMUser-Admin"),
        &c
    ));
    assert!(!passes(
        "StringNotEqualsIgnoreCase",
        key,
        json!("IAMUser-Admin"),
        &c
    ));
    assert!(passes("StringNotEqualsIgnoreCase", key, json!("dev"), &c));
    assert!(passes("StringLike", key, json!("iamuser-*"), &c));
    assert!(passes("StringLike", key, json!("iamuser-?dmin"), &c));
    assert!(!passes("StringLike", key, json!("IAMUSER-*"), &c));
    assert!(
        !passes("StringLike", key, json!("iamuser"), &c),
        "Like needs a wildcard for partial matches"
    );
    assert!(passes("StringLikeIgnoreCase", key, json!("IAMUSER-*"), &c));
    assert!(!passes("StringNotLike", key, json!("*-admin"), &c));
    assert!(passes("StringNotLike", key, json!("*-viewer"), &c));
    assert!(!passes(
        "StringNotLikeIgnoreCase",
        key,
        json!("*-ADMIN"),
        &c
    ));
}

#[test]
fn string_operators_compare_numbers_and_booleans_by_their_json_text() {
    let c = ctx(&[
        ("sts:DurationSeconds", "3600"),
        ("aws:SecureTransport", "true"),
    ]);
    assert!(passes(
        "StringEquals",
        "sts:DurationSeconds",
        json!(3600),
        &c
    ));
    assert!(passes(
        "StringEquals",
        "aws:SecureTransport",
        json!(true),
        &c
    ));
}

// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Numeric
#[test]
fn numeric_operators() {
    let c = ctx(&[("s3:max-keys", "10")]);
    let key = "s3:max-keys";
    let cases = [
        ("NumericEquals", json!("10"), true),
        ("NumericEquals", json!(10.0), true),
        ("NumericEquals", json!("11"), false),
        ("NumericNotEquals", json!("11"), true),
        ("NumericNotEquals", json!(10), false),
        ("NumericLessThan", json!("11"), true),
        ("NumericLessThan", json!("10"), false),
        ("NumericLessThanEquals", json!("10"), true),
        ("NumericLessThanEquals", json!("9"), false),
        ("NumericGreaterThan", json!("9.5"), true),
        ("NumericGreaterThan", json!("10"), false),
        ("NumericGreaterThanEquals", json!("10"), true),
        ("NumericGreaterThanEquals", json!("10.5"), false),
        ("NumericEquals", json!("ten"), false),
    ];
    for (operator, value, expected) in cases {
        assert_eq!(
            passes(operator, key, value.clone(), &c),
            expected,
            "{operator} {value}"
        );
    }
    let not_a_number = ctx(&[("s3:max-keys", "many")]);
    assert!(!passes("NumericLessThan", key, json!("100"), &not_a_number));
}

// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Date
#[test]
fn date_operators() {
    let c = ctx(&[("aws:CurrentTime", "2020-05-01T12:00:00Z")]);
    let key = "aws:CurrentTime";
    let cases = [
        ("DateGreaterThan", json!("2020-04-01T00:00:00Z"), true),
        ("DateLessThan", json!("2020-06-30T23:59:59Z"), true),
        ("DateLessThan", json!("2020-04-30T23:59:59Z"), false),
        ("DateEquals", json!("2020-05-01T14:00:00+02:00"), true),
        ("DateNotEquals", json!("2020-05-01T12:00:00Z"), false),
        ("DateEquals", json!(1588334400), true),
        ("DateGreaterThanEquals", json!("1588334400"), true),
        ("DateLessThanEquals", json!("2020-05-01"), false),
        ("DateGreaterThan", json!("2020-05-01"), true),
        ("DateEquals", json!("not a date"), false),
    ];
    for (operator, value, expected) in cases {
        assert_eq!(
            passes(operator, key, value.clone(), &c),
            expected,
            "{operator} {value}"
        );
    }
    let epoch = ctx(&[("aws:EpochTime", "1588334400")]);
    assert!(passes(
        "DateEquals",
        "aws:EpochTime",
        json!("2020-05-01T12:00:00Z"),
        &epoch
    ));
}

// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Boolean
#[test]
fn bool_operator() {
    let secure = ctx(&[("aws:SecureTransport", "true")]);
    assert!(passes(
        "Bool",
        "aws:SecureTransport",
        json!("true"),
        &secure
    ));
    assert!(passes("Bool", "aws:SecureTransport", json!(true), &secure));
    assert!(!passes(
        "Bool",
        "aws:SecureTransport",
        json!("false"),
        &secure
    ));
    assert!(!passes(
        "Bool",
        "aws:SecureTransport",
        json!("false"),
        &Context::new()
    ));
    let garbage = ctx(&[("aws:SecureTransport", "yes")]);
    assert!(!passes(
        "Bool",
        "aws:SecureTransport",
        json!("true"),
        &garbage
    ));
}

// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Null
#[test]
fn null_operator() {
    let with_key = ctx(&[("aws:TokenIssueTime", "2020-01-01T00:00:00Z")]);
    let without = Context::new();
    assert!(passes(
        "Null",
        "aws:TokenIssueTime",
        json!("true"),
        &without
    ));
    assert!(!passes(
        "Null",
        "aws:TokenIssueTime",
        json!("true"),
        &with_key
    ));
    assert!(passes(
        "Null",
        "aws:TokenIssueTime",
        json!("false"),
        &with_key
    ));
    assert!(!passes(
        "Null",
        "aws:TokenIssueTime",
        json!(false),
        &without
    ));
    assert!(
        passes(
            "Null",
            "oidc:groups",
            json!("true"),
            &set("oidc:groups", &[])
        ),
        "an empty set counts as missing"
    );
}

// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_IPAddress
#[test]
fn ip_address_operators() {
    let v4 = ctx(&[("aws:SourceIp", "203.0.113.17")]);
    let v6 = ctx(&[("aws:SourceIp", "2001:db8:1234:5678::9")]);
    let key = "aws:SourceIp";
    assert!(passes("IpAddress", key, json!("203.0.113.0/24"), &v4));
    assert!(passes("IpAddress", key, json!("203.0.113.17"), &v4));
    assert!(!passes("IpAddress", key, json!("203.0.114.0/24"), &v4));
    assert!(passes(
        "IpAddress",
        key,
        json!(["198.51.100.0/24", "2001:DB8:1234:5678::/64"]),
        &v6
    ));
    assert!(!passes("NotIpAddress", key, json!("203.0.113.0/24"), &v4));
    assert!(passes("NotIpAddress", key, json!("192.0.2.0/24"), &v4));
    assert!(!passes("IpAddress", key, json!("not-an-ip"), &v4));
    assert!(!passes(
        "IpAddress",
        key,
        json!("0.0.0.0/0"),
        &ctx(&[(key, "localhost")])
    ));
}

// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_ARN
#[test]
fn arn_operators() {
    let c = ctx(&[(
        "aws:SourceArn",
        "arn:aws:sns:us-east-1:123456789012:my-topic",
    )]);
    let key = "aws:SourceArn";
    assert!(passes(
        "ArnEquals",
        key,
        json!("arn:aws:sns:us-east-1:123456789012:my-topic"),
        &c
    ));
    assert!(passes(
        "ArnLike",
        key,
        json!("arn:aws:sns:*:123456789012:*"),
        &c
    ));
    assert!(passes(
        "ArnLike",
        key,
        json!("arn:aws:sns:us-east-?:123456789012:my-*"),
        &c
    ));
    assert!(!passes(
        "ArnLike",
        key,
        json!("arn:aws:sns:*:999999999999:*"),
        &c
    ));
    // `*` cannot swallow the colon between components.
    assert!(!passes(
        "ArnLike",
        key,
        json!("arn:aws:*:123456789012:my-topic"),
        &c
    ));
    assert!(passes("ArnLike", key, json!("*"), &c));
    assert!(!passes(
        "ArnNotEquals",
        key,
        json!("arn:aws:sns:us-east-1:123456789012:my-topic"),
        &c
    ));
    assert!(passes("ArnNotLike", key, json!("arn:aws:sqs:*:*:*"), &c));
    let resource_with_colons = ctx(&[(key, "arn:aws:logs:us-east-1:123456789012:log-group:app:*")]);
    assert!(passes(
        "ArnLike",
        key,
        json!("arn:aws:logs:*:*:log-group:app:*"),
        &resource_with_colons
    ));
    assert!(!passes(
        "ArnLike",
        key,
        json!("arn:aws:sns:*:*:*"),
        &ctx(&[(key, "not-an-arn")])
    ));
}

// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
#[test]
fn for_any_value_and_for_all_values() {
    let key = "aws:TagKeys";
    let allowed = json!(["environment", "cost-center"]);
    let subset = set(key, &["environment"]);
    let mixed = set(key, &["environment", "owner"]);
    let empty = set(key, &[]);
    let missing = Context::new();

    assert!(passes(
        "ForAllValues:StringEquals",
        key,
        allowed.clone(),
        &subset
    ));
    assert!(!passes(
        "ForAllValues:StringEquals",
        key,
        allowed.clone(),
        &mixed
    ));
    assert!(
        passes("ForAllValues:StringEquals", key, allowed.clone(), &empty),
        "vacuously true"
    );
    assert!(
        passes("ForAllValues:StringEquals", key, allowed.clone(), &missing),
        "vacuously true"
    );

    assert!(passes(
        "ForAnyValue:StringEquals",
        key,
        allowed.clone(),
        &mixed
    ));
    assert!(!passes(
        "ForAnyValue:StringEquals",
        key,
        allowed.clone(),
        &set(key, &["owner"])
    ));
    assert!(!passes(
        "ForAnyValue:StringEquals",
        key,
        allowed.clone(),
        &empty
    ));
    assert!(!passes(
        "ForAnyValue:StringEquals",
        key,
        allowed.clone(),
        &missing
    ));

    // Negated operators apply per value: "some value is not listed" / "no value is listed".
    assert!(passes(
        "ForAnyValue:StringNotEquals",
        key,
        allowed.clone(),
        &mixed
    ));
    assert!(!passes(
        "ForAnyValue:StringNotEquals",
        key,
        allowed.clone(),
        &subset
    ));
    assert!(passes(
        "ForAllValues:StringNotEquals",
        key,
        allowed.clone(),
        &set(key, &["owner"])
    ));
    assert!(!passes(
        "ForAllValues:StringNotEquals",
        key,
        allowed.clone(),
        &mixed
    ));

    // Cognito-style `amr` (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_create_for-idp_oidc.html).
    let amr = set(
        "cognito-identity.amazonaws.com:amr",
        &["authenticated", "graph.facebook.com"],
    );
    assert!(passes(
        "ForAnyValue:StringLike",
        "cognito-identity.amazonaws.com:amr",
        json!("authenticated"),
        &amr
    ));
}

#[test]
fn unqualified_operators_on_a_set() {
    let audiences = set("oidc:aud", &["api", "sts"]);
    assert!(passes("StringEquals", "oidc:aud", json!("sts"), &audiences));
    // A negated operator without a qualifier fails as soon as any value matches.
    assert!(!passes(
        "StringNotEquals",
        "oidc:aud",
        json!("sts"),
        &audiences
    ));
    assert!(passes(
        "StringNotEquals",
        "oidc:aud",
        json!("web"),
        &audiences
    ));
}

// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_IfExists
#[test]
fn if_exists() {
    let missing = Context::new();
    let key = "ec2:InstanceType";
    assert!(passes(
        "StringLikeIfExists",
        key,
        json!(["t1.*", "t2.*"]),
        &missing
    ));
    assert!(passes(
        "StringLikeIfExists",
        key,
        json!(["t1.*", "t2.*"]),
        &ctx(&[(key, "t2.micro")])
    ));
    assert!(!passes(
        "StringLikeIfExists",
        key,
        json!(["t1.*", "t2.*"]),
        &ctx(&[(key, "m5.large")])
    ));
    assert!(passes(
        "NumericLessThanIfExists",
        "sts:DurationSeconds",
        json!(3600),
        &missing
    ));
    assert!(passes(
        "ForAnyValue:StringEqualsIfExists",
        "oidc:groups",
        json!("admins"),
        &missing
    ));
}

#[test]
fn missing_keys_fail_positive_operators_and_pass_negated_ones() {
    let missing = Context::new();
    for operator in [
        "StringEquals",
        "StringLike",
        "NumericEquals",
        "DateEquals",
        "IpAddress",
        "ArnLike",
        "Bool",
    ] {
        assert!(!passes(operator, "k", json!("1"), &missing), "{operator}");
    }
    for operator in [
        "StringNotEquals",
        "StringNotEqualsIgnoreCase",
        "StringNotLike",
        "NumericNotEquals",
        "DateNotEquals",
        "NotIpAddress",
        "ArnNotEquals",
        "ArnNotLike",
    ] {
        assert!(passes(operator, "k", json!("1"), &missing), "{operator}");
    }
}

#[test]
fn every_block_and_every_key_must_pass() {
    let policy = doc(json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": ACTION,
            "Condition": {
                "StringEquals": {"oidc:sub": "alice", "oidc:aud": "sts"},
                "StringLike": {"oidc:email": "*@example.com"}
            }
        }]
    }));
    let good = ctx(&[
        ("oidc:sub", "alice"),
        ("oidc:aud", "sts"),
        ("oidc:email", "a@example.com"),
    ]);
    assert!(run(&policy, &[], &good).is_allowed());
    let wrong_aud = ctx(&[
        ("oidc:sub", "alice"),
        ("oidc:aud", "web"),
        ("oidc:email", "a@example.com"),
    ]);
    assert!(!run(&policy, &[], &wrong_aud).is_allowed());
    let wrong_mail = ctx(&[
        ("oidc:sub", "alice"),
        ("oidc:aud", "sts"),
        ("oidc:email", "a@evil.test"),
    ]);
    assert!(!run(&policy, &[], &wrong_mail).is_allowed());
}

#[test]
fn condition_keys_are_case_insensitive() {
    let c = ctx(&[("oidc:sub", "system:serviceaccount:default:my-app")]);
    assert!(passes(
        "StringEquals",
        "OIDC:Sub",
        json!("system:serviceaccount:default:my-app"),
        &c
    ));
    let upper = ctx(&[("AWS:SourceIp", "10.0.0.1")]);
    assert!(passes(
        "IpAddress",
        "aws:sourceip",
        json!("10.0.0.0/8"),
        &upper
    ));
}

#[test]
fn unknown_operators_fail_closed() {
    let c = ctx(&[("k", "dGVzdA==")]);
    let policy = allow_if("BinaryEquals", "k", json!("dGVzdA=="));
    let evaluation = run(&policy, &[], &c);
    assert_eq!(evaluation.decision, Decision::ImplicitDeny);
    let StatementOutcome::ConditionFailed(failure) = &evaluation.statements[0].outcome else {
        panic!("unexpected outcome {:?}", evaluation.statements[0].outcome);
    };
    assert_eq!(failure.reason, FailureReason::UnsupportedOperator);
    assert_eq!(failure.operator, "BinaryEquals");
    assert_eq!(
        policy.validate_trust(),
        vec![PolicyError::new(
            "Statement[0].Condition.BinaryEquals",
            "unsupported condition operator"
        )]
    );
    // In a Deny an unknown operator also fails, so that Deny does not apply: IAM would have
    // refused the document, which is why validation reports it.
    assert!(!passes(
        "StringEqualsIfExist",
        "k",
        json!("x"),
        &Context::new()
    ));
}

// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
#[test]
fn an_explicit_deny_wins() {
    let policy = doc(json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "AllowAll", "Effect": "Allow", "Principal": "*", "Action": "sts:*"},
            {"Sid": "DenyIntruder", "Effect": "Deny", "Principal": "*", "Action": ACTION,
             "Condition": {"StringEquals": {"oidc:sub": "intruder"}}},
            {"Sid": "AllowAgain", "Effect": "Allow", "Principal": "*", "Action": "*"}
        ]
    }));
    let intruder = ctx(&[("oidc:sub", "intruder")]);
    assert_eq!(
        run(&policy, &[], &intruder).decision,
        Decision::ExplicitDeny { statement: 1 }
    );
    let friend = ctx(&[("oidc:sub", "friend")]);
    assert_eq!(
        run(&policy, &[], &friend).decision,
        Decision::Allow { statement: 0 }
    );
}

#[test]
fn nothing_matching_is_an_implicit_deny() {
    let policy = doc(json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}]
    }));
    let evaluation = run(&policy, &[], &Context::new());
    assert_eq!(evaluation.decision, Decision::ImplicitDeny);
    assert_eq!(
        evaluation.statements[0].outcome,
        StatementOutcome::ActionNotMatched
    );
    assert_eq!(
        evaluation.decision.to_string(),
        "no statement allows the request"
    );
}

#[test]
fn actions_match_case_insensitively_with_wildcards() {
    for action in [
        "sts:AssumeRoleWithWebIdentity",
        "STS:assumerolewithwebidentity",
        "sts:Assume*",
        "sts:*",
        "*",
        "sts:AssumeRoleWith???Identity",
    ] {
        let policy = doc(json!({"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": "*", "Action": [ "sts:TagSession", action ]}]}));
        assert!(run(&policy, &[], &Context::new()).is_allowed(), "{action}");
    }
}

// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notaction.html
#[test]
fn not_action() {
    let policy = doc(json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "NotAction": "sts:AssumeRole"}
    ]}));
    assert!(run(&policy, &[], &Context::new()).is_allowed());
    let excluded = doc(json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "NotAction": ["sts:Assume*"]}
    ]}));
    let evaluation = run(&excluded, &[], &Context::new());
    assert_eq!(
        evaluation.statements[0].outcome,
        StatementOutcome::ActionNotMatched
    );
    let neither =
        doc(json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*"}]}));
    assert!(!run(&neither, &[], &Context::new()).is_allowed());
}

#[test]
fn principals() {
    let federated = federated_identifiers("my-provider", EKS_ISSUER, Some("123456789012"));
    let decide = |principal: Value| {
        let policy = doc(json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": principal, "Action": ACTION}
        ]}));
        run(&policy, &federated, &Context::new()).is_allowed()
    };
    assert!(decide(json!("*")));
    assert!(decide(json!({"Federated": "*"})));
    assert!(decide(json!({"Federated": "my-provider"})));
    assert!(decide(json!({"Federated": EKS_ISSUER})));
    assert!(decide(json!({"Federated": ["other", EKS_PROVIDER_ARN]})));
    assert!(!decide(
        json!({"Federated": "arn:aws:iam::999999999999:oidc-provider/oidc.example.com/id/ABC"})
    ));
    assert!(!decide(json!({"Federated": "other-provider"})));
    assert!(!decide(json!({"Federated": "My-Provider"})));
    assert!(
        !decide(json!({"AWS": "*"})),
        "an AWS principal never names a web identity"
    );
    assert!(!decide(json!({"Service": "sts.amazonaws.com"})));
    assert!(
        decide(json!({"AWS": "arn:aws:iam::123456789012:root", "Federated": "my-provider"})),
        "types are alternatives"
    );
    assert!(!decide(json!({})));
}

#[test]
fn provider_arns_match_any_account_when_none_is_configured() {
    let federated = federated_identifiers("eks", EKS_ISSUER, None);
    assert_eq!(
        federated,
        [
            "eks",
            EKS_ISSUER,
            "arn:aws:iam:::oidc-provider/oidc.example.com/id/ABC"
        ]
    );
    let policy = doc(json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Federated": EKS_PROVIDER_ARN}, "Action": ACTION}
    ]}));
    assert!(run(&policy, &federated, &Context::new()).is_allowed());
    let other_host = federated_identifiers("eks", "https://oidc.example.com/id/XYZ", None);
    assert!(!run(&policy, &other_host, &Context::new()).is_allowed());
    assert_eq!(
        issuer_host_path("https://accounts.example.com/"),
        "accounts.example.com"
    );
}

// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html
#[test]
fn not_principal() {
    let federated = vec!["my-provider".to_owned()];
    let policy = |not_principal: Value| {
        doc(json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "NotPrincipal": not_principal, "Action": ACTION},
            {"Effect": "Allow", "Principal": "*", "Action": ACTION}
        ]}))
    };
    let evaluation = run(
        &policy(json!({"Federated": "my-provider"})),
        &federated,
        &Context::new(),
    );
    assert_eq!(evaluation.decision, Decision::Allow { statement: 1 });
    assert_eq!(
        evaluation.statements[0].outcome,
        StatementOutcome::PrincipalNotMatched
    );
    let evaluation = run(
        &policy(json!({"Federated": "someone-else"})),
        &federated,
        &Context::new(),
    );
    assert_eq!(evaluation.decision, Decision::ExplicitDeny { statement: 0 });
}

// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
#[test]
fn policy_variables() {
    let c = ctx(&[
        ("oidc:sub", "alice"),
        ("sts:RoleSessionName", "alice"),
        ("oidc:preferred_username", "*"),
        ("s3:prefix", "home/alice/docs"),
    ]);
    assert!(passes(
        "StringEquals",
        "sts:RoleSessionName",
        json!("${oidc:sub}"),
        &c
    ));
    assert!(passes(
        "StringLike",
        "s3:prefix",
        json!("home/${oidc:sub}/*"),
        &c
    ));
    assert!(
        !passes(
            "StringLike",
            "s3:prefix",
            json!("home/${oidc:preferred_username}/docs"),
            &c
        ),
        "a substituted `*` is literal, not a wildcard"
    );
    assert!(passes(
        "StringEquals",
        "k",
        json!("a${*}b${?}c${$}"),
        &ctx(&[("k", "a*b?c$")])
    ));
    assert!(!passes(
        "StringLike",
        "k",
        json!("a${*}"),
        &ctx(&[("k", "abc")])
    ));
    assert!(passes(
        "StringLike",
        "k",
        json!("a${*}"),
        &ctx(&[("k", "a*")])
    ));
    // Unresolvable variables make the value not match (so a negated operator passes).
    assert!(!passes(
        "StringEquals",
        "sts:RoleSessionName",
        json!("${oidc:missing}"),
        &c
    ));
    assert!(
        !passes(
            "StringEquals",
            "k",
            json!("${aws:TagKeys}"),
            &set("aws:TagKeys", &["a"]).with("k", "a")
        ),
        "a set does not substitute"
    );
    assert!(passes(
        "StringNotEquals",
        "sts:RoleSessionName",
        json!("${oidc:missing}"),
        &c
    ));
    assert!(passes(
        "StringEquals",
        "k",
        json!("${oidc:missing, 'fallback'}"),
        &ctx(&[("k", "fallback")])
    ));
    assert!(passes(
        "StringEquals",
        "k",
        json!("${OIDC:SUB}"),
        &ctx(&[("k", "alice"), ("oidc:sub", "alice")])
    ));
    assert!(passes(
        "StringEquals",
        "k",
        json!("${unclosed"),
        &ctx(&[("k", "${unclosed")])
    ));
}

// Fixtures from the seeds: a Kubernetes service-account trust policy keyed on `oidc:sub`.
#[test]
fn service_account_trust_policy() {
    let federated = federated_identifiers(
        "kubernetes",
        "https://kubernetes.default.svc.cluster.local",
        None,
    );
    let exact = doc(json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": "kubernetes"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {"oidc:sub": "system:serviceaccount:default:my-app"}}
        }]
    }));
    let namespace = doc(json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": "kubernetes"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringLike": {"oidc:sub": "system:serviceaccount:default:*"}}
        }]
    }));
    let my_app = ctx(&[("oidc:sub", "system:serviceaccount:default:my-app")]);
    let other_app = ctx(&[("oidc:sub", "system:serviceaccount:default:other")]);
    let other_ns = ctx(&[("oidc:sub", "system:serviceaccount:kube-system:my-app")]);
    assert!(run(&exact, &federated, &my_app).is_allowed());
    assert!(!run(&exact, &federated, &other_app).is_allowed());
    assert!(run(&namespace, &federated, &other_app).is_allowed());
    assert!(!run(&namespace, &federated, &other_ns).is_allowed());
    assert!(exact.validate_trust().is_empty());
    assert!(namespace.validate_trust().is_empty());
}

// An AWS-style EKS trust policy (https://docs.aws.amazon.com/eks/latest/userguide/associate-service-account-role.html
// and https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_create_for-idp_oidc.html) works unchanged.
#[test]
fn eks_style_trust_policy() {
    let policy = doc(json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": EKS_PROVIDER_ARN},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                "oidc.example.com/id/ABC:sub": "system:serviceaccount:default:my-app",
                "oidc.example.com/id/ABC:aud": "sts.amazonaws.com"
            }}
        }]
    }));
    assert!(policy.validate_trust().is_empty());
    let federated = federated_identifiers("eks", EKS_ISSUER, Some("123456789012"));
    let host = issuer_host_path(EKS_ISSUER);
    let good = Context::new()
        .with(
            format!("{host}:sub"),
            "system:serviceaccount:default:my-app",
        )
        .with(format!("{host}:aud"), "sts.amazonaws.com");
    assert_eq!(
        run(&policy, &federated, &good).decision,
        Decision::Allow { statement: 0 }
    );
    let wrong_aud = Context::new()
        .with(
            format!("{host}:sub"),
            "system:serviceaccount:default:my-app",
        )
        .with(format!("{host}:aud"), "other");
    let evaluation = run(&policy, &federated, &wrong_aud);
    assert_eq!(evaluation.decision, Decision::ImplicitDeny);
    assert_eq!(
        evaluation.statements[0].outcome,
        StatementOutcome::ConditionFailed(ConditionFailure {
            operator: "StringEquals".into(),
            key: "oidc.example.com/id/ABC:aud".into(),
            seen: Some(vec!["other".into()]),
            expected: vec!["sts.amazonaws.com".into()],
            reason: FailureReason::NotSatisfied,
        })
    );
    assert_eq!(
        evaluation.statements[0].to_string(),
        r#"statement 0 [Allow]: condition StringEquals on oidc.example.com/id/ABC:aud failed: saw ["other"], expected ["sts.amazonaws.com"]"#
    );
}

#[test]
fn traces_explain_every_statement() {
    let policy = doc(json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Other", "Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"},
            {"Sid": "Aws", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ACTION},
            {"Sid": "Groups", "Effect": "Allow", "Principal": "*", "Action": ACTION,
             "Condition": {"ForAnyValue:StringEquals": {"oidc:groups": "admins"}}},
            {"Effect": "Allow", "Principal": "*", "Action": ACTION}
        ]
    }));
    let evaluation = run(&policy, &[], &Context::new());
    assert_eq!(evaluation.decision, Decision::Allow { statement: 3 });
    let lines: Vec<String> = evaluation
        .statements
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        lines,
        [
            "statement 0 (Other) [Allow]: action not matched",
            "statement 1 (Aws) [Allow]: principal not matched",
            r#"statement 2 (Groups) [Allow]: condition ForAnyValue:StringEquals on oidc:groups failed: saw missing, expected ["admins"]"#,
            "statement 3 [Allow]: matched",
        ]
    );
    let json = serde_json::to_value(&evaluation).expect("serialisable");
    assert_eq!(json["decision"], json!({"effect": "allow", "statement": 3}));
    assert_eq!(
        json["statements"][2]["outcome"]["result"],
        "condition_failed"
    );
    assert_eq!(json["statements"][2]["outcome"]["seen"], Value::Null);
}

#[test]
fn trust_validation_reports_problems_with_paths() {
    let policy = doc(json!({
        "Version": "2012-10-18",
        "Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity"},
            {"Effect": "Allow", "Principal": "*", "NotPrincipal": {"AWS": "x"}},
            {"Effect": "Allow", "Principal": {"Federated": []}, "Action": ["s3:GetObject", "sts:*", "sts:Assume*", "sts:GetCallerIdentity"],
             "NotAction": "sts:TagSession"},
            {"Effect": "Allow", "Principal": "*", "Action": [],
             "Condition": {"NumericLessThan": {"sts:DurationSeconds": "soon"},
                           "IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "10.0.0.0/33"]},
                           "DateGreaterThan": {},
                           "StringEquals": {"oidc:sub": [], "oidc:aud": "${bad, default}"}}}
        ]
    }));
    let problems: Vec<String> = policy
        .validate_trust()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        problems,
        [
            "Version: must be \"2012-10-17\" or \"2008-10-17\"",
            "Statement[0].Principal: is required (or NotPrincipal)",
            "Statement[1].Action: is required (or NotAction)",
            "Statement[1].NotPrincipal: cannot be combined with Principal",
            "Statement[2].NotAction: cannot be combined with Action",
            "Statement[2].Principal: must not be empty",
            "Statement[2].Action[0]: \"s3:GetObject\" is not an STS action a trust policy can name",
            "Statement[2].Action[3]: \"sts:GetCallerIdentity\" is not an STS action a trust policy can name",
            "Statement[3].Action: must not be empty",
            "Statement[3].Condition.NumericLessThan.sts:DurationSeconds: \"soon\" is not a number",
            "Statement[3].Condition.IpAddress.aws:SourceIp[1]: \"10.0.0.0/33\" is not an IP address or CIDR block",
            "Statement[3].Condition.DateGreaterThan: must name at least one condition key",
            "Statement[3].Condition.StringEquals.oidc:sub: must have at least one value",
            "Statement[3].Condition.StringEquals.oidc:aud: \"${bad, default}\" is not a string with well-formed policy variables",
        ]
    );
}

#[test]
fn trust_validation_of_empty_documents() {
    let empty = doc(json!({}));
    assert_eq!(
        empty.validate_trust(),
        [
            PolicyError::new("Version", "is required"),
            PolicyError::new("Statement", "at least one statement is required"),
        ]
    );
    let single = doc(
        json!({"Version": "2008-10-17", "Statement": {"Effect": "Allow", "Action": "sts:AssumeRole"}}),
    );
    assert_eq!(
        single.validate_trust(),
        [PolicyError::new(
            "Statement.Principal",
            "is required (or NotPrincipal)"
        )]
    );
}

#[test]
fn session_validation_reports_problems_with_paths() {
    let good = doc(json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket/*"},
        {"Effect": "Deny", "NotAction": "s3:*", "NotResource": ["arn:aws:s3:::bucket"]}
    ]}));
    assert!(good.validate_session().is_empty());
    let bad = doc(json!({"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"},
        {"Effect": "Allow", "NotPrincipal": {"AWS": "x"}, "Resource": "*", "NotResource": "x"},
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "maybe"}}}
    ]}));
    let problems: Vec<String> = bad
        .validate_session()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        problems,
        [
            "Version: is required",
            "Statement[0].Principal: is not allowed in a session or identity policy",
            "Statement[0].Resource: is required (or NotResource)",
            "Statement[1].Action: is required (or NotAction)",
            "Statement[1].NotPrincipal: is not allowed in a session or identity policy",
            "Statement[1].NotResource: cannot be combined with Resource",
            "Statement[2].Condition.Bool.aws:SecureTransport: \"maybe\" is not \"true\" or \"false\"",
        ]
    );
}

// The form SeaweedFS embeds as `spol` (Go json.Marshal of its PolicyDocument struct).
#[test]
fn normalized_json_follows_seaweedfs() {
    let policy = PolicyDocument::parse(
        r#"{
            "Statement": [{
                "Resource": "arn:aws:s3:::bucket/<tag>&more",
                "Condition": {
                    "StringLike": {"s3:prefix": ["home/${aws:username}/*"]},
                    "NumericLessThan": {"s3:max-keys": 10.0},
                    "Bool": {"aws:SecureTransport": true}
                },
                "Action": "s3:GetObject",
                "Effect": "Allow",
                "Sid": "Read"
            }],
            "Id": "p1",
            "Version": "2012-10-17"
        }"#,
    )
    .expect("valid");
    assert_eq!(
        policy.normalized_json(),
        r#"{"Version":"2012-10-17","Id":"p1","Statement":[{"Sid":"Read","Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::bucket/\u003ctag\u003e\u0026more"],"Condition":{"Bool":{"aws:SecureTransport":true},"NumericLessThan":{"s3:max-keys":10},"StringLike":{"s3:prefix":["home/${aws:username}/*"]}}}]}"#
    );
}

#[test]
fn normalized_json_of_a_trust_policy() {
    let policy = doc(json!({
        "Version": "2012-10-17",
        "Statement": {
            "Sid": "",
            "Effect": "Deny",
            "Principal": {"Service": "x", "AWS": ["a", "b"]},
            "NotPrincipal": "*",
            "NotAction": "sts:TagSession",
            "NotResource": [],
            "Condition": {}
        }
    }));
    assert_eq!(
        policy.normalized_json(),
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":{"AWS":["a","b"],"Service":"x"},"NotPrincipal":"*","Action":null,"NotAction":["sts:TagSession"],"Resource":null}]}"#
    );
    let minimal = doc(json!({"Statement": [{"Effect": "Allow", "Action": [], "Resource": "*"}]}));
    assert_eq!(
        minimal.normalized_json(),
        r#"{"Version":"","Statement":[{"Effect":"Allow","Action":[],"Resource":["*"]}]}"#
    );
}

#[test]
fn hostile_nesting_is_a_policy_error() {
    for text in [
        "[".repeat(10_000),
        "{\"a\":".repeat(10_000),
        format!(
            r#"{{"Version":"2012-10-17","Statement":{}"#,
            "[".repeat(10_000)
        ),
    ] {
        let error = PolicyDocument::parse(&text).expect_err("refused");
        assert_eq!(error.path, "");
        assert_eq!(
            error.message,
            format!("policy document is nested deeper than {MAX_DEPTH} levels")
        );
    }
    // Within our depth limit but still malformed: an ordinary error, no panic.
    let error = PolicyDocument::parse(&"[".repeat(MAX_DEPTH)).expect_err("refused");
    assert!(
        error.message.starts_with("invalid JSON"),
        "{}",
        error.message
    );
}

#[test]
fn policy_errors_display_with_their_path() {
    assert_eq!(
        PolicyError::new("Statement[0].Effect", "is required").to_string(),
        "Statement[0].Effect: is required"
    );
    assert_eq!(
        PolicyError::new("", "invalid JSON: x").to_string(),
        "invalid JSON: x"
    );
}

// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_sid.html
#[test]
fn sids_must_be_unique() {
    let policy = doc(json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "A", "Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"},
        {"Sid": "", "Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"},
        {"Sid": "", "Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"},
        {"Sid": "A", "Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole"}
    ]}));
    assert_eq!(
        policy.validate_trust(),
        [PolicyError::new(
            "Statement[3].Sid",
            "duplicates the Sid of Statement[0]"
        )]
    );
    assert_eq!(
        policy.validate_session()[0],
        PolicyError::new(
            "Statement[0].Principal",
            "is not allowed in a session or identity policy"
        )
    );
}

mod properties {
    use proptest::prelude::*;
    use serde_json::{json, Value};

    use super::super::PolicyDocument;

    fn text() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9:/*?<>&\"\\\\é\u{2028}\n-]{0,12}"
    }

    fn list() -> impl Strategy<Value = Value> {
        prop_oneof![
            text().prop_map(Value::from),
            prop::collection::vec(text(), 1..4).prop_map(Value::from),
        ]
    }

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            text().prop_map(Value::from),
            any::<i32>().prop_map(Value::from),
            // Short mantissas only: serde_json (without `float_roundtrip`) may misround long ones.
            (-1_000_000i64..1_000_000).prop_map(|n| Value::from(n as f64 / 8.0)),
            (-9i64..10).prop_map(|n| Value::from(n as f64 * 1e22)),
            (1i64..10).prop_map(|n| Value::from(n as f64 / 1e8)),
            any::<bool>().prop_map(Value::from),
        ]
    }

    fn condition() -> impl Strategy<Value = Value> {
        let operator = prop::sample::select(vec![
            "StringEquals",
            "ForAnyValue:StringLike",
            "NumericLessThan",
            "Bool",
            "BinaryEquals",
        ]);
        let values = prop_oneof![
            scalar(),
            prop::collection::vec(scalar(), 0..3).prop_map(Value::from)
        ];
        prop::collection::btree_map(
            operator,
            prop::collection::btree_map(text(), values, 0..3),
            0..3,
        )
        .prop_map(|blocks| serde_json::to_value(blocks).unwrap_or(Value::Null))
    }

    fn statement() -> impl Strategy<Value = Value> {
        (
            prop::option::of(text()),
            any::<bool>(),
            list(),
            list(),
            prop::option::of(list()),
            condition(),
        )
            .prop_map(|(sid, allow, action, resource, not_action, condition)| {
                let mut statement = json!({
                    "Effect": if allow { "Allow" } else { "Deny" },
                    "Action": action,
                    "Resource": resource,
                    "Condition": condition,
                });
                if let Some(sid) = sid {
                    statement["Sid"] = sid.into();
                }
                if let Some(not_action) = not_action {
                    statement["NotAction"] = not_action;
                }
                statement
            })
    }

    proptest! {
        #[test]
        fn parsing_arbitrary_text_never_panics(text in "[\\[\\]{}\":,a-zA-Z0-9 .\\\\-]{0,200}") {
            let _ = PolicyDocument::parse(&text);
        }

        #[test]
        fn normalisation_is_idempotent_and_valid_json(
            statements in prop::collection::vec(statement(), 1..4),
            id in prop::option::of(text()),
        ) {
            let mut value = json!({"Version": "2012-10-17", "Statement": statements});
            if let Some(id) = id {
                value["Id"] = id.into();
            }
            let document = PolicyDocument::from_value(&value).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let normalized = document.normalized_json();
            let reparsed = PolicyDocument::parse(&normalized).map_err(|e| TestCaseError::fail(format!("{e}: {normalized}")))?;
            prop_assert_eq!(reparsed.normalized_json(), normalized.clone());
            prop_assert_eq!(reparsed.statements.len(), document.statements.len());
            prop_assert!(!normalized.contains('<') && !normalized.contains('>') && !normalized.contains('&'));
        }
    }
}

#[test]
fn context_keys_are_the_condition_keys_and_the_variables_in_values() {
    let policy = doc(json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Federated": "k8s"}, "Action": "sts:AssumeRoleWithWebIdentity",
         "Condition": {"StringEquals": {"oidc:Sub": "${aws:userid}", "oidc:aud": ["a", "${oidc:azp, 'x'}"]}}},
        {"Effect": "Deny", "Principal": "*", "Action": "sts:*",
         "Condition": {"StringLike": {"OIDC:SUB": "pre-${ oidc:kubernetes.io/namespace }-${*}"}}},
        {"Effect": "Allow", "Principal": "*", "Action": "sts:*"}
    ]}));
    assert_eq!(
        policy.context_keys(),
        ContextKeys::Only(vec![
            "aws:userid".into(),
            "oidc:aud".into(),
            "oidc:azp".into(),
            "oidc:kubernetes.io/namespace".into(),
            "oidc:sub".into(),
        ])
    );
    let unconditional = doc(json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "sts:*"}]}));
    assert_eq!(unconditional.context_keys(), ContextKeys::Only(vec![]));
}
