//! The `X-3QPR-Signature` scheme: `sha256=` + lowercase hex of HMAC-SHA256(secret, raw body).
//!
//! The key is the UTF-8 bytes of the whole stored secret (`whsec_` prefix included) with its
//! surrounding whitespace removed, as the sender's reference code does with `secret.encode()`.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// The header 3QPR signs with (header names match in any case).
pub const SIGNATURE_HEADER: &str = "x-3qpr-signature";

const SCHEME_PREFIX: &[u8] = b"sha256=";
const TAG_LEN: usize = 32;

/// Why a signature header could not even be compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("signature header missing")]
    Missing,
    #[error("signature header sent more than once")]
    Repeated,
    #[error("signature header is not sha256= followed by 64 lowercase hex digits")]
    Malformed,
}

/// A parsed `sha256=<64 lowercase hex>` header value.
#[derive(Clone, PartialEq, Eq)]
pub struct Signature([u8; TAG_LEN]);

impl Signature {
    /// Parses one header value strictly: the scheme prefix, then exactly 64 lowercase hex digits,
    /// nothing around them. The sender's reference handler compares the whole string, so
    /// uppercase hex or whitespace never verify there either.
    pub fn parse(value: &[u8]) -> Result<Self, HeaderError> {
        let hex_digits = value
            .strip_prefix(SCHEME_PREFIX)
            .filter(|digits| digits.len() == TAG_LEN * 2)
            .ok_or(HeaderError::Malformed)?;
        let mut tag = [0u8; TAG_LEN];
        for (byte, pair) in tag.iter_mut().zip(hex_digits.chunks_exact(2)) {
            *byte = (lower_hex_value(pair[0])? << 4) | lower_hex_value(pair[1])?;
        }
        Ok(Self(tag))
    }

    /// Picks the single signature header out of all values sent under that name.
    pub fn from_header_values<'a>(
        mut values: impl Iterator<Item = &'a [u8]>,
    ) -> Result<Self, HeaderError> {
        let first = values.next().ok_or(HeaderError::Missing)?;
        if values.next().is_some() {
            return Err(HeaderError::Repeated);
        }
        Self::parse(first)
    }
}

impl std::fmt::Debug for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signature(<redacted>)")
    }
}

fn lower_hex_value(digit: u8) -> Result<u8, HeaderError> {
    match digit {
        b'0'..=b'9' => Ok(digit - b'0'),
        b'a'..=b'f' => Ok(digit - b'a' + 10),
        _ => Err(HeaderError::Malformed),
    }
}

/// The stored secret holds nothing but whitespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the webhook secret is empty")]
pub struct EmptySecret;

/// One secret, with the HMAC key schedule done once: each request clones the keyed state
/// instead of hashing the key again.
#[derive(Clone)]
pub struct SigningKey {
    keyed: HmacSha256,
}

impl SigningKey {
    pub fn new(stored_secret: &str) -> Result<Self, EmptySecret> {
        let secret = stored_secret.trim();
        if secret.is_empty() {
            return Err(EmptySecret);
        }
        // HMAC takes keys of any length, so this cannot fail.
        let keyed = HmacSha256::new_from_slice(secret.as_bytes()).map_err(|_| EmptySecret)?;
        Ok(Self { keyed })
    }

    fn tag(&self, body: &[u8]) -> [u8; TAG_LEN] {
        let mut mac = self.keyed.clone();
        mac.update(body);
        mac.finalize().into_bytes().into()
    }

    /// The header value 3QPR would send for `body`.
    pub fn sign(&self, body: &[u8]) -> String {
        format!("sha256={}", hex::encode(self.tag(body)))
    }

