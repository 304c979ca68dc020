//! HTTP side of key retrieval: the per-provider client, OpenID discovery and the JWKS download
//! (https://openid.net/specs/openid-connect-discovery-1_0.html §4).

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION};
use serde::Deserialize;

use crate::secret::SecretString;

/// Bodies above this are refused: a JWKS or discovery document is a few kilobytes.
const MAX_BODY: usize = 1 << 20;

/// Everything that decides where and how keys are fetched. Two providers with equal settings
/// can share one cache (used across config reloads).
#[derive(Debug, Clone, PartialEq)]
pub struct FetchSettings {
    pub issuer: String,
    pub jwks_uri: Option<String>,
    pub tls_ca_cert: Option<PathBuf>,
    pub tls_insecure_skip_verify: bool,
    /// Certificate fingerprints (lowercase hex SHA-1 or SHA-256) one of which the server's chain
    /// must carry; empty = no pinning.
    pub thumbprints: Vec<String>,
    pub bearer_token_file: Option<PathBuf>,
    pub http_timeout: Duration,
}

/// Why keys could not be fetched. Texts carry no secrets: no bearer token, no response body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("discovery failed: {0}")]
    Discovery(String),
    #[error("JWKS request failed: {0}")]
    Jwks(String),
    #[error("cannot read bearerTokenFile: {0}")]
    BearerToken(String),
    #[error("JWKS is unusable: {0}")]
    Keys(String),
}

/// Builds the client one provider uses for discovery and JWKS.
pub fn build_client(settings: &FetchSettings) -> Result<reqwest::Client, ClientError> {
    let mut ca_pem = None;
    let mut builder = reqwest::Client::builder()
        .timeout(settings.http_timeout)
        .connect_timeout(settings.http_timeout)
        .min_tls_version(reqwest::tls::Version::TLS_1_2)
        .redirect(redirect_policy())
        .user_agent(concat!("stsd/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = &settings.tls_ca_cert {
        let pem = std::fs::read(path).map_err(|e| ClientError::Ca {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ClientError::Ca {
            path: path.display().to_string(),
            reason: chain(&e),
        })?;
        if certs.is_empty() {
            return Err(ClientError::Ca {
                path: path.display().to_string(),
                reason: "no PEM certificate found".to_owned(),
            });
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
        ca_pem = Some(pem);
    }
    if settings.tls_insecure_skip_verify {
        builder = builder.danger_accept_invalid_certs(true);
    }
    if !settings.thumbprints.is_empty() {
        // The pinning verifier replaces reqwest's: it checks the chain with the same roots
        // (unless told not to) and then the pin.
        let tls = super::pin::client_config(
            &settings.thumbprints,
            ca_pem.as_deref(),
            settings.tls_insecure_skip_verify,
        )
        .map_err(|e| match e {
            super::pin::PinError::Ca(reason) => ClientError::Ca {
                path: settings
                    .tls_ca_cert
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                reason,
            },
            super::pin::PinError::Build(reason) => ClientError::Build(reason),
        })?;
        builder = builder.use_preconfigured_tls(tls);
    }
    builder.build().map_err(|e| ClientError::Build(chain(&e)))
}

/// At most three redirects, never from https to plain http.
fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let downgrade = attempt.url().scheme() == "http"
            && attempt.previous().iter().any(|u| u.scheme() == "https");
        if downgrade {
            attempt.error("redirect from https to plain http refused")
        } else if attempt.previous().len() >= 3 {
            attempt.error("too many redirects")
        } else {
            attempt.follow()
        }
    })
}

#[derive(Debug)]
pub enum ClientError {
    Ca { path: String, reason: String },
    Build(String),
}

/// The two fields of a discovery document stsd needs.
///
/// `openidconnect::core::CoreProviderMetadata` is not used: it requires
/// `authorization_endpoint`, which the Kubernetes API server's service-account issuer document
/// does not have, and its discover function also downloads and parses the JWKS with its own
/// key types, outside this cache and its rate limit.
#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

pub fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// `GET {issuer}/.well-known/openid-configuration`, returning the JWKS URI after checking the
/// document names the configured issuer (one trailing `/` is ignored on either side, as
/// SeaweedFS does).
pub async fn discover(
    client: &reqwest::Client,
    settings: &FetchSettings,
) -> Result<String, FetchError> {
    let bearer = read_bearer(settings.bearer_token_file.as_deref())
        .await
        .map_err(FetchError::BearerToken)?;
    let body = get(client, &discovery_url(&settings.issuer), bearer.as_ref())
        .await
        .map_err(FetchError::Discovery)?;
    let doc: Discovery = serde_json::from_slice(&body).map_err(|_| {
        FetchError::Discovery("document lacks a string issuer or jwks_uri".to_owned())
    })?;
    if doc.issuer.strip_suffix('/').unwrap_or(&doc.issuer)
        != settings
            .issuer
            .strip_suffix('/')
            .unwrap_or(&settings.issuer)
    {
        return Err(FetchError::Discovery(format!(
            "document names issuer {} instead of {}",
            super::alg::sanitize_header_value(&doc.issuer),
            settings.issuer
        )));
    }
    match url::Url::parse(&doc.jwks_uri) {
        // An https issuer's keys travel over TLS too: a discovery document naming a plain-HTTP
        // JWKS would let anyone on that path substitute keys. (A configured `jwksUri` is the
        // operator's explicit choice and is not subject to this.)
        Ok(u) if u.scheme() == "http" && settings.issuer.starts_with("https://") => {
            Err(FetchError::Discovery(
                "the https issuer's document names a plain-HTTP jwks_uri; refusing the downgrade \
                 (set jwksUri explicitly to override)"
                    .to_owned(),
            ))
        }
        Ok(u) if matches!(u.scheme(), "https" | "http") => Ok(doc.jwks_uri),
        _ => Err(FetchError::Discovery(
            "jwks_uri is not an http(s) URL".to_owned(),
        )),
    }
}

