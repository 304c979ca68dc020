//! Turns the decoded `iam.json` schema into the runtime [`IamConfig`], collecting every problem.

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

/// Environment variable that overrides `sts.signingKey` and `sts.signingKeyFile`.
pub const SIGNING_KEY_ENV: &str = "STSD_SIGNING_KEY";

pub const DEFAULT_TOKEN_DURATION: Duration = Duration::from_secs(3600);
pub const DEFAULT_MAX_SESSION_LENGTH: Duration = Duration::from_secs(12 * 3600);
pub const DEFAULT_ISSUER: &str = "seaweedfs-sts";
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(60);
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);
pub const DEFAULT_JWKS_CACHE_TTL: Duration = Duration::from_secs(3600);
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(5);
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

fn sts_settings(
    c: &mut Collector,
    file: &IamFile,
    ctx: &ValidateContext<'_>,
) -> Option<StsSettings> {
    let s = &file.sts;
    let token_duration = c.positive_duration(
        s.token_duration.as_ref(),
        "sts.tokenDuration",
        DEFAULT_TOKEN_DURATION,
    );
    let max_session_length = c.positive_duration(
        s.max_session_length.as_ref(),
        "sts.maxSessionLength",
        DEFAULT_MAX_SESSION_LENGTH,
    );
    if token_duration > max_session_length {
        c.warn(
            "sts.tokenDuration",
            format!(
                "longer than sts.maxSessionLength ({}); sessions are capped to it",
                duration::format(max_session_length)
            ),
        );
    }
    let issuer = match s.issuer.as_deref() {
        None => DEFAULT_ISSUER.to_string(),
        Some(i) if i.trim().is_empty() => {
            c.err("sts.issuer", "must not be empty");
            String::new()
        }
        Some(i) => i.to_string(),
    };
    let clock_skew = match c.duration(s.clock_skew.as_ref(), "sts.clockSkew", DEFAULT_CLOCK_SKEW) {
        Some(d) if d > MAX_CLOCK_SKEW => {
            c.err("sts.clockSkew", "must be at most 5m");
            d
        }
        Some(d) => d,
        None => DEFAULT_CLOCK_SKEW,
    };
    let secret_derivation = secret_derivation(c, s.secret_derivation.as_deref());
    let account_id = s.account_id.clone();
    if let Some(a) = &account_id {
        if a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()) {
            c.err("sts.accountId", "must be 12 digits");
        }
    }
    let rate_limits = access::rate_limits(&mut c.problems, s.rate_limits.as_ref());
    let signing_key = signing_key(c, file, ctx);
    let mut previous_signing_keys = Vec::new();
    for (i, k) in s.previous_signing_keys.iter().enumerate() {
        let path = format!("sts.previousSigningKeys[{i}]");
        match SigningKey::from_base64(k.expose()) {
            Ok(key) => {
                if signing_key.as_ref() == Some(&key) {
                    c.warn(path, "same as the current signing key");
                } else {
                    previous_signing_keys.push(key);
                }
            }
            Err(e) => c.err(path, e.to_string()),
        }
    }
    Some(StsSettings {
        token_duration,
        max_session_length,
        issuer,
        signing_key: signing_key?,
        previous_signing_keys,
        account_id,
        clock_skew,
        secret_derivation,
        rate_limits,
        revoked: Revocations::default(),
    })
}

/// `sts.secretDerivation`: the mode names the SeaweedFS gateways that accept its credentials, and
/// the choice is reported as a warning where it leaves the secret computable from the token.
fn secret_derivation(c: &mut Collector, value: Option<&str>) -> SecretDerivation {
    const PATH: &str = "sts.secretDerivation";
    const MODES: &str = "use \"seaweedfs\" (SeaweedFS 4.48 and later: the secret is keyed by \
                         the signing key) or \"seaweedfs-legacy\" (SeaweedFS 4.47 and earlier)";
    match value {
        None | Some("seaweedfs") => SecretDerivation::SeaweedFs,
        Some("seaweedfs-legacy") => {
            c.warn(
                PATH,
                "\"seaweedfs-legacy\" serves SeaweedFS 4.47 and earlier, whose secret access key \
                 anyone who sees a session token (presigned URLs carry it) can compute; after \
                 upgrading the gateways to 4.48, remove this key or set it to \"seaweedfs\"",
            );
            SecretDerivation::SeaweedFsLegacy
        }
        Some("hmac") => {
            c.err(
                PATH,
                format!(
                    "\"hmac\" is no longer offered: it keyed the access key id, which no \
                     SeaweedFS release accepts; \"seaweedfs\" now keys the secret; {MODES}"
                ),
            );
            SecretDerivation::SeaweedFs
        }
        Some(other) => {
            c.err(PATH, format!("unknown mode {other:?}; {MODES}"));
            SecretDerivation::SeaweedFs
        }
    }
}

