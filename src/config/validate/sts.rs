//! `sts`: token lifetimes, issuer, signing keys, clock skew, secret derivation.

use super::*;

pub(super) fn sts_settings(
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
pub(super) fn secret_derivation(c: &mut Collector, value: Option<&str>) -> SecretDerivation {
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
pub(super) fn signing_key(
    c: &mut Collector,
    file: &IamFile,
    ctx: &ValidateContext<'_>,
) -> Option<SigningKey> {
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
