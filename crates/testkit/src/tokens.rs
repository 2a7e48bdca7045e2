//! Page tokens and stream cursors as a hostile or outdated client sends
//! them, and the one answer numhub gives them.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::status::{bad_fields, reason};

/// A token in the format numhub issued before tokens were signed:
/// `v1:<cursor>`, base64url. Also what a forger would make of a cursor.
pub fn v1(cursor: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{cursor}"))
}

/// `token` with one bit of its `index`-th byte flipped (counted from the
/// end when negative), still valid base64url.
pub fn tampered(token: &str, index: isize) -> String {
    let mut bytes = URL_SAFE_NO_PAD
        .decode(token)
        .expect("a token numhub issued");
    let at = index.rem_euclid(bytes.len() as isize) as usize;
    bytes[at] ^= 0x01;
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Asserts that `result` is INVALID_ARGUMENT naming `field` alone, and that
/// its message does not echo `token`.
#[track_caller]
pub fn assert_refused<T: std::fmt::Debug>(
    result: Result<T, tonic::Status>,
    field: &str,
    token: &str,
) -> tonic::Status {
    let status = result.expect_err("a token it did not issue must be refused");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert_eq!(reason(&status), "INVALID_FIELD", "{status:?}");
    assert_eq!(bad_fields(&status), [field], "{status:?}");
    assert!(
        !status.message().contains(token),
        "echoes the token: {status:?}"
    );
    status
}
