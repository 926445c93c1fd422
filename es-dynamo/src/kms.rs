//! [`KmsWrap`]: subjects' data keys made and wrapped by an AWS KMS key
//! (feature `kms`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use aws_sdk_kms::Client;
use es_core::erasure::{DataKey, KeyWrap};
use es_core::StoreError;
use futures::future::BoxFuture;
use tracing::Instrument as _;

use crate::errors::service_error;

/// The encryption context's key: every data key is bound to its subject,
/// so a wrapped key copied to another subject's item does not decrypt,
/// and CloudTrail's record of each `Decrypt` names the subject it was for.
pub const SUBJECT_CONTEXT: &str = "es:subject";

/// A [`KeyWrap`] on an AWS KMS key: [`KeyWrap::generate`] is one
/// `GenerateDataKey` (AES_256) and [`KeyWrap::unwrap_key`] one `Decrypt`,
/// both with the encryption context `{"es:subject": subject}`. The data
/// key's plaintext never leaves the process; the table holds KMS's
/// ciphertext, which only a principal allowed `kms:Decrypt` on the key can
/// open. Deleting the KMS key would erase every subject at once: don't.
///
/// The subject travels to KMS in the encryption context, which CloudTrail
/// logs in clear: subjects should be opaque ids (a customer id), not
/// personal data themselves (an email address).
///
/// Clones share the client and the counter.
///
/// ```no_run
/// # async fn run() {
/// use es::dynamo::{DynamoKeys, KmsWrap};
/// let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
/// let wrap = KmsWrap::new(aws_sdk_kms::Client::new(&config), "alias/shop-keys");
/// let keys = DynamoKeys::new(aws_sdk_dynamodb::Client::new(&config), "keys", wrap);
/// let vault = es::erasure::Vault::new(keys);
/// # let _ = vault;
/// # }
/// ```
#[derive(Clone)]
pub struct KmsWrap {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    key_id: String,
    requests: AtomicU64,
}

impl std::fmt::Debug for KmsWrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsWrap")
            .field("key_id", &self.inner.key_id)
            .finish_non_exhaustive()
    }
}

impl KmsWrap {
    /// Wraps with the KMS key `key_id`: a key id, its ARN, an alias name
    /// (`alias/…`) or an alias ARN, as KMS takes them. A symmetric
    /// encryption key.
    pub fn new(client: Client, key_id: impl Into<String>) -> Self {
        KmsWrap {
            inner: Arc::new(Inner {
                client,
                key_id: key_id.into(),
                requests: AtomicU64::new(0),
            }),
        }
    }

    /// The same, with a client from the AWS config chain
    /// (`AWS_ENDPOINT_URL_KMS` included).
    pub async fn from_env(key_id: impl Into<String>) -> Self {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        KmsWrap::new(Client::new(&config), key_id)
    }

    /// The KMS client.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The KMS key it wraps with, as given.
    pub fn key_id(&self) -> &str {
        &self.inner.key_id
    }

    /// The KMS requests sent so far, by this wrap and its clones.
    pub fn requests(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    fn what(&self, subject: &str) -> String {
        format!("KMS key {:?}, subject {subject:?}", self.inner.key_id)
    }

    fn key_from(
        &self,
        subject: &str,
        operation: &'static str,
        plaintext: Option<&Blob>,
    ) -> Result<DataKey, StoreError> {
        let bytes = plaintext.map(Blob::as_ref).unwrap_or_default();
        DataKey::from_bytes(bytes).ok_or_else(|| {
            StoreError::permanent(
                operation,
                format!(
                    "{}: KMS answered with a plaintext key of {} bytes, not 32",
                    self.what(subject),
                    bytes.len()
                ),
            )
        })
    }
}

impl KeyWrap for KmsWrap {
    fn generate<'a>(
        &'a self,
        subject: &'a str,
    ) -> BoxFuture<'a, Result<(DataKey, Vec<u8>), StoreError>> {
        Box::pin(async move {
            self.inner.requests.fetch_add(1, Ordering::Relaxed);
            let span = tracing::debug_span!("kms", operation = "GenerateDataKey", key = %self.inner.key_id, subject);
            let output = self
                .inner
                .client
                .generate_data_key()
                .key_id(&self.inner.key_id)
                .key_spec(DataKeySpec::Aes256)
                .encryption_context(SUBJECT_CONTEXT, subject)
                .send()
                .instrument(span)
                .await
                .map_err(|e| service_error("GenerateDataKey", &self.what(subject), e))?;
            let key = self.key_from(subject, "GenerateDataKey", output.plaintext())?;
            let wrapped = output
                .ciphertext_blob()
                .map(|b| b.as_ref().to_vec())
                .filter(|b| !b.is_empty())
                .ok_or_else(|| {
                    StoreError::permanent(
                        "GenerateDataKey",
                        format!(
                            "{}: KMS answered without a CiphertextBlob",
                            self.what(subject)
                        ),
                    )
                })?;
            Ok((key, wrapped))
        })
    }

    fn unwrap_key<'a>(
        &'a self,
        subject: &'a str,
        wrapped: &'a [u8],
    ) -> BoxFuture<'a, Result<DataKey, StoreError>> {
        Box::pin(async move {
            self.inner.requests.fetch_add(1, Ordering::Relaxed);
            let span = tracing::debug_span!("kms", operation = "Decrypt", key = %self.inner.key_id, subject);
            let output = self
                .inner
                .client
                .decrypt()
                // Named, so that KMS refuses a blob wrapped by another key
                // rather than use whatever key the blob names.
                .key_id(&self.inner.key_id)
                .ciphertext_blob(Blob::new(wrapped))
                .encryption_context(SUBJECT_CONTEXT, subject)
                .send()
                .instrument(span)
                .await
                .map_err(|e| service_error("Decrypt", &self.what(subject), e))?;
            self.key_from(subject, "Decrypt", output.plaintext())
        })
    }

    fn wrapped_by(&self) -> &str {
        &self.inner.key_id
    }
}
