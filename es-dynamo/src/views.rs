//! [`DynamoViews`]: read models in a DynamoDB table of their own, and the
//! checkpoints of the drivers that keep them.
//!
//! One item per view, keyed `id` = `"{kind}#{view id}"` (S, the only key):
//!
//! | attribute | type | meaning |
//! |---|---|---|
//! | `id` | S | `"{kind}#{view id}"`; `$position#..` for positions, `$checkpoint#..` and `$shard#..` for checkpoints |
//! | `state` | M | the view, as a native DynamoDB map |
//! | `revision` | N | how many times it was written; each write is conditional on it |
//!
//! A projection's position for an aggregate is an item of its own,
//! `id` = `"$position#{projection}#{aggregate}#{aggregate id}"` with
//! `version` (N), the last version it applied. A driver reads the positions
//! of a batch's aggregates with one `BatchGetItem` (consistent), reads each
//! row it changes once (a consistent `GetItem`), and writes a run's rows
//! with its position in one `TransactWriteItems`, each item conditional on
//! what was read; a run that changed no row writes its position alone, with
//! a conditional `PutItem`.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::operation::create_table::CreateTableError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, KeysAndAttributes,
    Put, ReturnConsumedCapacity, ScalarAttributeType, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use es_core::store::capacity;
use es_core::store::{Cursor, Page, Record as _};
use es_core::{Error, Saved, Stats, StoreError, ViewRow, ViewTable};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::Instrument as _;

use crate::errors::store_error;
use crate::item::Whose;
use crate::size::item_size;
use crate::store::{default_timeouts, set_timeouts, with_timeout_config};
use crate::{item, payload, trace};

/// The key attribute of a view table.
pub const VIEW_ID: &str = "id";
const STATE: &str = "state";
const REVISION: &str = "revision";
const POSITION: &str = "version";
const VALUE: &str = "value";

/// A [`ViewTable`] on DynamoDB: one item per view, keyed `id`. Clones are
/// cheap and share the client and the [`Stats`].
///
/// Its requests have the same deadlines as [`DynamoStore`](crate::DynamoStore)'s:
/// by default [`DEFAULT_ATTEMPT_TIMEOUT`](crate::DynamoStore::DEFAULT_ATTEMPT_TIMEOUT)
/// per attempt and [`DEFAULT_OPERATION_TIMEOUT`](crate::DynamoStore::DEFAULT_OPERATION_TIMEOUT)
/// in all, so a projection on a stalled DynamoDB fails its batch, to be
/// delivered again, well inside its Lambda function's timeout. See
/// [`DynamoViews::with_timeouts`].
///
/// ```no_run
/// use es::dynamo::DynamoViews;
/// use es::prelude::*;
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize, Clone, Debug, Default)]
/// # struct Stock { on_hand: i64 }
///
/// # async fn run() -> Result<(), es::Error> {
/// let table = DynamoViews::from_env("shop-views").await;
/// table.ensure_table().await?;
/// let stock: Views<Stock, _> = Views::new(table, "stock");
/// println!("{:?}", stock.get("sku-1").await?);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct DynamoViews {
    inner: std::sync::Arc<Inner>,
}

struct Inner {
    client: Client,
    table: String,
    // Shared with the tables `with_timeouts` derives.
    stats: Arc<Stats>,
}

impl std::fmt::Debug for DynamoViews {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoViews")
            .field("table", &self.inner.table)
            .finish_non_exhaustive()
    }
}

