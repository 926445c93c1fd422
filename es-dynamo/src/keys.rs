//! [`DynamoKeys`]: the data keys of data subjects (`es::erasure`) in a
//! DynamoDB table of their own, each wrapped by a [`KeyWrap`]: KMS in
//! production ([`KmsWrap`](crate::KmsWrap), feature `kms`), a
//! [`LocalMasterKey`](es_core::erasure::LocalMasterKey) in development.
//!
//! One item per subject, keyed `subject` (S), and nothing else in the key.
//! An item is either a key or a tombstone:
//!
//! | attribute | type | in | meaning |
//! |---|---|---|---|
//! | `subject` | S | both | the data subject, such as a customer id |
//! | `wrappedKey` | B | key | the subject's data key, wrapped |
//! | `wrappedBy` | S | key | what wrapped it: `local`, or the KMS key's id |
//! | `createdAt` | S | key | when it was made, ISO 8601 UTC |
//! | `forgottenAt` | S | tombstone | when the subject was forgotten, ISO 8601 UTC |
//!
//! A key is only ever written where there is no item (`PutItem` on
//! `attribute_not_exists(subject)`), and forgetting writes the tombstone
//! over the whole item, key included, in one unconditional `PutItem`: so a
//! tombstone is never replaced by a key, and two processes making one
//! subject's key at once end with the same key, the one that landed first.
//!
//! What each call costs: [`KeyStore::fetch`] is one consistent
//! `BatchGetItem` per 100 subjects, one unwrap per key found (for KMS, one
//! `Decrypt` request), and per absent subject with `create`, one wrap (a
//! KMS `GenerateDataKey`) and one conditional `PutItem`.
//! [`DynamoKeys::stats`] and [`DynamoKeys::wrap_stats`] count them. A
//! [`Vault`](es_core::erasure::Vault) in front caches the unwrapped keys,
//! so a warm process pays none of this.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::operation::create_table::CreateTableError;
use aws_sdk_dynamodb::operation::describe_table::DescribeTableError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, KeysAndAttributes,
    ReturnConsumedCapacity, ReturnValuesOnConditionCheckFailure, ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;
use es_core::erasure::{DataKey, KeyState, KeyStore, KeyWrap};
use es_core::store::{capacity, Record as _};
use es_core::{Error, Stats, StoreError};
use futures::future::BoxFuture;
use futures::stream::{self, StreamExt as _, TryStreamExt as _};
use tracing::Instrument as _;

use crate::errors::store_error;
use crate::item::type_name;
use crate::size::item_size;
use crate::store::{default_timeouts, with_timeout_config};
use crate::trace;

/// The names of the key table's attributes.
pub mod key_attributes {
    /// The partition key: the data subject (S).
    pub const SUBJECT: &str = "subject";
    /// The wrapped data key (B), on a key's item.
    pub const WRAPPED_KEY: &str = "wrappedKey";
    /// What wrapped it (S): `local` or the KMS key's id.
    pub const WRAPPED_BY: &str = "wrappedBy";
    /// When the key was made (S, ISO 8601 UTC).
    pub const CREATED_AT: &str = "createdAt";
    /// When the subject was forgotten (S, ISO 8601 UTC), on a tombstone.
    pub const FORGOTTEN_AT: &str = "forgottenAt";
}
use key_attributes::*;

/// `BatchGetItem`'s limit of keys per request.
const BATCH: usize = 100;
/// How many subjects of one fetch are unwrapped or created at once: each
/// may be a KMS request, which KMS rate-limits per account.
const CONCURRENCY: usize = 16;
/// How many times `BatchGetItem` is sent again for keys DynamoDB left
/// unprocessed (throttling), with a growing pause, before giving up.
const UNPROCESSED_ATTEMPTS: u32 = 8;
/// How many times creating one subject's key may find, after its
/// condition failed, that the item is gone again (only someone deleting
/// items by hand does that) before giving up.
const CREATE_ATTEMPTS: u32 = 3;