// Messages here come from `SigningKeyError`, which never quotes the key.
fn signing_key(c: &mut Collector, file: &IamFile, ctx: &ValidateContext<'_>) -> Option<SigningKey> {
    let s = &file.sts;
    if let Some(text) = (ctx.env)(SIGNING_KEY_ENV).filter(|v| !v.trim().is_empty()) {
        let text = SecretString::new(text);
        return SigningKey::from_base64(text.expose())
            .map_err(|e| c.err(format!("{SIGNING_KEY_ENV} (environment)"), e.to_string()))
            .ok();
    }
    match (&s.signing_key, &s.signing_key_file) {
        (Some(_), Some(_)) => {
            c.err(
                "sts.signingKeyFile",
                "set either sts.signingKey or sts.signingKeyFile, not both",
            );
            None
        }
        (Some(key), None) => SigningKey::from_base64(key.expose())
            .map_err(|e| c.err("sts.signingKey", e.to_string()))
            .ok(),
        (None, Some(file_name)) => {
            let mut path = PathBuf::from(file_name);
            if path.is_relative() {
                if let Some(base) = ctx.base_dir {
                    path = base.join(path);
                }
            }
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    let text = SecretString::new(text);
                    SigningKey::from_base64(text.expose())
                        .map_err(|e| {
                            c.err("sts.signingKeyFile", format!("{}: {e}", path.display()))
                        })
                        .ok()
                }
                Err(e) => {
                    c.err(
                        "sts.signingKeyFile",
                        format!("cannot read {}: {e}", path.display()),
                    );
                    None
                }
            }
        }
        (None, None) => {
            c.err(
                "sts.signingKey",
                format!("required (or sts.signingKeyFile, or the {SIGNING_KEY_ENV} environment variable)"),
            );
            None
        }
    }
}

/// Both provider lists with the path prefix each entry is reported under.
fn provider_entries(file: &IamFile) -> Vec<(String, &ProviderEntry)> {
    let sts = file
        .sts
        .providers
        .iter()
        .enumerate()
        .map(|(i, p)| (format!("sts.providers[{i}]"), p));
    let top = file
        .providers
        .iter()
        .enumerate()
        .map(|(i, p)| (format!("providers[{i}]"), p));
    sts.chain(top).collect()
}

fn parse_kind(kind: &str) -> Option<ProviderKind> {
    match kind {
        "oidc" => Some(ProviderKind::Oidc),
        "kubernetes" => Some(ProviderKind::Kubernetes),
        "mock" => Some(ProviderKind::Mock),
        _ => None,
    }
}

fn effective_issuer(entry: &ProviderEntry) -> Option<String> {
    match (&entry.config.issuer, parse_kind(&entry.kind)) {
        (Some(i), _) => Some(i.clone()),
        (None, Some(ProviderKind::Kubernetes)) => Some(K8S_ISSUER.to_string()),
        (None, _) => None,
    }
}

fn providers(c: &mut Collector, file: &IamFile) -> Vec<ProviderSpec> {
    let entries = provider_entries(file);
    let mut names: HashMap<&str, &str> = HashMap::new();
    let mut issuers: HashMap<String, &str> = HashMap::new();
    for (path, entry) in &entries {
        if !entry.name.is_empty() {
            if let Some(first) = names.get(entry.name.as_str()) {
                c.err(
                    join(path, "name"),
                    format!("duplicate provider name {:?} (also {first})", entry.name),
                );
            } else {
                names.insert(&entry.name, path);
            }
        }
        if let Some(issuer) = effective_issuer(entry).filter(|i| !i.is_empty()) {
            if let Some(first) = issuers.get(&issuer) {
                c.err(
                    join(path, "config.issuer"),
                    format!(
                        "duplicate issuer {issuer:?} (also {first}); tokens are routed by issuer"
                    ),
                );
            } else {
                issuers.insert(issuer, path);
            }
        }
    }
    entries
        .iter()
        .filter_map(|(path, entry)| provider(c, path, entry))
        .collect()
}

