//! HTTPS: the server's certificate chain and private key, read from PEM files and read again
//! when their content changes (cert-manager renews a Secret by swapping the mount's symlink), so
//! new connections get the renewed certificate without a restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

use super::watch::{self, Seen};

/// How often the certificate files are checked for new content.
pub const CERT_POLL_INTERVAL: Duration = Duration::from_secs(5);

/// The PEM files given with `--tls-cert` / `--tls-key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{}: {message}", .path.display())]
    File { path: PathBuf, message: String },
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

fn file_error(path: &Path, message: impl Into<String>) -> TlsError {
    TlsError::File {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// A rustls server configuration on the ring provider whose certificate follows the files,
/// checked every [`CERT_POLL_INTERVAL`]. Errors name the file, never its content.
pub fn server_config(files: &TlsFiles) -> Result<ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let resolver = Arc::new(ReloadingCert::load(files.clone(), provider.clone())?);
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(resolver.clone());
    watch(&resolver, CERT_POLL_INTERVAL);
    Ok(config)
}

/// The current certificate and key, swapped whole when the files change.
struct ReloadingCert {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: ArcSwap<CertifiedKey>,
    /// Digest of the file contents last looked at, taken or refused, so a bad pair is reported
    /// once rather than on every check.
    seen: Mutex<Seen>,
}

impl ReloadingCert {
    /// Reads the files; the pair must be usable (the key matching the leaf certificate).
    fn load(files: TlsFiles, provider: Arc<CryptoProvider>) -> Result<Self, TlsError> {
        let (cert, key) = read_files(&files)?;
        let seen = Seen::of(&[&cert, &key]);
        let certified = certified_key(&files, &cert, &key, &provider)?;
        Ok(Self {
            files,
            provider,
            current: ArcSwap::from_pointee(certified),
            seen: Mutex::new(seen),
        })
    }

    /// Reads the files again and takes them if their content changed and they form a usable
    /// pair. `Ok(true)` when a new certificate was taken; on an error the current one stays.
    fn refresh(&self) -> Result<bool, TlsError> {
        let (cert, key) = read_files(&self.files)?;
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        // Remembered before parsing: a renewal caught half written (new certificate, old key)
        // is refused once and taken when the key arrives, which changes the fingerprint again.
        if !seen.update(&[&cert, &key]) {
            return Ok(false);
        }
        let certified = certified_key(&self.files, &cert, &key, &self.provider)?;
        self.current.store(Arc::new(certified));
        Ok(true)
    }

    /// The certificate chain now presented, leaf first.
    #[cfg(test)]
    fn chain(&self) -> Vec<CertificateDer<'static>> {
        self.current.load().cert.clone()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

impl std::fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingCert")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

/// Checks the files every `interval`; the watching ends once the configuration holding the
/// resolver is gone.
fn watch(resolver: &Arc<ReloadingCert>, interval: Duration) {
    let weak: Weak<ReloadingCert> = Arc::downgrade(resolver);
    let spawned = watch::poll("tls-cert-watch", interval, move || {
        let Some(resolver) = weak.upgrade() else {
            return false;
        };
        match resolver.refresh() {
            Ok(true) => tracing::info!(
                cert = %resolver.files.cert.display(),
                "TLS certificate reloaded"
            ),
            Ok(false) => {}
            Err(e) => tracing::warn!(
                error = %e,
                "TLS certificate files changed but cannot be used; the current certificate stays"
            ),
        }
        true
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot watch the TLS certificate files; rotation needs a restart");
    }
}

fn read_files(files: &TlsFiles) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
    let cert = std::fs::read(&files.cert).map_err(|e| file_error(&files.cert, e.to_string()))?;
    let key = std::fs::read(&files.key).map_err(|e| file_error(&files.key, e.to_string()))?;
    Ok((cert, key))
}

fn certified_key(
    files: &TlsFiles,
    cert: &[u8],
    key: &[u8],
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let certs = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(&files.cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(file_error(&files.cert, "no PEM certificate found"));
    }
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| {
        file_error(
            &files.key,
            format!("no usable PEM private key (PKCS#8, PKCS#1 or SEC1): {e}"),
        )
    })?;
    Ok(CertifiedKey::from_der(certs, key, provider)?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn files(dir: &Path, cert: &str, key: &str) -> TlsFiles {
        let files = TlsFiles {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        };
        std::fs::write(&files.cert, cert).unwrap();
        std::fs::write(&files.key, key).unwrap();
        files
    }

    #[test]
    fn missing_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles {
            cert: dir.path().join("absent.pem"),
            key: dir.path().join("absent-key.pem"),
        };
        let err = server_config(&files).unwrap_err().to_string();
        assert!(err.contains("absent.pem"), "{err}");
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let files = files(dir.path(), "not a pem file\n", "");
        let err = server_config(&files).unwrap_err().to_string();
        assert!(err.contains("no PEM certificate"), "{err}");
    }

    #[test]
    fn a_bad_key_is_refused_without_echoing_it() {
        let dir = tempfile::tempdir().unwrap();
        // Any well-formed PEM block passes the certificate reader; the key is what fails here.
        let cert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let key = "SECRET-KEY-MATERIAL\n";
        let files = files(dir.path(), cert, key);
        let err = server_config(&files).unwrap_err().to_string();
        assert!(err.contains("key.pem"), "{err}");
        assert!(!err.contains("SECRET-KEY-MATERIAL"), "{err}");
    }

    /// A self-signed certificate for 127.0.0.1 named `cn`, as (certificate PEM, key PEM).
    fn self_signed(cn: &str) -> (Vec<u8>, Vec<u8>) {
        use openssl::asn1::Asn1Time;
        use openssl::ec::{EcGroup, EcKey};
        use openssl::hash::MessageDigest;
        use openssl::nid::Nid;
        use openssl::pkey::PKey;
        use openssl::x509::{X509Builder, X509NameBuilder};

        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", cn).unwrap();
        let name = name.build();
        let mut cert = X509Builder::new().unwrap();
        cert.set_version(2).unwrap();
        cert.set_subject_name(&name).unwrap();
        cert.set_issuer_name(&name).unwrap();
        cert.set_pubkey(&key).unwrap();
        cert.set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        cert.set_not_after(&Asn1Time::days_from_now(1).unwrap())
            .unwrap();
        cert.sign(&key, MessageDigest::sha256()).unwrap();
        (
            cert.build().to_pem().unwrap(),
            key.private_key_to_pem_pkcs8().unwrap(),
        )
    }

    fn leaf_pem(resolver: &ReloadingCert) -> Vec<u8> {
        let der = resolver.chain().remove(0);
        openssl::x509::X509::from_der(&der)
            .unwrap()
            .to_pem()
            .unwrap()
    }

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    #[test]
    fn a_renewed_pair_is_taken_and_a_half_written_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (cert_a, key_a) = self_signed("a");
        let (cert_b, key_b) = self_signed("b");
        let files = TlsFiles {
            cert: dir.path().join("tls.crt"),
            key: dir.path().join("tls.key"),
        };
        std::fs::write(&files.cert, &cert_a).unwrap();
        std::fs::write(&files.key, &key_a).unwrap();
        let resolver = ReloadingCert::load(files.clone(), provider()).unwrap();
        assert_eq!(leaf_pem(&resolver), cert_a);
        assert!(!resolver.refresh().unwrap(), "unchanged files");

        // The certificate is renewed first: it does not match the old key.
        std::fs::write(&files.cert, &cert_b).unwrap();
        let err = resolver.refresh().unwrap_err();
        assert!(
            matches!(
                err,
                TlsError::Config(rustls::Error::InconsistentKeys(
                    rustls::InconsistentKeys::KeyMismatch
                ))
            ),
            "{err:?}"
        );
        assert_eq!(leaf_pem(&resolver), cert_a, "the old pair keeps serving");
        // Refused once, not again on every check.
        assert!(!resolver.refresh().unwrap());

        std::fs::write(&files.key, &key_b).unwrap();
        assert!(resolver.refresh().unwrap());
        assert_eq!(leaf_pem(&resolver), cert_b);
    }

    #[test]
    fn vanished_files_keep_the_current_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed("a");
        let files = files_with(dir.path(), &cert, &key);
        let resolver = ReloadingCert::load(files.clone(), provider()).unwrap();
        std::fs::remove_file(&files.key).unwrap();
        assert!(matches!(
            resolver.refresh(),
            Err(TlsError::File { path, .. }) if path == files.key
        ));
        assert_eq!(leaf_pem(&resolver), cert);
    }

    #[test]
    fn the_watcher_follows_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let (cert_a, key_a) = self_signed("a");
        let (cert_b, key_b) = self_signed("b");
        let files = files_with(dir.path(), &cert_a, &key_a);
        let resolver = Arc::new(ReloadingCert::load(files.clone(), provider()).unwrap());
        watch(&resolver, Duration::from_millis(10));
        // Both files replaced at once, as a Secret mount's symlink swap does.
        let staged = dir.path().join("staged");
        std::fs::create_dir(&staged).unwrap();
        let staged_files = files_with(&staged, &cert_b, &key_b);
        std::fs::rename(&staged_files.key, &files.key).unwrap();
        std::fs::rename(&staged_files.cert, &files.cert).unwrap();
        // Bounded wait for the watcher; the assertion is on the certificate, not the time.
        for _ in 0..500 {
            if leaf_pem(&resolver) == cert_b {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(leaf_pem(&resolver), cert_b);
    }

    fn files_with(dir: &Path, cert: &[u8], key: &[u8]) -> TlsFiles {
        let files = TlsFiles {
            cert: dir.join("tls.crt"),
            key: dir.join("tls.key"),
        };
        std::fs::write(&files.cert, cert).unwrap();
        std::fs::write(&files.key, key).unwrap();
        files
    }
}
