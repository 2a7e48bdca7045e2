//! The API key format: `nh_live_` (or `nh_test_`), 43 base62 characters of
//! randomness (256 bits), and a 6-character CRC-32 checksum of them, as GitHub's
//! tokens do. The prefix lets secret scanners find leaked keys; the checksum
//! lets them, and numhub, tell a real key from a typo without a lookup.
//!
//! A key is stored as a *selector* (its first 16 random characters, indexed,
//! to find the row) and a SHA-256 *verifier* of the whole key, compared in
//! constant time. The key itself is never stored.

use rand::RngExt as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Base62 characters of randomness: 43 × log2(62) ≈ 256.03 bits.
const RANDOM_LEN: usize = 43;
const CHECKSUM_LEN: usize = 6;
const SELECTOR_LEN: usize = 16;
/// Random characters shown in a key's display prefix.
const DISPLAY_LEN: usize = 8;

/// Which deployment a key belongs to; its prefix says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Environment {
    Live,
    Test,
}

impl Environment {
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Live => "nh_live_",
            Self::Test => "nh_test_",
        }
    }

    /// The length of every key of this environment.
    pub fn key_len(self) -> usize {
        self.prefix().len() + RANDOM_LEN + CHECKSUM_LEN
    }
}

/// A freshly generated key: the secret, shown once, and what is stored.
pub struct NewKey {
    pub secret: String,
    pub stored: StoredForm,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey")
            .field("secret", &"<redacted>")
            .field("stored", &self.stored)
            .finish()
    }
}

/// What numhub keeps of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredForm {
    /// Finds the key's row; not enough to use the key.
    pub selector: String,
    /// SHA-256 of the whole key, hex.
    pub verifier: String,
    /// The prefix shown in lists, e.g. `nh_live_7Gk2PqZa`.
    pub display_prefix: String,
}

/// Generates a key from the thread's cryptographic generator.
pub fn generate(environment: Environment) -> NewKey {
    let mut rng = rand::rng();
    let random: String = (0..RANDOM_LEN)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    let secret = format!(
        "{}{random}{}",
        environment.prefix(),
        base62_checksum(crc32(random.as_bytes()))
    );
    let stored = parse(environment, &secret).expect("a generated key is well formed");
    NewKey { secret, stored }
}

/// Checks a key's shape and checksum and returns what is stored of it, or
/// `None` when it cannot be a key of this environment.
pub fn parse(environment: Environment, key: &str) -> Option<StoredForm> {
    let random_and_sum = key.strip_prefix(environment.prefix())?;
    if random_and_sum.len() != RANDOM_LEN + CHECKSUM_LEN
        || !random_and_sum.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return None;
    }
    let (random, sum) = random_and_sum.split_at(RANDOM_LEN);
    if base62_checksum(crc32(random.as_bytes())) != sum {
        return None;
    }
    Some(StoredForm {
        selector: random[..SELECTOR_LEN].to_owned(),
        verifier: verifier(key),
        display_prefix: key[..environment.prefix().len() + DISPLAY_LEN].to_owned(),
    })
}

/// Whether `key` has the shape of a key of this environment (prefix, length,
/// alphabet), without the checksum: cheap enough for every request, so
/// that obvious garbage costs no lookup. [`parse`] checks the rest.
pub fn has_shape(environment: Environment, key: &str) -> bool {
    key.len() == environment.key_len()
        && key.starts_with(environment.prefix())
        && key[environment.prefix().len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric())
}

/// Whether a string has the shape of any numhub API key, of any
/// environment: such a string sent as a service credential is a customer's
/// key in the wrong place.
pub fn looks_like_api_key(value: &str) -> bool {
    [Environment::Live, Environment::Test]
        .iter()
        .any(|env| value.starts_with(env.prefix()) && value.len() == env.key_len())
}

/// The SHA-256 verifier of a key, hex. A plain hash suffices: the key holds
/// 256 random bits, so there is nothing to guess that a slow hash would slow.
pub fn verifier(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        use std::fmt::Write as _;
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// Compares two verifiers in time independent of where they differ.
pub fn verifiers_match(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

fn base62_checksum(mut value: u32) -> String {
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    String::from_utf8(out.to_vec()).expect("base62 is ASCII")
}

/// CRC-32 (IEEE), bit by bit: keys are short, and parsed only when the auth
/// cache misses.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_is_the_ieee_one() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn generated_keys_parse_and_differ() {
        let a = generate(Environment::Live);
        let b = generate(Environment::Live);
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.starts_with("nh_live_"));
        assert_eq!(a.secret.len(), Environment::Live.key_len());
        assert_eq!(parse(Environment::Live, &a.secret), Some(a.stored.clone()));
        assert!(a.stored.display_prefix.starts_with("nh_live_"));
        assert_eq!(a.stored.display_prefix.len(), 16);
        assert!(a.secret.starts_with(&a.stored.display_prefix));
        assert!(!a.stored.verifier.contains(&a.secret));
        assert!(verifiers_match(&a.stored.verifier, &verifier(&a.secret)));
        assert!(!verifiers_match(&a.stored.verifier, &b.stored.verifier));
        assert!(looks_like_api_key(&a.secret));
        assert!(format!("{a:?}").find(&a.secret).is_none());
    }

    #[test]
    fn malformed_keys_are_refused() {
        let key = generate(Environment::Test).secret;
        assert!(parse(Environment::Test, &key).is_some());
        // Another environment's key is no key here.
        assert!(parse(Environment::Live, &key).is_none());
        // One character changed breaks the checksum.
        let mut typo = key.clone().into_bytes();
        typo[12] = if typo[12] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(typo).unwrap();
        assert!(parse(Environment::Test, &typo).is_none());
        // The shape check alone lets a typo through; parse refuses it.
        assert!(has_shape(Environment::Test, &typo));
        assert!(!has_shape(Environment::Live, &key));
        assert!(!has_shape(Environment::Test, &key[..key.len() - 1]));
        assert!(parse(Environment::Test, &key[..key.len() - 1]).is_none());
        assert!(parse(Environment::Test, &format!("{key}x")).is_none());
        assert!(parse(Environment::Test, "").is_none());
        assert!(parse(Environment::Test, "nh_test_").is_none());
        assert!(!looks_like_api_key(
            "a-service-credential-of-forty-characters"
        ));
    }
}