impl DynamoViews {
    /// Views in `table`, through `client`. Nothing is sent until the first call.
    ///
    /// The operation and attempt timeouts that `client`'s config leaves
    /// unset take es's defaults, as [`DynamoStore::new`](crate::DynamoStore::new)'s
    /// do; one the config sets, or disables, is kept.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        let timeouts = default_timeouts(client.config().timeout_config());
        DynamoViews {
            inner: Arc::new(Inner {
                client: with_timeout_config(&client, timeouts),
                table: table.into(),
                stats: Arc::default(),
            }),
        }
    }

    /// Sets the operation timeout (the whole request, retries included) and
    /// the attempt timeout (each try); `None` turns that one off.
    ///
    /// A timeout is a retryable [`Error::Store`]; a view write's is also
    /// [indeterminate](Error::is_indeterminate). A projection's driver
    /// retries the batch, and the projection's position, written with the
    /// rows, makes a commit that landed skip the events it applied.
    ///
    /// ```no_run
    /// # async fn run() {
    /// use std::time::Duration;
    /// let views = es::dynamo::DynamoViews::from_env("shop-views")
    ///     .await
    ///     .with_timeouts(Some(Duration::from_secs(3)), Some(Duration::from_secs(1)));
    /// assert_eq!(views.attempt_timeout(), Some(Duration::from_secs(1)));
    /// # }
    /// ```
    pub fn with_timeouts(self, operation: Option<Duration>, attempt: Option<Duration>) -> Self {
        let client = &self.inner.client;
        let timeouts = set_timeouts(client.config().timeout_config(), operation, attempt);
        DynamoViews {
            inner: Arc::new(Inner {
                client: with_timeout_config(client, timeouts),
                table: self.inner.table.clone(),
                stats: Arc::clone(&self.inner.stats),
            }),
        }
    }

    /// The operation timeout in force: the longest a request may take,
    /// retries included; `None` when there is none.
    pub fn operation_timeout(&self) -> Option<Duration> {
        crate::store::operation_timeout_of(&self.inner.client)
    }

    /// The attempt timeout in force: the longest one try of a request may
    /// take; `None` when there is none.
    pub fn attempt_timeout(&self) -> Option<Duration> {
        crate::store::attempt_timeout_of(&self.inner.client)
    }

    /// Views in `table`, with a client from the AWS config chain, and es's
    /// default timeouts unless the loaded config sets them.
    pub async fn from_env(table: impl Into<String>) -> Self {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        DynamoViews::new(Client::new(&config), table)
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.inner.table
    }

    /// The SDK client.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// Creates the table unless it exists (on-demand, key `id` (S)), and
    /// waits until it is ACTIVE.
    pub async fn ensure_table(&self) -> Result<(), Error> {
        let built = (|| {
            Ok::<_, aws_sdk_dynamodb::error::BuildError>((
                AttributeDefinition::builder()
                    .attribute_name(VIEW_ID)
                    .attribute_type(ScalarAttributeType::S)
                    .build()?,
                KeySchemaElement::builder()
                    .attribute_name(VIEW_ID)
                    .key_type(KeyType::Hash)
                    .build()?,
            ))
        })();
        let (definition, key) =
            built.map_err(|e| Error::from(StoreError::permanent("CreateTable", e.to_string())))?;
        let sent = self
            .client()
            .create_table()
            .table_name(self.table())
            .attribute_definitions(definition)
            .key_schema(key)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await;
        match sent {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(CreateTableError::is_resource_in_use_exception) => {}
            Err(e) => return Err(store_error("CreateTable", self.table(), e).into()),
        }
        crate::table::wait_until_active(self.client(), self.table()).await?;
        Ok(())
    }

    pub(crate) async fn get(
        &self,
        key: &str,
    ) -> Result<Option<HashMap<String, AttributeValue>>, Error> {
        let span = trace::request(self.table(), "GetItem", "view", key);
        let output = self
            .client()
            .get_item()
            .table_name(self.table())
            .key(VIEW_ID, AttributeValue::S(key.to_owned()))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .instrument(span.clone())
            .await
            .map_err(|e| store_error("GetItem", self.table(), e))?;
        let units = output
            .consumed_capacity
            .as_ref()
            .and_then(|c| c.capacity_units)
            .unwrap_or_else(|| {
                capacity::consistent_read(output.item.as_ref().map_or(1, item_size))
            });
        let found = u64::from(output.item.is_some());
        self.inner.stats.record_read(found, units);
        trace::done(&span, "ok", found, units);
        Ok(output.item)
    }

    /// Puts `item` if `condition` holds; `Ok(false)` when it does not.
    pub(crate) async fn put_if(
        &self,
        item: HashMap<String, AttributeValue>,
        condition: &str,
        names: &[(&str, &str)],
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<bool, Error> {
        let key = match item.get(VIEW_ID) {
            Some(AttributeValue::S(key)) => key.clone(),
            _ => String::new(),
        };
        let bytes = item_size(&item);
        let span = trace::request(self.table(), "PutItem", "view", &key);
        let mut put = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression(condition)
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        for (name, attribute) in names {
            put = put.expression_attribute_names(*name, *attribute);
        }
        for (name, value) in values {
            put = put.expression_attribute_values(name, value);
        }
        match put.send().instrument(span.clone()).await {
            Ok(output) => {
                let units = output
                    .consumed_capacity
                    .and_then(|c| c.capacity_units)
                    .unwrap_or_else(|| capacity::write(bytes));
                self.inner.stats.record_write(1, units);
                trace::done(&span, "written", 1, units);
                Ok(true)
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                self.inner.stats.record_failed_write(capacity::write(bytes));
                trace::done(&span, "condition failed", 0, 0.0);
                Ok(false)
            }
            Err(e) => Err(store_error("PutItem", self.table(), e).into()),
        }
    }
}

