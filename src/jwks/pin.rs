//! Certificate pinning for discovery and JWKS connections: a provider's `thumbprints` (SHA-1, as
//! AWS's `ThumbprintList`, or SHA-256) must match the leaf or another certificate of the chain the
//! server presents, checked during the handshake so that nothing — not even a bearer token — is
//! sent to a server that fails it.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, OtherError, RootCertStore, SignatureScheme};

/// Why the TLS configuration of a pinned provider could not be built.
#[derive(Debug)]
pub enum PinError {
    Ca(String),
    Build(String),
}

/// A rustls client configuration that verifies the chain as usual (the web PKI roots plus the
/// provider's `tlsCaCert`; nothing with `tlsInsecureSkipVerify`) and then requires a pin.
/// `thumbprints` are lowercase hex, 40 or 64 digits, as config validation leaves them.
pub fn client_config(
    thumbprints: &[String],
    extra_ca_pem: Option<&[u8]>,
    insecure_skip_verify: bool,
) -> Result<rustls::ClientConfig, PinError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let inner: Arc<dyn ServerCertVerifier> = if insecure_skip_verify {
        Arc::new(NoChainCheck {
            provider: provider.clone(),
        })
    } else {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(pem) = extra_ca_pem {
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| PinError::Ca(e.to_string()))?;
                roots.add(cert).map_err(|e| PinError::Ca(e.to_string()))?;
            }
        }
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| PinError::Build(e.to_string()))?
    };
    let verifier = Arc::new(PinnedVerifier {
        inner,
        pins: thumbprints
            .iter()
            .filter_map(|t| hex::decode(t).ok())
            .collect(),
    });
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PinError::Build(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// Whether `der` has one of the fingerprints in `pins` (SHA-1 or SHA-256, by length).
pub fn matches(der: &[u8], pins: &[Vec<u8>]) -> bool {
    let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
    let sha256 = ring::digest::digest(&ring::digest::SHA256, der);
    pins.iter()
        .any(|pin| pin.as_slice() == sha1.as_ref() || pin.as_slice() == sha256.as_ref())
}

#[derive(Debug, thiserror::Error)]
#[error("the server's certificate chain matches none of the provider's thumbprints")]
struct PinMismatch;

#[derive(Debug)]
struct PinnedVerifier {
    inner: Arc<dyn ServerCertVerifier>,
    pins: Vec<Vec<u8>>,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        let pinned = std::iter::once(end_entity)
            .chain(intermediates)
            .any(|cert| matches(cert.as_ref(), &self.pins));
        if pinned {
            Ok(ServerCertVerified::assertion())
        } else {
            // Not `InvalidCertificate(CertificateError::Other(..))`, whose text is its Debug form:
            // this text reaches `lastError` as it is.
            Err(rustls::Error::Other(OtherError(Arc::new(PinMismatch))))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `tlsInsecureSkipVerify` with thumbprints: no chain or name check, so the pin is the only
/// trust; the handshake signature is still verified, which proves the server holds the key of
/// the pinned certificate when the pin is its leaf.
#[derive(Debug)]
struct NoChainCheck {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for NoChainCheck {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_match_by_sha1_or_sha256() {
        let der = b"not really a certificate";
        let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
        let sha256 = ring::digest::digest(&ring::digest::SHA256, der);
        assert!(matches(der, &[sha1.as_ref().to_vec()]));
        assert!(matches(der, &[vec![0; 20], sha256.as_ref().to_vec()]));
        assert!(!matches(der, &[vec![0; 20], vec![0; 32]]));
        assert!(!matches(b"another", &[sha1.as_ref().to_vec()]));
    }

    #[test]
    fn configurations_build_with_and_without_chain_checks() {
        let pins = ["00".repeat(20)];
        assert!(client_config(&pins, None, false).is_ok());
        assert!(client_config(&pins, None, true).is_ok());
        assert!(matches!(
            client_config(
                &pins,
                Some(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
                false
            ),
            Err(PinError::Ca(_))
        ));
    }
}
