//! Request fingerprints: a digest of every field of a request, so that an
//! idempotency key reused with other fields is told apart from a retry.

use sha2::{Digest, Sha256};

/// SHA-256 of the fields, each prefixed with its length so that no two
/// different lists digest alike; as lower-case hex.
pub fn fingerprint(fields: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for field in fields {
        hasher.update((field.len() as u64).to_le_bytes());
        hasher.update(field.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_cannot_run_into_each_other() {
        assert_ne!(fingerprint(&["ab", "c"]), fingerprint(&["a", "bc"]));
        assert_eq!(fingerprint(&["a"]), fingerprint(&["a"]));
        assert_eq!(fingerprint(&["a"]).len(), 64);
    }
}