/// A [`KeyStore`] on a DynamoDB table; see the [module docs](self). Clones
/// share the client, the wrap and the counters.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// use es::dynamo::{DynamoKeys, DynamoStore};
/// use es::erasure::{LocalMasterKey, Vault};
///
/// let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
/// let client = aws_sdk_dynamodb::Client::new(&config);
/// let master = LocalMasterKey::from_base64(&std::env::var("ES_MASTER_KEY")?)?;
/// DynamoKeys::create_table(&client, "keys").await?;
/// let vault = Vault::new(DynamoKeys::new(client.clone(), "keys", master));
/// let store = DynamoStore::new(client, "events").with_vault(vault);
/// # let _ = store;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct DynamoKeys {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    table: String,
    wrap: Box<dyn KeyWrap>,
    stats: Stats,
    generated: AtomicU64,
    unwrapped: AtomicU64,
}

/// What a [`DynamoKeys`] asked of its [`KeyWrap`]: with
/// [`KmsWrap`](crate::KmsWrap), each is one KMS request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WrapStats {
    /// Keys made and wrapped (KMS `GenerateDataKey`).
    pub generated: u64,
    /// Keys unwrapped (KMS `Decrypt`).
    pub unwrapped: u64,
}

impl WrapStats {
    /// Both together: the wrap's requests.
    pub fn requests(&self) -> u64 {
        self.generated + self.unwrapped
    }
}

impl std::ops::Sub for WrapStats {
    type Output = WrapStats;

    fn sub(self, before: WrapStats) -> WrapStats {
        WrapStats {
            generated: self.generated.saturating_sub(before.generated),
            unwrapped: self.unwrapped.saturating_sub(before.unwrapped),
        }
    }
}

impl std::fmt::Debug for DynamoKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoKeys")
            .field("table", &self.inner.table)
            .field("wrapped_by", &self.inner.wrap.wrapped_by())
            .finish_non_exhaustive()
    }
}

/// What one item of the table holds.
enum Stored {
    Key { wrapped: Vec<u8>, by: String },
    Tombstone,
}

impl DynamoKeys {
    /// Keys in `table`, through `client`, wrapped by `wrap`, with es's
    /// default timeouts where the client's config sets none. Nothing is
    /// sent until the first call.
    pub fn new(client: Client, table: impl Into<String>, wrap: impl KeyWrap) -> Self {
        let timeouts = default_timeouts(client.config().timeout_config());
        DynamoKeys {
            inner: Arc::new(Inner {
                client: with_timeout_config(&client, timeouts),
                table: table.into(),
                wrap: Box::new(wrap),
                stats: Stats::default(),
                generated: AtomicU64::new(0),
                unwrapped: AtomicU64::new(0),
            }),
        }
    }

    /// Keys in `table`, with a client from the AWS config chain
    /// (`AWS_ENDPOINT_URL_DYNAMODB` included).
    pub async fn from_env(table: impl Into<String>, wrap: impl KeyWrap) -> Self {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        DynamoKeys::new(Client::new(&config), table, wrap)
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.inner.table
    }

    /// The SDK client.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The DynamoDB requests this key store sent, and their capacity.
    pub fn stats(&self) -> &Stats {
        &self.inner.stats
    }

    /// What this key store asked of its wrap.
    pub fn wrap_stats(&self) -> WrapStats {
        WrapStats {
            generated: self.inner.generated.load(Ordering::Relaxed),
            unwrapped: self.inner.unwrapped.load(Ordering::Relaxed),
        }
    }

    /// Creates a key table named `name` and waits until it is ACTIVE:
    /// partition key `subject` (S) and nothing else, on-demand capacity
    /// (a key is read once per subject per process and cache age, so the
    /// traffic is small and bursty: on-demand costs nothing while idle).
    /// Fails if the table exists; [`DynamoKeys::ensure_table`] does not.
    ///
    /// Point-in-time recovery is left off, and for the caller to choose,
    /// because it cuts both ways: a restore brings back the keys of
    /// subjects forgotten within its window (up to 35 days), undoing their
    /// erasure in the restored table; without it, a key table deleted or
    /// overwritten by mistake makes every subject's personal data
    /// unreadable for good. Production tables come from infrastructure
    /// code (the shop's `template.yaml` has one), which decides.
    pub async fn create_table(client: &Client, name: &str) -> Result<(), Error> {
        let span = trace::request(name, "CreateTable", "", "");
        send_create_table(client, name)
            .instrument(span.clone())
            .await
            .map_err(|e| store_error("CreateTable", name, e))?;
        trace::done(&span, "created", 0, 0.0);
        crate::table::wait_until_active(client, name).await?;
        Ok(())
    }

