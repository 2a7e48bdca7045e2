//! The service credential: a shared secret that numhub's services present to
//! each other's internal RPCs, and the client interceptor that sends it.

use std::fmt;
use std::sync::Arc;

use numhub_runtime::telemetry::TraceContextInterceptor;
use subtle::ConstantTimeEq;
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;

/// The shortest credential accepted: 32 characters.
pub const MIN_LEN: usize = 32;

/// A secret that never shows in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    pub fn new(value: impl Into<Arc<str>>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The credentials a service accepts; the first is also the one it sends.
/// Several allow rotation: add the new one second everywhere, then first,
/// then drop the old one.
#[derive(Debug, Clone)]
pub struct ServiceCredentials {
    accepted: Arc<[Secret]>,
}

impl ServiceCredentials {
    /// At least one credential, each at least [`MIN_LEN`] characters.
    pub fn new(credentials: Vec<Secret>) -> Result<Self, String> {
        if credentials.is_empty() {
            return Err("at least one service credential is required".into());
        }
        if credentials.iter().any(|c| c.expose().len() < MIN_LEN) {
            return Err(format!(
                "a service credential must be at least {MIN_LEN} characters"
            ));
        }
        if credentials
            .iter()
            .any(|c| !c.expose().bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err("a service credential must be printable ASCII without spaces".into());
        }
        Ok(Self {
            accepted: credentials.into(),
        })
    }

    /// A random credential, for one process that only calls itself.
    pub fn random() -> Self {
        let key = crate::api_key::generate(crate::api_key::Environment::Live);
        Self {
            accepted: vec![Secret::new(format!("nh_svc_{}", key.stored.verifier))].into(),
        }
    }

    /// Whether `presented` is one of the accepted credentials, in time that
    /// does not depend on where it differs.
    pub fn accepts(&self, presented: &str) -> bool {
        self.accepted.iter().fold(false, |found, secret| {
            found | bool::from(secret.expose().as_bytes().ct_eq(presented.as_bytes()))
        })
    }

    /// The credential to send.
    pub fn outgoing(&self) -> &Secret {
        &self.accepted[0]
    }

    /// A client interceptor that sends this credential and the trace context.
    pub fn interceptor(&self) -> ServiceInterceptor {
        let value = MetadataValue::try_from(format!("Bearer {}", self.outgoing().expose()))
            .expect("a credential is ASCII");
        ServiceInterceptor { value }
    }
}

/// Adds `authorization: Bearer <service credential>` and the W3C trace
/// context to every call of a client of internal RPCs.
#[derive(Clone)]
pub struct ServiceInterceptor {
    value: MetadataValue<tonic::metadata::Ascii>,
}

impl fmt::Debug for ServiceInterceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServiceInterceptor")
    }
}

impl Interceptor for ServiceInterceptor {
    fn call(&mut self, request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let mut request = TraceContextInterceptor.call(request)?;
        let mut value = self.value.clone();
        value.set_sensitive(true);
        request.metadata_mut().insert("authorization", value);
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_configured_credentials() {
        let a = "a".repeat(32);
        let b = "b".repeat(40);
        let creds =
            ServiceCredentials::new(vec![Secret::new(a.clone()), Secret::new(b.clone())]).unwrap();
        assert!(creds.accepts(&a));
        assert!(creds.accepts(&b));
        assert!(!creds.accepts(&a[..31]));
        assert!(!creds.accepts(""));
        assert_eq!(creds.outgoing().expose(), a);
        assert!(!format!("{creds:?}").contains(&a));
        assert!(ServiceCredentials::new(vec![]).is_err());
        assert!(ServiceCredentials::new(vec![Secret::new("short")]).is_err());
        let random = ServiceCredentials::random();
        assert!(random.outgoing().expose().len() >= MIN_LEN);
    }
}