fn check_url(c: &mut Collector, path: &str, value: &str) {
    let ok = url::Url::parse(value)
        .map(|u| {
            matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty())
        })
        .unwrap_or(false);
    if !ok {
        c.err(path, format!("{value:?} is not an http(s) URL"));
    }
}

fn non_empty_list(c: &mut Collector, path: &str, items: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if item.trim().is_empty() {
            c.err(format!("{path}[{i}]"), "must not be empty");
        } else if !out.contains(item) {
            out.push(item.clone());
        }
    }
    out
}

fn allowed_algorithms(
    c: &mut Collector,
    path: &str,
    names: Option<&Vec<String>>,
) -> Vec<JwsAlgorithm> {
    let Some(names) = names else {
        return JwsAlgorithm::ALL.to_vec();
    };
    if names.is_empty() {
        c.err(
            path,
            "must list at least one algorithm (omit the key for the default set)",
        );
    }
    let mut out = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let item = format!("{path}[{i}]");
        match name.parse::<JwsAlgorithm>() {
            Ok(a) => {
                if !out.contains(&a) {
                    out.push(a);
                }
            }
            Err(()) if name.to_ascii_uppercase().starts_with("HS") => c.err(
                item,
                format!(
                    "{name} is not allowed: HMAC algorithms need a secret shared with the identity \
                     provider, and anyone who can verify such a token can also forge one"
                ),
            ),
            Err(()) if name.eq_ignore_ascii_case("none") => c.err(
                item,
                "\"none\" is not allowed: unsigned tokens prove nothing",
            ),
            Err(()) => {
                let supported: Vec<&str> = JwsAlgorithm::ALL.iter().map(|a| a.name()).collect();
                c.err(
                    item,
                    format!(
                        "unknown algorithm {name:?}; supported: {}",
                        supported.join(", ")
                    ),
                )
            }
        }
    }
    out
}