fn view_key(kind: &str, id: &str) -> String {
    format!("{kind}#{id}")
}

fn decode_row<V: DeserializeOwned>(
    whose: Whose<'_>,
    mut item: HashMap<String, AttributeValue>,
) -> Result<ViewRow<V>, Error> {
    let revision = match item.remove(REVISION) {
        Some(AttributeValue::N(n)) => n.parse::<u64>().map_err(|_| {
            item::corrupt(
                whose,
                0,
                format!("`{REVISION}` {n:?} is not a whole number"),
            )
        })?,
        other => {
            return Err(item::corrupt(
                whose,
                0,
                describe(REVISION, "N", other.as_ref()),
            ))
        }
    };
    let state = match item.remove(STATE) {
        Some(state) => payload::decode(PhantomData::<V>, state)
            .map_err(|e| item::corrupt(whose, revision, format!("view state: {e}")))?,
        None => {
            return Err(item::corrupt(
                whose,
                revision,
                format!("`{STATE}` is missing"),
            ))
        }
    };
    Ok(ViewRow { state, revision })
}

fn describe(name: &str, expected: &str, found: Option<&AttributeValue>) -> String {
    match found {
        None => format!("`{name}` is missing"),
        Some(v) => format!("`{name}` is {}, not {expected}", item::type_name(v)),
    }
}

fn row_item(key: &str, state: AttributeValue, revision: u64) -> HashMap<String, AttributeValue> {
    [
        (VIEW_ID.to_owned(), AttributeValue::S(key.to_owned())),
        (STATE.to_owned(), state),
        (REVISION.to_owned(), AttributeValue::N(revision.to_string())),
    ]
    .into()
}

fn check_size(key: &str, item: &HashMap<String, AttributeValue>) -> Result<(), Error> {
    let size = item_size(item);
    if size > es_core::store::MAX_ITEM_BYTES {
        return Err(StoreError::permanent(
            "PutItem",
            format!(
                "view {key:?} is {size} bytes, over DynamoDB's {} byte item limit",
                es_core::store::MAX_ITEM_BYTES
            ),
        )
        .into());
    }
    Ok(())
}

fn position_key(projection: &str, aggregate: &str) -> String {
    format!("$position#{projection}#{aggregate}")
}

/// How many times `BatchGetItem` is sent again for keys DynamoDB left
/// unprocessed (throttling), with a growing pause, before giving up.
const UNPROCESSED_ATTEMPTS: u32 = 8;

impl DynamoViews {
    /// The item `condition` of a row or position, and its values: absent
    /// when `previous` is 0, at `previous` otherwise.
    fn expecting(
        attribute: &str,
        previous: u64,
    ) -> (
        String,
        HashMap<String, String>,
        Option<(String, AttributeValue)>,
    ) {
        if previous == 0 {
            (
                "attribute_not_exists(#id)".to_owned(),
                [("#id".to_owned(), VIEW_ID.to_owned())].into(),
                None,
            )
        } else {
            (
                "#v = :previous".to_owned(),
                [("#v".to_owned(), attribute.to_owned())].into(),
                Some((
                    ":previous".to_owned(),
                    AttributeValue::N(previous.to_string()),
                )),
            )
        }
    }

