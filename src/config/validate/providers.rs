//! `providers` (and SeaweedFS's `oidcProviders`): kinds, issuers, client ids, keys, TLS, algorithms.

use super::*;

/// Both provider lists with the path prefix each entry is reported under.
pub(super) fn provider_entries(file: &IamFile) -> Vec<(String, &ProviderEntry)> {
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

pub(super) fn parse_kind(kind: &str) -> Option<ProviderKind> {
    match kind {
        "oidc" => Some(ProviderKind::Oidc),
        "kubernetes" => Some(ProviderKind::Kubernetes),
        "mock" => Some(ProviderKind::Mock),
        _ => None,
    }
}

pub(super) fn effective_issuer(entry: &ProviderEntry) -> Option<String> {
    match (&entry.config.issuer, parse_kind(&entry.kind)) {
        (Some(i), _) => Some(i.clone()),
        (None, Some(ProviderKind::Kubernetes)) => Some(K8S_ISSUER.to_string()),
        (None, _) => None,
    }
}

pub(super) fn providers(c: &mut Collector, file: &IamFile) -> Vec<ProviderSpec> {
    let entries = provider_entries(file);
    let mut names = FirstSeen::default();
    let mut issuers = FirstSeen::default();
    for (path, entry) in &entries {
        if !entry.name.is_empty() {
            if let Some(first) = names.earlier(&entry.name, path) {
                c.err(
                    join(path, "name"),
                    format!("duplicate provider name {:?} (also {first})", entry.name),
                );
            }
        }
        if let Some(issuer) = effective_issuer(entry).filter(|i| !i.is_empty()) {
            if let Some(first) = issuers.earlier(&issuer, path) {
                c.err(
                    join(path, "config.issuer"),
                    format!(
                        "duplicate issuer {issuer:?} (also {first}); tokens are routed by issuer"
                    ),
                );
            }
        }
    }
    entries
        .iter()
        .filter_map(|(path, entry)| provider(c, path, entry))
        .collect()
}

pub(super) fn check_url(c: &mut Collector, path: &str, value: &str) {
    let ok = url::Url::parse(value)
        .map(|u| {
            matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty())
        })
        .unwrap_or(false);
    if !ok {
        c.err(path, format!("{value:?} is not an http(s) URL"));
    }
}

pub(super) fn non_empty_list(c: &mut Collector, path: &str, items: &[String]) -> Vec<String> {
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

pub(super) fn allowed_algorithms(
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

pub(super) fn provider(
    c: &mut Collector,
    path: &str,
    entry: &ProviderEntry,
) -> Option<ProviderSpec> {
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
