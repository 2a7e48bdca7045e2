//! Reasons (`google.rpc.ErrorInfo`) of the auth layer's refusals, shared by
//! the layer, the authenticator and the stream guard.

/// UNAUTHENTICATED: no credential was sent.
pub const MISSING_CREDENTIAL: &str = "MISSING_CREDENTIAL";
/// UNAUTHENTICATED: the key is malformed, unknown or revoked (one answer
/// for all three, so a caller learns nothing about which keys exist).
pub const INVALID_API_KEY: &str = "INVALID_API_KEY";
/// UNAUTHENTICATED: not a service credential this service accepts.
pub const INVALID_SERVICE_CREDENTIAL: &str = "INVALID_SERVICE_CREDENTIAL";
/// PERMISSION_DENIED: an internal RPC called with an API key.
pub const SERVICE_CREDENTIAL_REQUIRED: &str = "SERVICE_CREDENTIAL_REQUIRED";
/// PERMISSION_DENIED: the key lacks the RPC's scope.
pub const MISSING_SCOPE: &str = "MISSING_SCOPE";
/// RESOURCE_EXHAUSTED: the key's quota is used up for now.
pub const RATE_LIMITED: &str = "RATE_LIMITED";