    async fn read_positions(
        &self,
        projection: &str,
        aggregates: &[String],
    ) -> Result<HashMap<String, u64>, Error> {
        let mut found = HashMap::new();
        let prefix = position_key(projection, "");
        for chunk in aggregates.chunks(100) {
            let unique: std::collections::BTreeSet<&String> = chunk.iter().collect();
            let mut keys: Vec<HashMap<String, AttributeValue>> = unique
                .into_iter()
                .map(|a| {
                    [(
                        VIEW_ID.to_owned(),
                        AttributeValue::S(position_key(projection, a)),
                    )]
                    .into()
                })
                .collect();
            let mut attempt = 0;
            while !keys.is_empty() {
                if attempt > 0 {
                    if attempt >= UNPROCESSED_ATTEMPTS {
                        return Err(StoreError::transient(
                            "BatchGetItem",
                            format!(
                                "table {:?}: {} positions stayed unprocessed after {attempt} \
                                 attempts",
                                self.table(),
                                keys.len()
                            ),
                        )
                        .into());
                    }
                    tokio::time::sleep(Duration::from_millis(25 << attempt.min(6))).await;
                }
                attempt += 1;
                let span = trace::request(self.table(), "BatchGetItem", "position", projection);
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut keys)))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| {
                        StoreError::permanent(
                            "BatchGetItem",
                            format!("cannot build the request: {e}"),
                        )
                    })?;
                let output = self
                    .client()
                    .batch_get_item()
                    .request_items(self.table(), request)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .instrument(span.clone())
                    .await
                    .map_err(|e| store_error("BatchGetItem", self.table(), e))?;
                let items = output
                    .responses
                    .and_then(|mut r| r.remove(self.table()))
                    .unwrap_or_default();
                let units = output
                    .consumed_capacity
                    .as_ref()
                    .map(|c| c.iter().filter_map(|c| c.capacity_units).sum::<f64>())
                    .filter(|u| *u > 0.0)
                    .unwrap_or_else(|| {
                        items
                            .iter()
                            .map(|i| capacity::consistent_read(item_size(i)))
                            .sum::<f64>()
                            .max(1.0)
                    });
                self.inner.stats.record_read(items.len() as u64, units);
                trace::done(&span, "ok", items.len() as u64, units);
                for mut item in items {
                    let key = match item.remove(VIEW_ID) {
                        Some(AttributeValue::S(key)) => key,
                        _ => continue,
                    };
                    let Some(aggregate) = key.strip_prefix(&prefix) else {
                        continue;
                    };
                    let version = match item.remove(POSITION) {
                        Some(AttributeValue::N(n)) => n.parse::<u64>().map_err(|_| {
                            item::corrupt(
                                Whose::new("$position", &key),
                                0,
                                format!("`{POSITION}` {n:?} is not a version"),
                            )
                        })?,
                        other => {
                            return Err(item::corrupt(
                                Whose::new("$position", &key),
                                0,
                                describe(POSITION, "N", other.as_ref()),
                            ))
                        }
                    };
                    found.insert(aggregate.to_owned(), version);
                }
                keys = output
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(self.table()))
                    .map(|k| k.keys)
                    .unwrap_or_default();
            }
        }
        Ok(found)
    }

    async fn write_commit(&self, commit: es_core::Commit<AttributeValue>) -> Result<Saved, Error> {
        let position = position_key(commit.projection, &commit.aggregate);
        let position_item: HashMap<String, AttributeValue> = [
            (VIEW_ID.to_owned(), AttributeValue::S(position.clone())),
            (
                POSITION.to_owned(),
                AttributeValue::N(commit.to.to_string()),
            ),
        ]
        .into();
        if commit.rows.is_empty() {
            let (condition, names, value) = Self::expecting(POSITION, commit.from);
            let names: Vec<(&str, &str)> = names
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let values = value.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
            let written = self
                .put_if(position_item, &condition, &names, values)
                .await?;
            return Ok(if written {
                Saved::Written
            } else {
                Saved::Stale
            });
        }
        if commit.rows.len() > es_core::MAX_COMMIT_ROWS {
            return Err(StoreError::permanent(
                "TransactWriteItems",
                format!(
                    "a commit of {} rows is over the limit of {} and a position",
                    commit.rows.len(),
                    es_core::MAX_COMMIT_ROWS
                ),
            )
            .into());
        }
        let mut sizes = Vec::with_capacity(commit.rows.len() + 1);
        let mut items = Vec::with_capacity(commit.rows.len() + 1);
        let mut put = |item: HashMap<String, AttributeValue>, attribute: &str, previous: u64| {
            sizes.push(item_size(&item));
            let (condition, names, value) = Self::expecting(attribute, previous);
            let put = Put::builder()
                .table_name(self.table())
                .set_item(Some(item))
                .condition_expression(condition)
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(value.map(|(k, v)| [(k, v)].into()))
                .build()
                .map_err(|e| {
                    StoreError::permanent("TransactWriteItems", format!("cannot build a put: {e}"))
                })?;
            items.push(TransactWriteItem::builder().put(put).build());
            Ok::<_, Error>(())
        };
        for row in commit.rows {
            let key = view_key(&row.kind, &row.id);
            let item = row_item(&key, row.state, row.revision);
            check_size(&key, &item)?;
            put(item, REVISION, row.revision.saturating_sub(1))?;
        }
        put(position_item, POSITION, commit.from)?;
        let units = capacity::transaction(sizes.iter().copied());
        let count = items.len() as u64;
        let span = trace::request(self.table(), "TransactWriteItems", "view", &position);
        let sent = self
            .client()
            .transact_write_items()
            .set_transact_items(Some(items))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .instrument(span.clone())
            .await;
        match sent {
            Ok(_) => {
                self.inner.stats.record_write(count, units);
                trace::done(&span, "written", count, units);
                Ok(Saved::Written)
            }
            Err(e) => {
                let reasons: Option<Vec<String>> = match e.as_service_error() {
                    Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => Some(
                        cancelled
                            .cancellation_reasons()
                            .iter()
                            .filter_map(|r| r.code().map(str::to_owned))
                            .collect(),
                    ),
                    _ => None,
                };
                match reasons {
                    // Another writer moved a row or the position, or was
                    // writing one at this moment: read again and redo.
                    Some(codes)
                        if codes.iter().all(|c| {
                            c == "None"
                                || c == "ConditionalCheckFailed"
                                || crate::errors::TRANSIENT_REASONS.contains(&c.as_str())
                        }) =>
                    {
                        self.inner.stats.record_failed_write(units);
                        trace::done(&span, "condition failed", 0, 0.0);
                        Ok(Saved::Stale)
                    }
                    _ => Err(store_error("TransactWriteItems", self.table(), e).into()),
                }
            }
        }
    }
}

