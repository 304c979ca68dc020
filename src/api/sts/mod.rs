//! The AWS STS query API (https://docs.aws.amazon.com/STS/latest/APIReference/) and its JSON twin.

pub mod action;
pub mod form;
pub mod handlers;
pub mod json;
pub mod xml;

pub use action::Action;