/// Downloads the JWKS document. The bearer token file is read on every call because the
/// kubelet rotates projected tokens.
pub async fn fetch_jwks(
    client: &reqwest::Client,
    settings: &FetchSettings,
    jwks_uri: &str,
) -> Result<Vec<u8>, FetchError> {
    let bearer = read_bearer(settings.bearer_token_file.as_deref())
        .await
        .map_err(FetchError::BearerToken)?;
    get(client, jwks_uri, bearer.as_ref())
        .await
        .map_err(FetchError::Jwks)
}

async fn read_bearer(path: Option<&Path>) -> Result<Option<SecretString>, String> {
    let Some(path) = path else { return Ok(None) };
    let text = tokio::fs::read_to_string(path)
        .await
        .map_err(|e| format!("{}: {}", path.display(), e.kind()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(format!("{}: file is empty", path.display()));
    }
    Ok(Some(SecretString::new(token.to_owned())))
}

async fn get(
    client: &reqwest::Client,
    url: &str,
    bearer: Option<&SecretString>,
) -> Result<Vec<u8>, String> {
    let shown = redact_url(url);
    let mut request = client.get(url).header(ACCEPT, "application/json");
    if let Some(token) = bearer {
        let mut value =
            reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                .map_err(|_| "bearer token is not a valid header value".to_owned())?;
        value.set_sensitive(true);
        request = request.header(AUTHORIZATION, value);
    }
    let mut response = request
        .send()
        .await
        .map_err(|e| format!("{shown}: {}", chain(&e.without_url())))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("HTTP {} from {shown}", status.as_u16()));
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BODY as u64)
    {
        return Err(format!(
            "response from {shown} is larger than {MAX_BODY} bytes"
        ));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("{shown}: {}", chain(&e.without_url())))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(format!(
                "response from {shown} is larger than {MAX_BODY} bytes"
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A URL fit for logs and the operator listing: user info and query dropped, since a
/// misconfigured URL could carry credentials there.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => "(invalid URL)".to_owned(),
    }
}

/// An error and its causes on one line ("error sending request: connection refused").
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> FetchSettings {
        FetchSettings {
            issuer: "https://idp.example.com/realms/x/".into(),
            jwks_uri: None,
            tls_ca_cert: None,
            tls_insecure_skip_verify: false,
            thumbprints: Vec::new(),
            bearer_token_file: None,
            http_timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn redacted_urls_lose_credentials_and_queries() {
        assert_eq!(
            redact_url("https://user:pw@idp.example.com/keys?token=abc#x"),
            "https://idp.example.com/keys"
        );
        assert_eq!(redact_url("not a url"), "(invalid URL)");
    }

    #[test]
    fn discovery_url_drops_one_trailing_slash() {
        assert_eq!(
            discovery_url("https://idp.example.com/realms/x/"),
            "https://idp.example.com/realms/x/.well-known/openid-configuration"
        );
        assert_eq!(
            discovery_url("https://idp.example.com"),
            "https://idp.example.com/.well-known/openid-configuration"
        );
    }

    #[test]
    fn client_refuses_missing_or_empty_ca_files() {
        let mut s = settings();
        s.tls_ca_cert = Some("/nonexistent/ca.pem".into());
        assert!(matches!(build_client(&s), Err(ClientError::Ca { .. })));
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate").expect("write");
        s.tls_ca_cert = Some(path);
        assert!(matches!(build_client(&s), Err(ClientError::Ca { .. })));
        assert!(build_client(&settings()).is_ok());
    }

    #[tokio::test]
    async fn bearer_file_is_trimmed_and_empty_files_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("token");
        std::fs::write(&path, "abc.def\n").expect("write");
        let token = read_bearer(Some(&path))
            .await
            .expect("reads")
            .expect("some");
        assert_eq!(token.expose(), "abc.def");
        std::fs::write(&path, "\n").expect("write");
        assert!(read_bearer(Some(&path)).await.is_err());
        assert!(read_bearer(Some(Path::new("/nonexistent/token")))
            .await
            .is_err());
        assert!(read_bearer(None).await.expect("none").is_none());
    }
}