    /// Creates the table as [`DynamoKeys::create_table`] does unless it
    /// exists, then waits until it is ACTIVE. An existing table must have
    /// the key `subject` (S) alone, or this fails saying what it has.
    pub async fn ensure_table(&self) -> Result<(), Error> {
        let (client, name) = (self.client(), self.table());
        let span = trace::request(name, "DescribeTable", "", "");
        let described = client
            .describe_table()
            .table_name(name)
            .send()
            .instrument(span.clone())
            .await;
        match described {
            Ok(output) => {
                trace::done(&span, "found", 0, 0.0);
                if let Some(table) = output.table() {
                    check_schema(name, table)?;
                }
                crate::table::wait_until_active(client, name).await?;
                return Ok(());
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(DescribeTableError::is_resource_not_found_exception) =>
            {
                trace::done(&span, "missing", 0, 0.0);
            }
            Err(e) => return Err(store_error("DescribeTable", name, e).into()),
        }
        let span = trace::request(name, "CreateTable", "", "");
        match send_create_table(client, name)
            .instrument(span.clone())
            .await
        {
            Ok(_) => trace::done(&span, "created", 0, 0.0),
            // Someone else created it first.
            Err(e)
                if e.as_service_error()
                    .is_some_and(CreateTableError::is_resource_in_use_exception) =>
            {
                trace::done(&span, "exists", 0, 0.0);
            }
            Err(e) => return Err(store_error("CreateTable", name, e).into()),
        }
        let table = crate::table::wait_until_active(client, name).await?;
        check_schema(name, &table)
    }

    /// Reads the items of `subjects` (unique, at most [`BATCH`]) with one
    /// consistent `BatchGetItem`, sent again for what DynamoDB leaves
    /// unprocessed.
    async fn batch_get(
        &self,
        subjects: &[&str],
        found: &mut HashMap<String, Stored>,
    ) -> Result<(), StoreError> {
        let table = self.table();
        let mut keys: Vec<HashMap<String, AttributeValue>> = subjects
            .iter()
            .map(|s| [(SUBJECT.to_owned(), AttributeValue::S((*s).to_owned()))].into())
            .collect();
        let mut attempt = 0;
        while !keys.is_empty() {
            if attempt > 0 {
                if attempt >= UNPROCESSED_ATTEMPTS {
                    return Err(StoreError::transient(
                        "BatchGetItem",
                        format!(
                            "table {table:?}: the keys of {} subjects stayed unprocessed after \
                             {attempt} attempts",
                            keys.len()
                        ),
                    ));
                }
                // 50 ms, 100 ms, … 3.2 s.
                tokio::time::sleep(Duration::from_millis(25 << attempt.min(7))).await;
            }
            attempt += 1;
            let count = keys.len();
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut keys)))
                .consistent_read(true)
                .build()
                .map_err(|e| {
                    StoreError::permanent(
                        "BatchGetItem",
                        format!("table {table:?}: cannot build the request: {e}"),
                    )
                })?;
            let span = trace::request(table, "BatchGetItem", "subjects", &count.to_string());
            let output = self
                .client()
                .batch_get_item()
                .request_items(table, request)
                .return_consumed_capacity(ReturnConsumedCapacity::None)
                .send()
                .instrument(span.clone())
                .await
                .map_err(|e| store_error("BatchGetItem", table, e))?;
            let items = output
                .responses
                .and_then(|mut r| r.remove(table))
                .unwrap_or_default();
            // A BatchGetItem is billed per item, each rounded up to 4 KB,
            // and one unit at least when it reads none.
            let units = items
                .iter()
                .map(|i| capacity::consistent_read(item_size(i)))
                .sum::<f64>()
                .max(1.0);
            self.inner.stats.record_read(items.len() as u64, units);
            trace::done(&span, "ok", items.len() as u64, units);
            for item in items {
                let subject = match item.get(SUBJECT) {
                    Some(AttributeValue::S(s)) => s.clone(),
                    other => {
                        return Err(StoreError::permanent(
                            "BatchGetItem",
                            format!(
                                "table {table:?}: an item's `{SUBJECT}` is {}, not S",
                                other.map_or("missing", type_name)
                            ),
                        ))
                    }
                };
                let stored = parse("BatchGetItem", table, &subject, &item)?;
                found.insert(subject, stored);
            }
            keys = output
                .unprocessed_keys
                .and_then(|mut u| u.remove(table))
                .map(|k| k.keys)
                .unwrap_or_default();
        }
        Ok(())
    }

    /// One subject's item, read consistently: after a creation lost its
    /// race, to use what won.
    async fn get(&self, subject: &str) -> Result<Option<Stored>, StoreError> {
        let table = self.table();
        let span = trace::request(table, "GetItem", "subject", subject);
        let output = self
            .client()
            .get_item()
            .table_name(table)
            .key(SUBJECT, AttributeValue::S(subject.to_owned()))
            .consistent_read(true)
            .send()
            .instrument(span.clone())
            .await
            .map_err(|e| store_error("GetItem", table, e))?;
        let item = output.item;
        let units = item
            .as_ref()
            .map_or(1.0, |i| capacity::consistent_read(item_size(i)));
        self.inner
            .stats
            .record_read(u64::from(item.is_some()), units);
        trace::done(&span, "ok", u64::from(item.is_some()), units);
        item.map(|i| parse("GetItem", table, subject, &i))
            .transpose()
    }

    async fn unwrap(&self, subject: &str, wrapped: &[u8], by: &str) -> Result<DataKey, StoreError> {
        self.inner.unwrapped.fetch_add(1, Ordering::Relaxed);
        self.inner
            .wrap
            .unwrap_key(subject, wrapped)
            .await
            .map_err(|e| {
                let text = format!(
                    "table {:?}, subject {subject:?}, attribute `{WRAPPED_KEY}` (wrapped by \
                     {by:?}; this store unwraps with {:?}): {}",
                    self.table(),
                    self.inner.wrap.wrapped_by(),
                    message_of(&e),
                );
                if e.is_retryable() {
                    StoreError::transient(e.operation(), text)
                } else {
                    StoreError::permanent(e.operation(), text)
                }
                .with_source(e)
            })
    }

    /// Makes `subject`'s key, unless an item appeared since it was read:
    /// then what that item holds, a key made by another process or a
    /// tombstone.
    async fn create(&self, subject: &str) -> Result<KeyState, StoreError> {
        let table = self.table();
        for _ in 0..CREATE_ATTEMPTS {
            self.inner.generated.fetch_add(1, Ordering::Relaxed);
            let (key, wrapped) = self.inner.wrap.generate(subject).await.map_err(|e| {
                let text = format!(
                    "table {table:?}, subject {subject:?}: making its key with {:?}: {}",
                    self.inner.wrap.wrapped_by(),
                    message_of(&e),
                );
                if e.is_retryable() {
                    StoreError::transient(e.operation(), text)
                } else {
                    StoreError::permanent(e.operation(), text)
                }
                .with_source(e)
            })?;
            let item: HashMap<String, AttributeValue> = [
                (SUBJECT.to_owned(), AttributeValue::S(subject.to_owned())),
                (
                    WRAPPED_KEY.to_owned(),
                    AttributeValue::B(Blob::new(wrapped)),
                ),
                (
                    WRAPPED_BY.to_owned(),
                    AttributeValue::S(self.inner.wrap.wrapped_by().to_owned()),
                ),
                (
                    CREATED_AT.to_owned(),
                    AttributeValue::S(es_core::store::now()),
                ),
            ]
            .into();
            let units = capacity::write(item_size(&item));
            let span = trace::request(table, "PutItem", "subject", subject);
            let sent = self
                .client()
                .put_item()
                .table_name(table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(#s)")
                .expression_attribute_names("#s", SUBJECT)
                // The winner's item comes back with the failure, which
                // saves reading it.
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .instrument(span.clone())
                .await;
            let lost = match sent {
                Ok(_) => {
                    self.inner.stats.record_write(1, units);
                    trace::done(&span, "created", 1, units);
                    return Ok(KeyState::Key(key));
                }
                Err(e)
                    if e.as_service_error()
                        .is_some_and(PutItemError::is_conditional_check_failed_exception) =>
                {
                    self.inner.stats.record_failed_write(units);
                    trace::done(&span, "exists", 0, units);
                    match e.into_service_error() {
                        PutItemError::ConditionalCheckFailedException(failed) => failed.item,
                        _ => None,
                    }
                }
                Err(e) => {
                    trace::done(&span, "error", 0, units);
                    return Err(store_error("PutItem", table, e));
                }
            };
            let stored = match lost {
                Some(item) => Some(parse("PutItem", table, subject, &item)?),
                // An older DynamoDB (Local) that returns no item: read it.
                None => self.get(subject).await?,
            };
            match stored {
                Some(Stored::Tombstone) => return Ok(KeyState::Forgotten),
                Some(Stored::Key { wrapped, by }) => {
                    return self.unwrap(subject, &wrapped, &by).await.map(KeyState::Key)
                }
                // Deleted in between: try again.
                None => continue,
            }
        }
        Err(StoreError::transient(
            "PutItem",
            format!(
                "table {table:?}, subject {subject:?}: its item kept appearing and disappearing \
                 while its key was made ({CREATE_ATTEMPTS} attempts)"
            ),
        ))
    }

    async fn fetch_all(
        &self,
        subjects: &[String],
        create: bool,
    ) -> Result<Vec<(String, KeyState)>, StoreError> {
        let mut seen = HashSet::new();
        let unique: Vec<&str> = subjects
            .iter()
            .map(String::as_str)
            .filter(|s| seen.insert(*s))
            .collect();
        let mut found = HashMap::with_capacity(unique.len());
        for chunk in unique.chunks(BATCH) {
            self.batch_get(chunk, &mut found).await?;
        }
        let found = &found;
        // Owned subjects: a closure over borrowed ones trips rustc's
        // checking of the stream's `Send` (rust-lang/rust#64552).
        stream::iter(unique.into_iter().map(str::to_owned))
            .map(|subject| async move {
                let state = match found.get(&subject) {
                    Some(Stored::Tombstone) => KeyState::Forgotten,
                    Some(Stored::Key { wrapped, by }) => {
                        KeyState::Key(self.unwrap(&subject, wrapped, by).await?)
                    }
                    None if create => self.create(&subject).await?,
                    None => KeyState::Absent,
                };
                Ok::<_, StoreError>((subject, state))
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await
    }

    async fn forget_one(&self, subject: &str) -> Result<(), StoreError> {
        let table = self.table();
        let item: HashMap<String, AttributeValue> = [
            (SUBJECT.to_owned(), AttributeValue::S(subject.to_owned())),
            (
                FORGOTTEN_AT.to_owned(),
                AttributeValue::S(es_core::store::now()),
            ),
        ]
        .into();
        let units = capacity::write(item_size(&item));
        let span = trace::request(table, "PutItem", "subject", subject);
        // Unconditional: the tombstone replaces the whole item, so the
        // wrapped key goes in the same write, and forgetting twice is
        // no error.
        let sent = self
            .client()
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .send()
            .instrument(span.clone())
            .await;
        match sent {
            Ok(_) => {
                self.inner.stats.record_write(1, units);
                trace::done(&span, "forgotten", 1, units);
                Ok(())
            }
            Err(e) => {
                self.inner.stats.record_failed_write(units);
                trace::done(&span, "error", 0, units);
                Err(store_error("PutItem", table, e))
            }
        }
    }
}

impl KeyStore for DynamoKeys {
    fn fetch<'a>(
        &'a self,
        subjects: &'a [String],
        create: bool,
    ) -> BoxFuture<'a, Result<Vec<(String, KeyState)>, StoreError>> {
        Box::pin(self.fetch_all(subjects, create))
    }

    fn forget<'a>(&'a self, subject: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.forget_one(subject))
    }
}

