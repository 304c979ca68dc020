//! Turns the decoded `iam.json` schema into the runtime [`IamConfig`], collecting every problem.

mod pod_identity;
mod policies;
mod providers;
mod role_mapping;
mod roles;
mod sts;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::access;
use super::duration::{self, RawDuration};
use super::model::{
    ClaimsMapping, IamConfig, NamedPolicy, OidcSettings, PodIdentityAssociation, ProviderKind,
    ProviderSpec, Role, RoleMapping, RoleMappingRule, StsSettings,
};
use super::problem::{join, nest, ConfigErrors, Problem};
use super::schema::{
    IamFile, PodIdentityAssociationEntry, PolicyClaimEntry, PolicyEntry, ProviderEntry, RoleEntry,
    RoleMappingEntry,
};
use super::subst::EnvLookup;
use super::Loaded;
use crate::arn::{default_role_arn, parse_role_arn, Partition};
use crate::jwks::JwsAlgorithm;
use crate::policy::PolicyDocument;
use crate::revocation::Revocations;
use crate::secret::SecretString;
use crate::session::{SecretDerivation, SigningKey};
use pod_identity::*;
use policies::*;
use providers::*;
use role_mapping::*;
use roles::*;
use sts::*;

/// Environment variable that overrides `sts.signingKey` and `sts.signingKeyFile`.
pub const SIGNING_KEY_ENV: &str = "STSD_SIGNING_KEY";

pub const DEFAULT_TOKEN_DURATION: Duration = Duration::from_secs(3600);
pub const DEFAULT_MAX_SESSION_LENGTH: Duration = Duration::from_secs(12 * 3600);
pub const DEFAULT_ISSUER: &str = "seaweedfs-sts";
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(60);
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);
pub use super::model::{DEFAULT_HTTP_TIMEOUT, DEFAULT_JWKS_CACHE_TTL};
/// AWS's bounds for a role's `MaxSessionDuration`.
pub const ROLE_MAX_SESSION_RANGE: (u64, u64) = (3600, 43200);

/// In-cluster defaults of a `kubernetes` provider (DESIGN.md §4).
/// The claim `"policyClaim": true` reads: WEKA's default roles claim.
pub const DEFAULT_POLICY_CLAIM: &str = "roles";
/// What an OIDC discovery URL ends with; the issuer is what comes before it.
const DISCOVERY_SUFFIX: &str = "/.well-known/openid-configuration";

pub const K8S_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
pub const K8S_JWKS_URI: &str = "https://kubernetes.default.svc/openid/v1/jwks";
pub const K8S_CA_CERT: &str = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
pub const K8S_TOKEN_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// Where validation reads what is not in the file itself.
pub struct ValidateContext<'a> {
    pub env: EnvLookup<'a>,
    /// Relative `signingKeyFile` paths are resolved against this directory (the config file's).
    pub base_dir: Option<&'a Path>,
}

/// Where each name was first given, for the "duplicate … (also <there>)" problems of provider
/// names, issuers, policy names and role names.
#[derive(Default)]
struct FirstSeen(HashMap<String, String>);

impl FirstSeen {
    /// Where `name` was given before; `None`, remembering `here`, the first time.
    fn earlier(&mut self, name: &str, here: &str) -> Option<String> {
        if let Some(first) = self.0.get(name) {
            return Some(first.clone());
        }
        self.0.insert(name.to_owned(), here.to_owned());
        None
    }
}

#[derive(Default)]
struct Collector {
    problems: Vec<Problem>,
    warnings: Vec<Problem>,
}

impl Collector {
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem::new(path, message));
    }

    fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Problem::new(path, message));
    }

    /// A duration value: `default` when absent; `None` (with a problem) when invalid.
    fn duration(
        &mut self,
        raw: Option<&RawDuration>,
        path: &str,
        default: Duration,
    ) -> Option<Duration> {
        match raw.map(RawDuration::to_duration) {
            None => Some(default),
            Some(Ok(d)) => Some(d),
            Some(Err(e)) => {
                self.err(path, e.to_string());
                None
            }
        }
    }

    fn positive_duration(
        &mut self,
        raw: Option<&RawDuration>,
        path: &str,
        default: Duration,
    ) -> Duration {
        match self.duration(raw, path, default) {
            Some(d) if d.is_zero() => {
                self.err(path, "must be greater than zero");
                default
            }
            Some(d) => d,
            None => default,
        }
    }
}

/// Validate a decoded file. `warnings` found earlier (unknown keys) are carried into the result.
pub fn validate(
    file: &IamFile,
    ctx: &ValidateContext<'_>,
    warnings: Vec<Problem>,
) -> Result<Loaded, ConfigErrors> {
    let mut c = Collector {
        problems: Vec::new(),
        warnings,
    };
    let sts = sts_settings(&mut c, file, ctx);
    let providers = providers(&mut c, file);
    let policies = policies(&mut c, &file.policies);
    let roles = roles(&mut c, &file.roles, &file.policies);
    check_role_mappings(&mut c, file, &roles);
    c.warnings
        .extend(super::gateway::gateway_warnings(&file.roles));
    let provider_names: Vec<&str> = provider_entries(file)
        .iter()
        .map(|(_, p)| p.name.as_str())
        .collect();
    let revoked = access::revocations(
        &mut c.problems,
        &mut c.warnings,
        &file.sts.revoked,
        &provider_names,
        &file.roles,
    );
    let pod_identity_associations =
        pod_identity_associations(&mut c, file, &file.pod_identity_associations);
    if let Some(effect) = file
        .policy
        .as_ref()
        .and_then(|p| p.get("defaultEffect"))
        .and_then(|v| v.as_str())
    {
        if effect.eq_ignore_ascii_case("allow") {
            c.warn(
                "policy.defaultEffect",
                "ignored: stsd always denies when no trust-policy statement allows",
            );
        }
    }
    match sts {
        Some(sts) if c.problems.is_empty() => Ok(Loaded {
            config: IamConfig {
                sts: StsSettings { revoked, ..sts },
                providers,
                policies,
                roles,
                pod_identity_associations,
            },
            warnings: c.warnings,
            seaweedfs_keys: Vec::new(),
        }),
        _ => Err(ConfigErrors {
            problems: c.problems,
            warnings: c.warnings,
        }),
    }
}