fn role_mapping(c: &mut Collector, path: &str, m: &RoleMappingEntry) -> RoleMapping {
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

fn provider(c: &mut Collector, path: &str, entry: &ProviderEntry) -> Option<ProviderSpec> {
    let start = c.problems.len();
    let cfg_path = join(path, "config");
    let cfg = &entry.config;
    if entry.name.trim().is_empty() {
        c.err(join(path, "name"), "required");
    }
    let kind = match parse_kind(&entry.kind) {
        Some(k) => k,
        None => {
            if entry.kind.is_empty() {
                c.err(join(path, "type"), "required: oidc, kubernetes or mock");
            } else {
                c.err(
                    join(path, "type"),
                    format!(
                        "unsupported provider type {:?}; stsd supports oidc, kubernetes and mock",
                        entry.kind
                    ),
                );
            }
            return None;
        }
    };
    let enabled = entry.enabled.unwrap_or(true);
    let is_k8s = kind == ProviderKind::Kubernetes;

    let issuer = match (&cfg.issuer, is_k8s) {
        (Some(i), _) => i.clone(),
        (None, true) => K8S_ISSUER.to_string(),
        (None, false) => {
            c.err(join(&cfg_path, "issuer"), "required");
            String::new()
        }
    };
    if !issuer.is_empty() && kind != ProviderKind::Mock {
        check_url(c, &join(&cfg_path, "issuer"), &issuer);
        if issuer.starts_with("http://") && enabled {
            c.warn(
                join(&cfg_path, "issuer"),
                "plain HTTP: discovery and signing keys are fetched without TLS, so anyone on \
                 the path can substitute keys and have any token accepted; use https",
            );
        }
    } else if cfg.issuer.as_deref() == Some("") {
        c.err(join(&cfg_path, "issuer"), "must not be empty");
    }
    // WEKA and most IdP consoles hand out the discovery URL; a token's `iss` never ends so.
    if let Some(base) = issuer.trim_end_matches('/').strip_suffix(DISCOVERY_SUFFIX) {
        c.err(
            join(&cfg_path, "issuer"),
            format!(
                "this is the discovery URL, not the issuer: write \"issuer\": \"{base}\" \
                 (stsd fetches {base}{DISCOVERY_SUFFIX} itself)"
            ),
        );
    }

    let mut client_ids = Vec::new();
    if let Some(id) = &cfg.client_id {
        if id.trim().is_empty() {
            c.err(join(&cfg_path, "clientId"), "must not be empty");
        } else {
            client_ids.push(id.clone());
        }
    }
    for id in non_empty_list(c, &join(&cfg_path, "clientIds"), &cfg.client_ids) {
        if !client_ids.contains(&id) {
            client_ids.push(id);
        }
    }
    if client_ids.is_empty() && cfg.client_id.is_none() && cfg.client_ids.is_empty() {
        c.err(
            join(&cfg_path, "clientId"),
            "at least one client id is required (clientId or clientIds): tokens must carry one as audience",
        );
    }

    let jwks_uri = cfg
        .jwks_uri
        .clone()
        .or_else(|| is_k8s.then(|| K8S_JWKS_URI.to_string()));
    if let Some(u) = &jwks_uri {
        check_url(c, &join(&cfg_path, "jwksUri"), u);
    }
    if let Some(u) = &cfg.user_info_uri {
        check_url(c, &join(&cfg_path, "userInfoUri"), u);
    }
    let tls_ca_cert = cfg
        .tls_ca_cert
        .clone()
        .or_else(|| is_k8s.then(|| K8S_CA_CERT.to_string()))
        .map(PathBuf::from);
    let bearer_token_file = cfg
        .bearer_token_file
        .clone()
        .or_else(|| is_k8s.then(|| K8S_TOKEN_FILE.to_string()))
        .map(PathBuf::from);
    let tls_insecure_skip_verify = cfg.tls_insecure_skip_verify.unwrap_or(false);
    if tls_insecure_skip_verify {
        c.warn(
            join(&cfg_path, "tlsInsecureSkipVerify"),
            "TLS certificates of this provider are not verified; anyone on the path can serve keys",
        );
    }
    let mut thumbprints = Vec::new();
    for (i, t) in cfg.thumbprints.iter().enumerate() {
        // Fingerprints are often copied with colons (`openssl x509 -fingerprint`).
        let hex: String = t.chars().filter(|ch| *ch != ':').collect();
        if matches!(hex.len(), 40 | 64) && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            thumbprints.push(hex.to_ascii_lowercase());
        } else {
            c.err(
                format!("{cfg_path}.thumbprints[{i}]"),
                "must be a certificate fingerprint: SHA-1 (40 hexadecimal digits) or SHA-256 (64)",
            );
        }
    }
    let allowed_algorithms = allowed_algorithms(
        c,
        &join(&cfg_path, "allowedAlgorithms"),
        cfg.allowed_algorithms.as_ref(),
    );
    let jwks_cache_ttl = c.positive_duration(
        cfg.jwks_cache_ttl.as_ref(),
        &join(&cfg_path, "jwksCacheTTL"),
        DEFAULT_JWKS_CACHE_TTL,
    );
    let http_timeout = c.positive_duration(
        cfg.http_timeout.as_ref(),
        &join(&cfg_path, "httpTimeout"),
        DEFAULT_HTTP_TIMEOUT,
    );
    let role_mapping = match (&entry.role_mapping, &cfg.role_mapping) {
        (Some(_), Some(_)) => {
            c.err(
                join(path, "roleMapping"),
                "set roleMapping either beside config or inside it, not both",
            );
            None
        }
        (Some(m), None) => Some(role_mapping(c, &join(path, "roleMapping"), m)),
        (None, Some(m)) => Some(role_mapping(c, &join(&cfg_path, "roleMapping"), m)),
        (None, None) => None,
    };
    let claims_mapping = cfg
        .claims_mapping
        .as_ref()
        .map(|m| ClaimsMapping {
            username_claim: m.username_claim.clone(),
            groups_claim: m.groups_claim.clone(),
            email_claim: m.email_claim.clone(),
            roles_claim: m.roles_claim.clone(),
        })
        .unwrap_or_default();
    let policy_claim = match &cfg.policy_claim {
        None | Some(PolicyClaimEntry::Enabled(false)) => None,
        Some(PolicyClaimEntry::Enabled(true)) => {
            c.warn(
                join(&cfg_path, "policyClaim"),
                format!(
                    "true reads the claim \"{DEFAULT_POLICY_CLAIM}\"; SeaweedFS reads policyClaim \
                     as a claim name only, so write \"{DEFAULT_POLICY_CLAIM}\" in a file its gateways share"
                ),
            );
            Some(DEFAULT_POLICY_CLAIM.to_owned())
        }
        Some(PolicyClaimEntry::Claim(name)) if name.trim().is_empty() => {
            c.err(
                join(&cfg_path, "policyClaim"),
                "must name a claim (or be true for \"roles\")",
            );
            None
        }
        Some(PolicyClaimEntry::Claim(name)) => Some(name.clone()),
    };
    if kind == ProviderKind::Mock && enabled {
        c.warn(
            path,
            "enabled mock provider: it accepts fixed test tokens; `stsd serve` refuses this \
             config without --allow-mock-providers",
        );
    }
    if c.problems.len() > start {
        return None;
    }
    Some(ProviderSpec {
        name: entry.name.clone(),
        kind,
        enabled,
        settings: OidcSettings {
            issuer,
            client_ids,
            jwks_uri,
            client_secret: cfg.client_secret.clone(),
            user_info_uri: cfg.user_info_uri.clone(),
            scopes: cfg.scopes.clone(),
            claims_mapping,
            role_mapping,
            policy_claim,
            allowed_principal_tag_keys: cfg.allowed_principal_tag_keys.clone(),
            principal_tag_claims: cfg
                .principal_tag_claims
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            tls_ca_cert,
            tls_insecure_skip_verify,
            thumbprints,
            accept_azp_as_audience: cfg.accept_azp_as_audience.unwrap_or(false),
            bearer_token_file,
            allowed_algorithms,
            jwks_cache_ttl,
            http_timeout,
        },
    })
}