impl ViewTable for DynamoViews {
    type Doc = AttributeValue;

    fn encode<V: Serialize>(
        &self,
        kind: &str,
        id: &str,
        state: &V,
    ) -> Result<AttributeValue, Error> {
        payload::encode(state).map_err(|e| {
            StoreError::permanent(
                "TransactWriteItems",
                format!(
                    "view {:?}: cannot encode the state: {e}",
                    view_key(kind, id)
                ),
            )
            .into()
        })
    }

    async fn positions(
        &self,
        projection: &str,
        aggregates: &[String],
    ) -> Result<HashMap<String, u64>, Error> {
        self.read_positions(projection, aggregates).await
    }

    async fn commit(&self, commit: es_core::Commit<AttributeValue>) -> Result<Saved, Error> {
        self.write_commit(commit).await
    }

    fn same_table(&self, other: &Self) -> bool {
        self.table() == other.table()
    }

    async fn load<V: DeserializeOwned>(
        &self,
        kind: &str,
        id: &str,
    ) -> Result<Option<ViewRow<V>>, Error> {
        let key = view_key(kind, id);
        match self.get(&key).await? {
            Some(item) => decode_row(Whose::new(kind, id), item).map(Some),
            None => Ok(None),
        }
    }

    async fn save<V: Serialize + Sync>(
        &self,
        kind: &str,
        id: &str,
        row: &ViewRow<V>,
    ) -> Result<Saved, Error> {
        let key = view_key(kind, id);
        let state = payload::encode(&row.state).map_err(|e| {
            Error::from(StoreError::permanent(
                "PutItem",
                format!("view {key:?}: cannot encode the state: {e}"),
            ))
        })?;
        let item = row_item(&key, state, row.revision);
        check_size(&key, &item)?;
        let previous = row.revision.saturating_sub(1);
        let written = if previous == 0 {
            self.put_if(
                item,
                "attribute_not_exists(#id)",
                &[("#id", VIEW_ID)],
                Vec::new(),
            )
            .await?
        } else {
            self.put_if(
                item,
                "#r = :previous",
                &[("#r", REVISION)],
                vec![(":previous", AttributeValue::N(previous.to_string()))],
            )
            .await?
        };
        Ok(if written {
            Saved::Written
        } else {
            Saved::Stale
        })
    }

