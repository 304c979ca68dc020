//! The signature algorithms stsd accepts for web identity tokens, and how untrusted token header
//! values are made safe to print. Shared by config, key fetching and verification.

use std::fmt;
use std::str::FromStr;

/// Signature algorithms accepted for web identity tokens. `none` and the HMAC family cannot be
/// represented, so no configuration can enable them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JwsAlgorithm {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    EdDsa,
}

impl JwsAlgorithm {
    pub const ALL: [JwsAlgorithm; 9] = [
        Self::Rs256,
        Self::Rs384,
        Self::Rs512,
        Self::Ps256,
        Self::Ps384,
        Self::Ps512,
        Self::Es256,
        Self::Es384,
        Self::EdDsa,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
            Self::Ps256 => "PS256",
            Self::Ps384 => "PS384",
            Self::Ps512 => "PS512",
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::EdDsa => "EdDSA",
        }
    }
}

impl fmt::Display for JwsAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for JwsAlgorithm {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|a| a.name() == s).ok_or(())
    }
}

/// Token header values end up in messages; keep them short and printable so a crafted header
/// cannot flood or forge log lines.
pub fn sanitize_header_value(value: &str) -> String {
    const MAX: usize = 64;
    let mut out: String = value
        .chars()
        .take(MAX)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect();
    if value.chars().count() > MAX {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_hmac_is_unrepresentable() {
        for a in JwsAlgorithm::ALL {
            assert_eq!(a.name().parse::<JwsAlgorithm>(), Ok(a));
        }
        for bad in ["HS256", "HS512", "none", "rs256", ""] {
            assert!(bad.parse::<JwsAlgorithm>().is_err(), "{bad}");
        }
    }

    #[test]
    fn header_values_are_shortened_and_made_printable() {
        assert_eq!(sanitize_header_value("RS256"), "RS256");
        assert_eq!(sanitize_header_value("a\nb\u{1b}"), "a?b?");
        let long = "x".repeat(500);
        let s = sanitize_header_value(&long);
        assert!(s.chars().count() <= 65);
        assert!(s.ends_with('…'));
    }
}
