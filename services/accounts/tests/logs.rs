//! Secrets never reach the logs: every log line of a whole key life cycle,
//! at TRACE for every crate, is captured and searched for them.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use common::*;
use numhub_proto::accounts::v1 as pb;
use numhub_proto::common::v1::Scope;
use numhub_testkit::backend_tests;
use numhub_testkit::stack::accounts::SERVICE_CREDENTIAL;
use tonic::metadata::MetadataValue;

/// Everything logged by this test binary.
fn captured() -> Arc<Mutex<Vec<u8>>> {
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUFFER
        .get_or_init(|| {
            let buffer = Arc::new(Mutex::new(Vec::new()));
            let writer = buffer.clone();
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_ansi(false)
                .with_writer(move || Capture(writer.clone()))
                .init();
            buffer
        })
        .clone()
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

backend_tests! {
    async fn secrets_never_appear_in_logs(backend: Backend) {
        let logs = captured();
        let mut h = start(backend).await;
        let account = h.account("acme").await;
        let (key, secret) = h.key(&account.id, READ_WRITE).await;
        let mut client = h.public(&secret);
        let created = client
            .create_api_key(pb::CreateApiKeyRequest { name: "ci".into(), scopes: vec![Scope::Read as i32] })
            .await
            .unwrap()
            .into_inner();
        client.list_api_keys(pb::ListApiKeysRequest::default()).await.unwrap();
        // Failures are logged too: a wrong scope, an unknown key, a key on an
        // internal RPC.
        let _ = h.public(&created.secret).create_api_key(pb::CreateApiKeyRequest::default()).await;
        let unknown = numhub_auth::api_key::generate(numhub_auth::Environment::Live).secret;
        let _ = h.public(&unknown).get_account(pb::GetAccountRequest::default()).await;
        let mut request = tonic::Request::new(pb::AuthenticateRequest { api_key: secret.clone() });
        request.metadata_mut().insert("authorization", MetadataValue::try_from(format!("Bearer {secret}")).unwrap());
        let _ = h.internal().authenticate(request).await;
        let mut request = tonic::Request::new(pb::AuthenticateRequest { api_key: secret.clone() });
        request.metadata_mut().insert("authorization", MetadataValue::try_from(format!("Bearer {SERVICE_CREDENTIAL}")).unwrap());
        h.internal().authenticate(request).await.unwrap();
        h.public(&secret).revoke_api_key(pb::RevokeApiKeyRequest { api_key_id: key.id.clone() }).await.unwrap();

        let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
        assert!(text.contains("API key created") && text.contains("API key revoked"), "nothing was captured");
        for (what, value) in [
            ("a customer's key", secret.as_str()),
            ("a created key", created.secret.as_str()),
            ("an unknown key", unknown.as_str()),
            ("the admin key", h.stack.admin_key.as_str()),
            ("the service credential", SERVICE_CREDENTIAL),
        ] {
            // The random part alone, in case a prefix was cut off.
            let needle = &value[value.len() - 30..];
            assert!(!text.contains(needle), "{what} appears in the logs");
        }
    }
}
