//! A customer's or the operator's API key on a client's calls.

use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;

/// A client interceptor sending `authorization: Bearer <key>`.
#[derive(Clone, Debug)]
pub struct BearerKey(pub String);

impl Interceptor for BearerKey {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        let value = MetadataValue::try_from(format!("Bearer {}", self.0))
            .map_err(|_| tonic::Status::invalid_argument("key is not ASCII"))?;
        request.metadata_mut().insert("authorization", value);
        Ok(request)
    }
}