fn policies(c: &mut Collector, entries: &[PolicyEntry]) -> Vec<NamedPolicy> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut out = Vec::new();
    for (i, p) in entries.iter().enumerate() {
        let path = format!("policies[{i}]");
        if p.name.trim().is_empty() {
            c.err(join(&path, "name"), "required");
        } else if let Some(first) = seen.get(p.name.as_str()) {
            c.err(
                join(&path, "name"),
                format!(
                    "duplicate policy name {:?} (also policies[{first}])",
                    p.name
                ),
            );
        } else {
            seen.insert(&p.name, i);
        }
        let doc_path = join(&path, "document");
        let Some(raw) = &p.document else {
            c.err(doc_path, "required");
            continue;
        };
        match PolicyDocument::from_value(raw) {
            Ok(document) => {
                let problems = document.validate_session();
                let ok = problems.is_empty();
                for e in problems {
                    c.err(nest(&doc_path, &e.path), e.message);
                }
                if ok {
                    out.push(NamedPolicy {
                        name: p.name.clone(),
                        document,
                    });
                }
            }
            Err(e) => c.err(nest(&doc_path, &e.path), e.message),
        }
    }
    out
}

fn is_role_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "+=,.@_-".contains(ch))
}

// Attached policies are checked against every declared name, so that a policy with its own
// problems does not also show up as "unknown" in each role that attaches it.
fn roles(c: &mut Collector, entries: &[RoleEntry], policies: &[PolicyEntry]) -> Vec<Role> {
    let known: HashSet<&str> = policies.iter().map(|p| p.name.as_str()).collect();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut out = Vec::new();
    for (i, r) in entries.iter().enumerate() {
        let path = format!("roles[{i}]");
        let start = c.problems.len();
        let name_path = join(&path, "roleName");
        if r.role_name.is_empty() {
            c.err(name_path, "required");
        } else if !is_role_name(&r.role_name) {
            c.err(
                name_path,
                "must be 1-64 characters of letters, digits and +=,.@_-",
            );
        } else if let Some(first) = seen.get(r.role_name.as_str()) {
            c.err(
                name_path,
                format!(
                    "duplicate role name {:?} (also roles[{first}])",
                    r.role_name
                ),
            );
        } else {
            seen.insert(&r.role_name, i);
        }

        let role_arn = r
            .role_arn
            .clone()
            .unwrap_or_else(|| default_role_arn(&r.role_name));
        let partition = parse_role_arn(&role_arn).map_or(Partition::Aws, |p| p.partition);
        if r.role_arn.is_some() {
            let arn_path = join(&path, "roleArn");
            match parse_role_arn(&role_arn) {
                None => c.err(
                    arn_path,
                    format!(
                        "{role_arn:?} is not an IAM role ARN (arn:aws:iam::[ACCOUNT:]role/NAME or arn:seaweed:iam::[ACCOUNT:]role/NAME)"
                    ),
                ),
                Some(parsed) if parsed.name.contains('/') => c.err(
                    arn_path,
                    "role paths are not supported: SeaweedFS gateways would read the first path \
                     segment as the role name",
                ),
                Some(parsed) if parsed.name != r.role_name => c.err(
                    arn_path,
                    format!(
                        "names role {:?} but roleName is {:?}",
                        parsed.name, r.role_name
                    ),
                ),
                Some(_) => {}
            }
        }

        let trust_path = join(&path, "trustPolicy");
        let trust_policy = match &r.trust_policy {
            None => {
                c.err(
                    &trust_path,
                    "required: a role without a trust policy can never be assumed",
                );
                None
            }
            Some(raw) => match PolicyDocument::from_value(raw) {
                Ok(doc) => {
                    for e in doc.validate_trust() {
                        c.err(nest(&trust_path, &e.path), e.message);
                    }
                    Some(doc)
                }
                Err(e) => {
                    c.err(nest(&trust_path, &e.path), e.message);
                    None
                }
            },
        };

        for (j, name) in r.attached_policies.iter().enumerate() {
            if !known.contains(name.as_str()) {
                c.err(
                    format!("{path}.attachedPolicies[{j}]"),
                    format!("unknown policy {name:?}; it must be defined under \"policies\""),
                );
            }
        }

        let dur_path = join(&path, "maxSessionDuration");
        let (lo, hi) = ROLE_MAX_SESSION_RANGE;
        let max_session_duration = match r
            .max_session_duration
            .as_ref()
            .map(RawDuration::to_duration)
        {
            None => None,
            Some(Err(e)) => {
                c.err(dur_path, e.to_string());
                None
            }
            // SeaweedFS reads 0 as "no role-specific limit".
            Some(Ok(d)) if d.is_zero() => None,
            Some(Ok(d)) if d < Duration::from_secs(lo) || d > Duration::from_secs(hi) => {
                c.err(
                    dur_path,
                    format!("must be between {lo} and {hi} seconds (1h to 12h), or 0 for no limit"),
                );
                None
            }
            Some(Ok(d)) => Some(d),
        };

        if let (Some(trust_policy), true) = (trust_policy, c.problems.len() == start) {
            out.push(Role {
                role_name: r.role_name.clone(),
                role_arn,
                partition,
                attached_policies: r.attached_policies.clone(),
                trust_keys: trust_policy.context_keys(),
                trust_policy,
                max_session_duration,
                description: r.description.clone(),
            });
        }
    }
    out
}

/// A role mapping that names a role this file does not define is legal (the mapping only feeds
/// `req_ctx`), but almost always a typo, so it is worth a warning.
fn check_role_mappings(c: &mut Collector, file: &IamFile, roles: &[Role]) {
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

/// A Kubernetes namespace name: an RFC 1123 label.
fn is_dns_label(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// A ServiceAccount name: an RFC 1123 subdomain (labels joined by dots).
fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(is_dns_label)
}

/// Every association names an existing role and (when given) an existing provider, and no two
/// of them can match the same token: the same namespace and ServiceAccount with the same
/// provider, or with no provider on either side.
fn pod_identity_associations(
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

fn overlaps(a: &PodIdentityAssociation, b: &PodIdentityAssociation) -> bool {
    a.namespace == b.namespace
        && a.service_account == b.service_account
        && match (&a.provider, &b.provider) {
            (Some(x), Some(y)) => x == y,
            _ => true,
        }
}