    async fn list<V: DeserializeOwned>(
        &self,
        kind: &str,
        limit: Option<usize>,
        cursor: Option<Cursor>,
    ) -> Result<Page<(String, ViewRow<V>)>, Error> {
        let prefix = format!("{kind}#");
        let span = trace::request(self.table(), "Scan", "view", kind);
        let output = self
            .client()
            .scan()
            .table_name(self.table())
            .filter_expression("begins_with(#id, :prefix)")
            .expression_attribute_names("#id", VIEW_ID)
            .expression_attribute_values(":prefix", AttributeValue::S(prefix.clone()))
            .consistent_read(true)
            .set_limit(limit.map(|l| i32::try_from(l.max(1)).unwrap_or(i32::MAX)))
            .set_exclusive_start_key(
                cursor.map(|c| [(VIEW_ID.to_owned(), AttributeValue::S(c.into_string()))].into()),
            )
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .instrument(span.clone())
            .await
            .map_err(|e| store_error("Scan", self.table(), e))?;
        let items = output.items.unwrap_or_default();
        let units = output
            .consumed_capacity
            .and_then(|c| c.capacity_units)
            .unwrap_or_else(|| capacity::consistent_read(items.iter().map(item_size).sum()));
        self.inner.stats.record_read(items.len() as u64, units);
        trace::done(&span, "ok", items.len() as u64, units);
        let mut rows = Vec::with_capacity(items.len());
        for item in items {
            let key = match item.get(VIEW_ID) {
                Some(AttributeValue::S(key)) => key.clone(),
                _ => continue,
            };
            let Some(id) = key.strip_prefix(&prefix) else {
                continue;
            };
            rows.push((id.to_owned(), decode_row(Whose::new(kind, id), item)?));
        }
        let next = output
            .last_evaluated_key
            .and_then(|mut k| match k.remove(VIEW_ID) {
                Some(AttributeValue::S(key)) => Some(Cursor::new(key)),
                _ => None,
            });
        Ok(Page { items: rows, next })
    }

    async fn checkpoint(&self, name: &str) -> Result<Option<String>, Error> {
        let key = format!("$checkpoint#{name}");
        match self.get(&key).await? {
            None => Ok(None),
            Some(mut item) => match item.remove(VALUE) {
                Some(AttributeValue::S(value)) => Ok(Some(value)),
                other => Err(item::corrupt(
                    Whose::new("$checkpoint", name),
                    0,
                    describe(VALUE, "S", other.as_ref()),
                )),
            },
        }
    }

    async fn set_checkpoint(&self, name: &str, value: Option<&str>) -> Result<(), Error> {
        let key = format!("$checkpoint#{name}");
        let span = trace::request(self.table(), "PutItem", "checkpoint", &key);
        let sent = match value {
            Some(value) => self
                .client()
                .put_item()
                .table_name(self.table())
                .item(VIEW_ID, AttributeValue::S(key.clone()))
                .item(VALUE, AttributeValue::S(value.to_owned()))
                .send()
                .instrument(span.clone())
                .await
                .map(drop)
                .map_err(|e| store_error("PutItem", self.table(), e)),
            None => self
                .client()
                .delete_item()
                .table_name(self.table())
                .key(VIEW_ID, AttributeValue::S(key.clone()))
                .send()
                .instrument(span.clone())
                .await
                .map(drop)
                .map_err(|e| store_error("DeleteItem", self.table(), e)),
        };
        sent?;
        self.inner.stats.record_write(1, 1.0);
        trace::done(&span, "written", 1, 1.0);
        Ok(())
    }

    fn stats(&self) -> &Stats {
        &self.inner.stats
    }
}