    /// Constant-time comparison of the expected tag with the one sent.
    pub fn verifies(&self, body: &[u8], signature: &Signature) -> bool {
        self.tag(body).ct_eq(&signature.0).into()
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

/// Every secret that currently verifies: during a rotation, the current and the previous one.
#[derive(Debug, Clone)]
pub struct Keyring {
    keys: Vec<SigningKey>,
}

impl Keyring {
    /// Builds a keyring from stored secret values (current first). Empty values are an error:
    /// an empty key would verify signatures anyone can compute.
    pub fn new<S: AsRef<str>>(stored_secrets: &[S]) -> Result<Self, EmptySecret> {
        let keys = stored_secrets
            .iter()
            .map(|secret| SigningKey::new(secret.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(EmptySecret);
        }
        Ok(Self { keys })
    }

    pub fn verifies(&self, body: &[u8], signature: &Signature) -> bool {
        self.keys.iter().any(|key| key.verifies(body, signature))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_AbCdEfGhIjKlMnOpQrStUv";

    fn signature_for(secret: &str, body: &[u8]) -> Signature {
        let key = SigningKey::new(secret).unwrap();
        Signature::parse(key.sign(body).as_bytes()).unwrap()
    }

    #[test]
    fn a_body_signed_with_the_secret_verifies_and_a_changed_one_does_not() {
        let key = SigningKey::new(SECRET).unwrap();
        let signature = signature_for(SECRET, b"{\"event\":\"scan.created\"}");
        assert!(key.verifies(b"{\"event\":\"scan.created\"}", &signature));
        assert!(!key.verifies(b"{\"event\":\"scan.created\"} ", &signature));
    }

    #[test]
    fn another_secret_does_not_verify() {
        let signature = signature_for(SECRET, b"body");
        let other = SigningKey::new("whsec_other").unwrap();
        assert!(!other.verifies(b"body", &signature));
    }

    #[test]
    fn the_whsec_prefix_is_part_of_the_key() {
        let signature = signature_for(SECRET, b"body");
        let without_prefix = SigningKey::new(SECRET.trim_start_matches("whsec_")).unwrap();
        assert!(!without_prefix.verifies(b"body", &signature));
    }

    #[test]
    fn surrounding_whitespace_of_the_stored_secret_is_ignored() {
        let signature = signature_for(SECRET, b"body");
        let stored = SigningKey::new(&format!("  {SECRET}\n")).unwrap();
        assert!(stored.verifies(b"body", &signature));
    }

    #[test]
    fn an_empty_or_blank_secret_is_refused() {
        assert_eq!(SigningKey::new("").unwrap_err(), EmptySecret);
        assert_eq!(SigningKey::new(" \n\t").unwrap_err(), EmptySecret);
        assert!(Keyring::new::<&str>(&[]).is_err());
        assert!(Keyring::new(&[SECRET, " "]).is_err());
    }

    #[test]
    fn sign_produces_the_documented_header_format() {
        let value = SigningKey::new(SECRET).unwrap().sign(b"");
        assert!(value.starts_with("sha256="));
        let digits = &value["sha256=".len()..];
        assert_eq!(digits.len(), 64);
        assert!(digits
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    }

    #[test]
    fn header_parsing_is_strict() {
        let good = format!("sha256={}", "ab".repeat(32));
        assert!(Signature::parse(good.as_bytes()).is_ok());
        let rejected = [
            String::new(),
            "sha256=".to_string(),
            "ab".repeat(32),
            format!("SHA256={}", "ab".repeat(32)),
            format!("sha256={}", "AB".repeat(32)),
            format!("sha256={}", "ab".repeat(31)),
            format!("sha256={}0", "ab".repeat(32)),
            format!(" sha256={}", "ab".repeat(32)),
            format!("sha256={} ", "ab".repeat(32)),
            format!("sha256={}zz", "ab".repeat(31)),
            format!("sha1={}", "ab".repeat(32)),
        ];
        for value in rejected {
            assert_eq!(
                Signature::parse(value.as_bytes()),
                Err(HeaderError::Malformed),
                "{value:?}"
            );
        }
    }

    #[test]
    fn exactly_one_header_value_is_accepted() {
        let good = format!("sha256={}", "0f".repeat(32));
        assert_eq!(
            Signature::from_header_values(std::iter::empty()),
            Err(HeaderError::Missing)
        );
        assert_eq!(
            Signature::from_header_values([good.as_bytes(), good.as_bytes()].into_iter()),
            Err(HeaderError::Repeated)
        );
        assert!(Signature::from_header_values([good.as_bytes()].into_iter()).is_ok());
    }

    #[test]
    fn a_keyring_verifies_with_any_of_its_secrets() {
        let ring = Keyring::new(&["whsec_current", "whsec_previous"]).unwrap();
        assert!(ring.verifies(b"x", &signature_for("whsec_current", b"x")));
        assert!(ring.verifies(b"x", &signature_for("whsec_previous", b"x")));
        assert!(!ring.verifies(b"x", &signature_for("whsec_older", b"x")));
    }

    #[test]
    fn debug_output_never_shows_key_material() {
        let key = SigningKey::new(SECRET).unwrap();
        let ring = Keyring::new(&[SECRET]).unwrap();
        let signature = signature_for(SECRET, b"x");
        let shown = format!("{key:?} {ring:?} {signature:?}");
        assert!(!shown.contains(SECRET));
        assert!(!shown.contains(&hex::encode(signature.0)));
    }
}
