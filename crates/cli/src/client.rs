//! The connection to numhub and the API key on every call.

use std::time::Duration;

use numhub_proto::accounts::v1::accounts_service_client::AccountsServiceClient;
use numhub_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use numhub_proto::orders::v1::orders_service_client::OrdersServiceClient;
use numhub_proto::rentals::v1::rentals_service_client::RentalsServiceClient;
use numhub_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::cli::ApiKey;
use crate::error::Failure;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends the API key as `authorization: Bearer <key>`.
#[derive(Clone)]
pub struct Auth(AsciiMetadataValue);

impl Auth {
    pub fn new(key: Option<&ApiKey>) -> Result<Self, Failure> {
        let Some(key) = key.filter(|k| !k.expose().is_empty()) else {
            return Err(Failure::Usage(
                "no API key: pass --key or set NUMHUB_API_KEY (numhub's operator issues keys; \
                 `numhub keys create` makes more)"
                    .into(),
            ));
        };
        let mut value =
            MetadataValue::try_from(format!("Bearer {}", key.expose())).map_err(|_| {
                Failure::Usage(
                    "the API key has characters no numhub key has; check --key or NUMHUB_API_KEY"
                        .into(),
                )
            })?;
        value.set_sensitive(true);
        Ok(Self(value))
    }
}

impl Interceptor for Auth {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// `--addr` as a URL: `host:port` gets `http://`.
pub fn url(addr: &str) -> String {
    let addr = addr.trim();
    if addr.contains("://") {
        addr.to_owned()
    } else {
        format!("http://{addr}")
    }
}

/// Connects to numhub at `url`, or says why it cannot.
pub async fn connect(url: &str) -> Result<Channel, Failure> {
    if url.starts_with("https://") {
        return Err(Failure::Usage(format!(
            "--addr {url}: this client does not speak TLS; give an http:// address"
        )));
    }
    let endpoint = Endpoint::from_shared(url.to_owned()).map_err(|_| {
        Failure::Usage(format!(
            "--addr {url:?} is not an address such as http://127.0.0.1:50050"
        ))
    })?;
    endpoint
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .connect()
        .await
        .map_err(|error| Failure::Unreachable {
            addr: url.to_owned(),
            cause: root_cause(&error),
        })
}

/// The innermost cause of an error: "Connection refused (os error 111)"
/// says more than "transport error".
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

type Intercepted = InterceptedService<Channel, Auth>;

/// The public services, each with the key.
#[derive(Clone)]
pub struct Clients {
    channel: Channel,
    auth: Auth,
}

impl Clients {
    pub fn new(channel: Channel, auth: Auth) -> Self {
        Self { channel, auth }
    }

    pub fn wallet(&self) -> WalletServiceClient<Intercepted> {
        WalletServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }

    pub fn catalog(&self) -> CatalogServiceClient<Intercepted> {
        CatalogServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }

    pub fn orders(&self) -> OrdersServiceClient<Intercepted> {
        OrdersServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }

    pub fn accounts(&self) -> AccountsServiceClient<Intercepted> {
        AccountsServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }

    pub fn rentals(&self) -> RentalsServiceClient<Intercepted> {
        RentalsServiceClient::with_interceptor(self.channel.clone(), self.auth.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_get_a_scheme() {
        assert_eq!(url("127.0.0.1:50050"), "http://127.0.0.1:50050");
        assert_eq!(url("http://numhub:1"), "http://numhub:1");
    }

    #[test]
    fn a_missing_key_is_a_usage_error() {
        let Err(failure) = Auth::new(None) else {
            panic!("no key accepted")
        };
        assert_eq!(failure.exit_code(), 2);
        let empty: ApiKey = "".parse().unwrap();
        assert!(Auth::new(Some(&empty)).is_err());
    }
}
