//! Noticing new content in watched files (iam.json, the TLS certificate and key): one polling
//! thread and one fingerprint over every file, compared with the one last seen. Content is
//! compared, not timestamps: a Kubernetes ConfigMap or Secret update swaps a symlink.

use std::io;
use std::time::Duration;

use sha2::{Digest, Sha256};

/// Calls `check` every `interval` on a thread of its own (file reads stay off the async
/// workers), until `check` returns `false`.
pub fn poll(
    name: &str,
    interval: Duration,
    mut check: impl FnMut() -> bool + Send + 'static,
) -> io::Result<()> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || loop {
            std::thread::sleep(interval);
            if !check() {
                return;
            }
        })
        .map(drop)
}

/// The fingerprint of the watched files' content last looked at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen(Option<[u8; 32]>);

impl Seen {
    /// Starts from `contents`, the files as they are now.
    pub fn of(contents: &[&[u8]]) -> Self {
        Self(Some(fingerprint(contents)))
    }

    /// Remembers `contents` as seen; whether they differ from what was seen before.
    pub fn update(&mut self, contents: &[&[u8]]) -> bool {
        let now = Some(fingerprint(contents));
        if self.0 == now {
            return false;
        }
        self.0 = now;
        true
    }
}

/// Each file's length, then its bytes: two files cannot trade bytes and keep the fingerprint.
fn fingerprint(contents: &[&[u8]]) -> [u8; 32] {
    let mut hash = Sha256::new();
    for content in contents {
        hash.update((content.len() as u64).to_be_bytes());
        hash.update(content);
    }
    hash.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_new_content_is_a_change() {
        let mut seen = Seen::of(&[b"cert", b"key"]);
        assert!(!seen.update(&[b"cert", b"key"]));
        assert!(seen.update(&[b"cer", b"tkey"]), "bytes moved between files");
        assert!(!seen.update(&[b"cer", b"tkey"]));
        let mut never = Seen::default();
        assert!(never.update(&[b""]));
    }
}
