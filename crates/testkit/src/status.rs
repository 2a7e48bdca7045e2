//! Reading numhub's error details in tests: the ErrorInfo reason, the fields
//! a BadRequest names, and one assertion for both code and reason.

use tonic_types::StatusExt;

/// The ErrorInfo reason of a status, or "" when it has none.
pub fn reason(status: &tonic::Status) -> String {
    status
        .get_error_details()
        .error_info()
        .map(|info| info.reason.clone())
        .unwrap_or_default()
}

/// The fields a BadRequest detail names.
pub fn bad_fields(status: &tonic::Status) -> Vec<String> {
    status
        .get_error_details()
        .bad_request()
        .map(|br| {
            br.field_violations
                .iter()
                .map(|v| v.field.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// Asserts that `result` failed with `code` and ErrorInfo reason `reason`.
#[track_caller]
pub fn assert_status<T: std::fmt::Debug>(
    result: Result<T, tonic::Status>,
    code: tonic::Code,
    reason_text: &str,
) -> tonic::Status {
    let status = result.expect_err("expected an error");
    assert_eq!(status.code(), code, "{status:?}");
    assert_eq!(reason(&status), reason_text, "{status:?}");
    status
}
