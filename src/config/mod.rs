//! iam.json: a serde schema mirroring SeaweedFS's file, validated into runtime types that cannot
//! hold an invalid state.
//!
//! Loading runs in stages, each reporting every problem it finds with its path in the file:
//! JSON parse → `${VAR}` substitution ([`subst`]) → shape check and unknown-key warnings
//! ([`schema`]) → decoding → [`validate`]. Type errors stop the pipeline before validation, so a
//! file with a wrong-typed value shows its type errors first and its semantic ones after the fix.

mod access;
pub mod duration;
pub mod gateway;
pub mod model;
pub mod problem;
pub mod report;
pub mod schema;
pub mod subst;
pub mod validate;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

use std::path::Path;

use serde_json::Value;

pub use model::*;
pub use problem::{ConfigErrors, Problem};
pub use report::report;
pub use subst::EnvLookup;
pub use validate::{ValidateContext, SIGNING_KEY_ENV};

pub(crate) use problem::join;

/// A valid configuration and the warnings found on the way (unknown keys and the like).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: IamConfig,
    pub warnings: Vec<Problem>,
    /// Paths of SeaweedFS settings stsd does not use (`roleStore`, LDAP keys, …): listed by
    /// `check-config` as such, not warned about as typos.
    pub seaweedfs_keys: Vec<String>,
}

/// Load `iam.json` from disk, substituting `${VAR}` from the process environment; a relative
/// `sts.signingKeyFile` is resolved against the file's directory.
pub fn load_file(path: impl AsRef<Path>) -> Result<Loaded, ConfigErrors> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors::single(Problem::new(
            "",
            format!("cannot read {}: {e}", path.display()),
        ))
    })?;
    let env = |name: &str| std::env::var(name).ok();
    let ctx = ValidateContext {
        env: &env,
        base_dir: path.parent(),
    };
    load_with(&text, &path.display().to_string(), &ctx)
}

/// Load `iam.json` from text. `env` answers both `${VAR}` references and `STSD_SIGNING_KEY`.
pub fn load_str(
    text: &str,
    source_name: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, ConfigErrors> {
    let ctx = ValidateContext {
        env,
        base_dir: None,
    };
    load_with(text, source_name, &ctx)
}

/// [`load_str`] with full control over where external values come from.
pub fn load_with(
    text: &str,
    source_name: &str,
    ctx: &ValidateContext<'_>,
) -> Result<Loaded, ConfigErrors> {
    let mut root: Value = serde_json::from_str(text).map_err(|e| {
        ConfigErrors::single(Problem::new(
            "",
            format!("{source_name} is not valid JSON: {e}"),
        ))
    })?;
    if !root.is_object() {
        return Err(ConfigErrors::single(Problem::new(
            "",
            format!("{source_name} must contain a JSON object"),
        )));
    }
    // A repeated key would silently keep only its last value: in a trust policy that can drop
    // a condition and widen who may assume the role.
    if crate::policy::repeats_a_key(text) {
        return Err(ConfigErrors::single(Problem::new(
            "",
            format!("{source_name}: an object names the same key twice"),
        )));
    }
    let mut problems = subst::substitute_tree(&mut root, ctx.env);
    schema::strip_nulls(&mut root);
    let mut shape = schema::check_shape(&root);
    problems.append(&mut shape.errors);
    if !problems.is_empty() {
        return Err(ConfigErrors {
            problems,
            warnings: shape.warnings,
        });
    }
    let file = schema::decode(root, &mut shape).map_err(|p| ConfigErrors {
        problems: vec![p],
        warnings: shape.warnings.clone(),
    })?;
    let mut loaded = validate::validate(&file, ctx, shape.warnings)?;
    loaded.seaweedfs_keys = shape.seaweedfs_keys;
    Ok(loaded)
}

const DEV_JSON: &str = include_str!("../../config/dev.json");

/// The embedded development configuration (`stsd serve --dev`): a `mock` provider, the role
/// `arn:aws:iam::role/DevRole` and an S3 policy, signed with `signing_key_b64`.
pub fn try_dev_config(signing_key_b64: &str) -> Result<Loaded, ConfigErrors> {
    let env = |name: &str| (name == SIGNING_KEY_ENV).then(|| signing_key_b64.to_string());
    load_str(DEV_JSON, "dev.json", &env)
}

/// [`try_dev_config`] for a key the program generated itself.
///
/// # Panics
/// When `signing_key_b64` is not padded standard base64 of at least 32 bytes: the embedded file
/// is covered by tests, so only a bad key from the caller can fail here.
pub fn dev_config(signing_key_b64: &str) -> Loaded {
    match try_dev_config(signing_key_b64) {
        Ok(loaded) => loaded,
        Err(e) => panic!("development config rejected: {e}"),
    }
}

impl IamConfig {
    /// Names of enabled `mock` providers; a non-empty answer needs `--allow-mock-providers`.
    pub fn enabled_mock_providers(&self) -> Vec<&str> {
        self.providers
            .iter()
            .filter(|p| p.enabled && p.kind == ProviderKind::Mock)
            .map(|p| p.name.as_str())
            .collect()
    }

    /// The role a request's `RoleArn` names: the configured `roleArn` exactly, else any valid
    /// role ARN form whose role name is a configured `roleName` (seaweedfs-sts.md §9: SeaweedFS
    /// looks roles up by the name in the ARN, whatever its account part).
    pub fn role_by_arn(&self, arn: &str) -> Option<&Role> {
        if let Some(role) = self.roles.iter().find(|r| r.role_arn == arn) {
            return Some(role);
        }
        let parsed = crate::arn::parse_role_arn(arn)?;
        self.roles.iter().find(|r| r.role_name == parsed.name)
    }

    /// The provider whose issuer is exactly `issuer` (enabled or not).
    pub fn provider_by_issuer(&self, issuer: &str) -> Option<&ProviderSpec> {
        self.providers.iter().find(|p| p.settings.issuer == issuer)
    }

    pub fn provider_by_name(&self, name: &str) -> Option<&ProviderSpec> {
        self.providers.iter().find(|p| p.name == name)
    }

    pub fn policy(&self, name: &str) -> Option<&NamedPolicy> {
        self.policies.iter().find(|p| p.name == name)
    }
}
