//! The keys of the shop's data subjects (its customers), on DynamoDB: the
//! [`Vault`] every store of a binary shares, over a [`DynamoKeys`] table,
//! built from the environment (or the command line's flags, locally).
//!
//! - The key table: `SHOP_KEYS_TABLE` (`--keys-table`), else the events
//!   table's name with `-keys` appended, as the template names it.
//! - What wraps the keys: the KMS key `SHOP_KMS_KEY_ID` (`--kms-key-id`),
//!   as deployed; else, for development, the local master key
//!   `ES_MASTER_KEY` (32 bytes, URL-safe base64 without padding); else the
//!   binary refuses to start, since without either it could neither seal
//!   a customer's personal data nor read it back.
//!
//! The master key is read from the environment only, never from a flag:
//! a command line is visible to every user of the machine (`ps`).
//!
//! In memory (the default of `shop-service`), `MemoryStore` has a vault of
//! its own and none of this applies.

use es::dynamo::{DynamoKeys, DynamoStore, KmsWrap};
use es::erasure::{DataKey, KeyWrap, LocalMasterKey, Vault};
use es::StoreError;
use futures::future::BoxFuture;

/// The environment variable that names the key table.
pub const KEYS_TABLE_VAR: &str = "SHOP_KEYS_TABLE";
/// The environment variable that names the KMS key wrapping the data keys.
pub const KMS_KEY_VAR: &str = "SHOP_KMS_KEY_ID";
/// The environment variable that holds a development master key, when no
/// KMS key is named.
pub const MASTER_KEY_VAR: &str = "ES_MASTER_KEY";

/// The key table of the events table `table` when neither the flag nor
/// `SHOP_KEYS_TABLE` names one: `{table}-keys`.
pub fn default_keys_table(table: &str) -> String {
    format!("{table}-keys")
}

/// `v`, trimmed, unless it is empty.
fn given(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|v| !v.is_empty())
}

/// What wraps the data keys.
#[derive(Debug, Clone)]
pub enum Wrapping {
    /// A KMS key: its id, ARN or alias.
    Kms(String),
    /// A master key held by the process, for development.
    Local(LocalMasterKey),
}

impl Wrapping {
    /// The KMS key `kms_key_id` when it is given (and not empty), else the
    /// master key in `master_key` (`ES_MASTER_KEY`'s value), else an error
    /// that says how to give one. The error never shows the master key.
    pub fn choose(kms_key_id: Option<&str>, master_key: Option<&str>) -> Result<Self, String> {
        if let Some(id) = given(kms_key_id) {
            if given(master_key).is_some() {
                tracing::warn!(
                    "{KMS_KEY_VAR} names a KMS key: {MASTER_KEY_VAR} is set too, and ignored"
                );
            }
            return Ok(Wrapping::Kms(id.to_owned()));
        }
        match given(master_key) {
            Some(text) => LocalMasterKey::from_base64(text)
                .map(Wrapping::Local)
                .map_err(|e| format!("{MASTER_KEY_VAR}: {e}")),
            None => Err(format!(
                "on DynamoDB the shop needs a key to wrap its customers' data keys: set \
                 {KMS_KEY_VAR} (--kms-key-id) to a KMS key, or, for development only, \
                 {MASTER_KEY_VAR} to 32 random bytes in URL-safe base64 without padding, e.g. \
                 `export {MASTER_KEY_VAR}=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | \
                 tr -d '=')`; data sealed under one master key reads only with that key"
            )),
        }
    }

    /// From the environment alone: `SHOP_KMS_KEY_ID`, else `ES_MASTER_KEY`.
    pub fn from_env() -> Result<Self, String> {
        Wrapping::choose(
            std::env::var(KMS_KEY_VAR).ok().as_deref(),
            std::env::var(MASTER_KEY_VAR).ok().as_deref(),
        )
    }
}

/// The key table `keys_table`, wrapped as `wrapping` says (a KMS client
/// from the AWS config chain, `AWS_ENDPOINT_URL_KMS` included), and the
/// vault over it that a binary gives every store it builds, so that they
/// share one cache of keys. Through `like`'s DynamoDB client when given
/// (and so with its timeouts), else one from the AWS config chain.
pub async fn vault(
    keys_table: String,
    wrapping: Wrapping,
    like: Option<&DynamoStore>,
) -> (Vault, DynamoKeys) {
    let keys = |wrap| async move {
        match like {
            Some(store) => DynamoKeys::new(store.client().clone(), keys_table, wrap),
            None => DynamoKeys::from_env(keys_table, wrap).await,
        }
    };
    let keys = match wrapping {
        Wrapping::Kms(id) => {
            tracing::info!(kms_key = %id, "keys: wrapped by KMS");
            keys(Wrap::Kms(KmsWrap::from_env(id).await)).await
        }
        Wrapping::Local(master) => {
            tracing::warn!("keys: wrapped by a local master key, for development only");
            keys(Wrap::Local(master)).await
        }
    };
    tracing::info!(keys_table = %keys.table(), "keys: DynamoDB");
    (Vault::new(keys.clone()), keys)
}

/// On Lambda: the vault over the key table `SHOP_KEYS_TABLE` (else
/// `{table}-keys`), wrapped as the environment says, or why the function
/// cannot start.
pub async fn vault_from_env(table: &str, like: Option<&DynamoStore>) -> Result<Vault, String> {
    let wrapping = Wrapping::from_env()?;
    Ok(vault(keys_table_from_env(table), wrapping, like).await.0)
}

/// The key table of the events table `table` from the environment alone
/// (on Lambda): `SHOP_KEYS_TABLE`, else `{table}-keys`.
pub fn keys_table_from_env(table: &str) -> String {
    std::env::var(KEYS_TABLE_VAR)
        .ok()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| default_keys_table(table))
}

/// Either wrap, as one type for [`DynamoKeys::new`].
enum Wrap {
    Kms(KmsWrap),
    Local(LocalMasterKey),
}

impl KeyWrap for Wrap {
    fn generate<'a>(
        &'a self,
        subject: &'a str,
    ) -> BoxFuture<'a, Result<(DataKey, Vec<u8>), StoreError>> {
        match self {
            Wrap::Kms(w) => w.generate(subject),
            Wrap::Local(w) => w.generate(subject),
        }
    }

    fn unwrap_key<'a>(
        &'a self,
        subject: &'a str,
        wrapped: &'a [u8],
    ) -> BoxFuture<'a, Result<DataKey, StoreError>> {
        match self {
            Wrap::Kms(w) => w.unwrap_key(subject, wrapped),
            Wrap::Local(w) => w.unwrap_key(subject, wrapped),
        }
    }

    fn wrapped_by(&self) -> &str {
        match self {
            Wrap::Kms(w) => w.wrapped_by(),
            Wrap::Local(w) => w.wrapped_by(),
        }
    }
}