/// A wrap's error as text, without the `{operation} failed: ` its own
/// display starts with, which the error made of it says again.
fn message_of(e: &StoreError) -> String {
    let text = e.to_string();
    let prefix = format!("{} failed: ", e.operation());
    text.strip_prefix(&prefix)
        .map_or(text.clone(), str::to_owned)
}

/// What `item`, `subject`'s, holds; a [`StoreError`] naming the table, the
/// subject and the attribute when it is neither a key nor a tombstone.
fn parse(
    operation: &'static str,
    table: &str,
    subject: &str,
    item: &HashMap<String, AttributeValue>,
) -> Result<Stored, StoreError> {
    // A tombstone is recognised by its attribute alone, whatever its type
    // and whatever else the item holds: reading an odd item as forgotten
    // never brings personal data back.
    if item.contains_key(FORGOTTEN_AT) {
        return Ok(Stored::Tombstone);
    }
    let bad = |attribute: &str, what: String| {
        StoreError::permanent(
            operation,
            format!(
                "table {table:?}, subject {subject:?}, attribute `{attribute}`: {what} (an item \
                 is a key, with `{WRAPPED_KEY}` (B), or a tombstone, with `{FORGOTTEN_AT}`)"
            ),
        )
    };
    let wrapped = match item.get(WRAPPED_KEY) {
        Some(AttributeValue::B(b)) => b.as_ref().to_vec(),
        Some(other) => return Err(bad(WRAPPED_KEY, format!("is {}, not B", type_name(other)))),
        None => return Err(bad(WRAPPED_KEY, "is missing".to_owned())),
    };
    let by = match item.get(WRAPPED_BY) {
        Some(AttributeValue::S(s)) => s.clone(),
        Some(other) => return Err(bad(WRAPPED_BY, format!("is {}, not S", type_name(other)))),
        None => "(not recorded)".to_owned(),
    };
    Ok(Stored::Key { wrapped, by })
}

