//! Behaviour of the policy engine as a whole, with fixtures from the AWS IAM documentation.