async fn send_create_table(
    client: &Client,
    name: &str,
) -> Result<
    aws_sdk_dynamodb::operation::create_table::CreateTableOutput,
    aws_sdk_dynamodb::error::SdkError<
        CreateTableError,
        aws_sdk_dynamodb::config::http::HttpResponse,
    >,
> {
    let definition = AttributeDefinition::builder()
        .attribute_name(SUBJECT)
        .attribute_type(ScalarAttributeType::S)
        .build();
    let key = KeySchemaElement::builder()
        .attribute_name(SUBJECT)
        .key_type(KeyType::Hash)
        .build();
    let (definition, key) = match (definition, key) {
        (Ok(d), Ok(k)) => (d, k),
        (Err(e), _) | (_, Err(e)) => {
            return Err(aws_sdk_dynamodb::error::SdkError::construction_failure(e))
        }
    };
    client
        .create_table()
        .table_name(name)
        .attribute_definitions(definition)
        .key_schema(key)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
}

/// Whether an existing table has the key table's key: `subject` (S) alone.
fn check_schema(
    name: &str,
    table: &aws_sdk_dynamodb::types::TableDescription,
) -> Result<(), Error> {
    let keys: Vec<(&str, &KeyType)> = table
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type()))
        .collect();
    let subject_is_s = table
        .attribute_definitions()
        .iter()
        .any(|d| d.attribute_name() == SUBJECT && d.attribute_type() == &ScalarAttributeType::S);
    if keys == [(SUBJECT, &KeyType::Hash)] && subject_is_s {
        return Ok(());
    }
    Err(StoreError::permanent(
        "DescribeTable",
        format!(
            "table {name:?} is not a key table: its key is {keys:?}, and a key table's is \
             `{SUBJECT}` (S) alone"
        ),
    )
    .into())
}
