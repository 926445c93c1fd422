//! [`DynamoTimers`]: durable timers in a DynamoDB table of their own, with a
//! sparse index on the due time, which a sweeper queries.
//!
//! One item per timer, keyed `id` (S):
//!
//! | attribute | type | meaning |
//! |---|---|---|
//! | `id` | S | the timer's id |
//! | `due` | N | when it is due, milliseconds since the Unix epoch |
//! | `kind` | S | what it does |
//! | `payload` | any | its arguments, as a native DynamoDB value |
//! | `state` | S | `pending`, `fired` or `cancelled` |
//! | `pending` | S | `"1"` while pending, absent after: the index's key, so only pending timers are in it |
//! | `expiresAt` | N | set when it fires or is cancelled: TTL deletes the item 7 days later |
//!
//! The index `due` (hash `pending`, range `due`, all attributes) holds the
//! pending timers only, in due order: a sweep is one `Query` of it for
//! `due <= now`, and costs the same whether one timer or none is due. Why a
//! table and not EventBridge Scheduler: the timers live beside the events,
//! are scheduled and cancelled with one conditional write each (no second
//! service to call, authorize and keep in step), are tested on DynamoDB
//! Local, and are swept by any process, a scheduled Lambda function or a
//! worker's loop. The price: a timer fires within one sweep interval after
//! it is due (a minute, on the template's schedule), not to the second.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::operation::create_table::CreateTableError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, ReturnValue, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use es_core::store::{capacity, Record as _};
use es_core::{Error, Scheduled, Stats, StoreError, Timer, TimerState, TimerStore};
use std::sync::Arc;
use tracing::Instrument as _;

use crate::errors::store_error;
use crate::item::{self, Whose};
use crate::size::item_size;
use crate::store::{default_timeouts, with_timeout_config};
use crate::trace;

const ID: &str = "id";
const DUE: &str = "due";
const KIND: &str = "kind";
const PAYLOAD: &str = "payload";
const STATE: &str = "state";
const PENDING: &str = "pending";
const EXPIRES_AT: &str = "expiresAt";
/// The index of pending timers by due time.
pub const DUE_INDEX: &str = "due";
/// How long a fired or cancelled timer is kept, as a tombstone.
const KEPT_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

/// A [`TimerStore`] on DynamoDB; see the [module docs](self). Clones share
/// the client and the [`Stats`].
#[derive(Clone)]
pub struct DynamoTimers {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    table: String,
    stats: Stats,
}

impl std::fmt::Debug for DynamoTimers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoTimers")
            .field("table", &self.inner.table)
            .finish_non_exhaustive()
    }
}

impl DynamoTimers {
    /// Timers in `table`, through `client`, with es's default timeouts where
    /// the client's config sets none.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        let timeouts = default_timeouts(client.config().timeout_config());
        DynamoTimers {
            inner: Arc::new(Inner {
                client: with_timeout_config(&client, timeouts),
                table: table.into(),
                stats: Stats::default(),
            }),
        }
    }

    /// Timers in `table`, with a client from the AWS config chain
    /// (`AWS_ENDPOINT_URL_DYNAMODB` included).
    pub async fn from_env(table: impl Into<String>) -> Self {
        let config = aws_config::load_from_env().await;
        DynamoTimers::new(Client::new(&config), table)
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.inner.table
    }

    /// The SDK client.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// Creates the table and its index unless the table exists, waits until
    /// it is ACTIVE, and turns TTL on `expiresAt`.
    ///
    /// # Errors
    ///
    /// A store failure.
    pub async fn ensure_table(&self) -> Result<(), Error> {
        let built = (|| {
            let s = |name: &str| {
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
            };
            let n = AttributeDefinition::builder()
                .attribute_name(DUE)
                .attribute_type(ScalarAttributeType::N)
                .build()?;
            let key = |name: &str, kind| {
                KeySchemaElement::builder()
                    .attribute_name(name)
                    .key_type(kind)
                    .build()
            };
            let index = GlobalSecondaryIndex::builder()
                .index_name(DUE_INDEX)
                .key_schema(key(PENDING, KeyType::Hash)?)
                .key_schema(key(DUE, KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()?;
            Ok::<_, aws_sdk_dynamodb::error::BuildError>((
                vec![s(ID)?, s(PENDING)?, n],
                key(ID, KeyType::Hash)?,
                index,
            ))
        })();
        let (definitions, key, index) =
            built.map_err(|e| Error::from(StoreError::permanent("CreateTable", e.to_string())))?;
        let sent = self
            .client()
            .create_table()
            .table_name(self.table())
            .set_attribute_definitions(Some(definitions))
            .key_schema(key)
            .global_secondary_indexes(index)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await;
        let created = match sent {
            Ok(_) => true,
            Err(e)
                if e.as_service_error()
                    .is_some_and(CreateTableError::is_resource_in_use_exception) =>
            {
                false
            }
            Err(e) => return Err(store_error("CreateTable", self.table(), e).into()),
        };
        crate::table::wait_until_active(self.client(), self.table()).await?;
        if created {
            let spec = TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(EXPIRES_AT)
                .build()
                .map_err(|e| StoreError::permanent("UpdateTimeToLive", e.to_string()))?;
            if let Err(e) = self
                .client()
                .update_time_to_live()
                .table_name(self.table())
                .time_to_live_specification(spec)
                .send()
                .await
            {
                tracing::warn!(table = self.table(), error = %store_error("UpdateTimeToLive", self.table(), e),
                    "could not turn TTL on; fired and cancelled timers will be kept");
            }
        }
        Ok(())
    }

    fn expires_at() -> AttributeValue {
        let secs = es_core::store::now_secs().saturating_add(KEPT_AFTER.as_secs());
        AttributeValue::N(secs.to_string())
    }

    /// An `UpdateItem` that ends a pending timer in `state`, on `condition`.
    /// `Ok(Some(old item))` when it ran, `Ok(None)` when the condition failed.
    async fn end(
        &self,
        id: &str,
        state: &str,
        condition: &str,
        operation: &'static str,
    ) -> Result<Option<HashMap<String, AttributeValue>>, Error> {
        let span = trace::request(self.table(), "UpdateItem", operation, id);
        let sent = self
            .client()
            .update_item()
            .table_name(self.table())
            .key(ID, AttributeValue::S(id.to_owned()))
            .update_expression("SET #state = :state, #expires = :expires REMOVE #pending")
            .condition_expression(condition)
            .expression_attribute_names("#state", STATE)
            .expression_attribute_names("#expires", EXPIRES_AT)
            .expression_attribute_names("#pending", PENDING)
            .expression_attribute_values(":state", AttributeValue::S(state.to_owned()))
            .expression_attribute_values(":expires", Self::expires_at())
            .expression_attribute_values(":pendingState", AttributeValue::S("pending".into()))
            .return_values(ReturnValue::AllOld)
            .send()
            .instrument(span.clone())
            .await;
        match sent {
            Ok(output) => {
                let units = capacity::write(output.attributes.as_ref().map_or(1, item_size));
                self.inner.stats.record_write(1, units);
                trace::done(&span, "written", 1, units);
                Ok(Some(output.attributes.unwrap_or_default()))
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                self.inner.stats.record_failed_write(1.0);
                trace::done(&span, "condition failed", 0, 0.0);
                Ok(None)
            }
            Err(e) => Err(store_error("UpdateItem", self.table(), e).into()),
        }
    }
}

fn number(
    whose: Whose<'_>,
    item: &HashMap<String, AttributeValue>,
    name: &str,
) -> Result<u64, Error> {
    match item.get(name) {
        Some(AttributeValue::N(n)) => n
            .parse()
            .map_err(|_| item::corrupt(whose, 0, format!("`{name}` {n:?} is not a whole number"))),
        Some(other) => Err(item::corrupt(
            whose,
            0,
            format!("`{name}` is {}, not N", item::type_name(other)),
        )),
        None => Ok(0),
    }
}

fn text(
    whose: Whose<'_>,
    item: &HashMap<String, AttributeValue>,
    name: &str,
) -> Result<String, Error> {
    match item.get(name) {
        Some(AttributeValue::S(s)) => Ok(s.clone()),
        Some(other) => Err(item::corrupt(
            whose,
            0,
            format!("`{name}` is {}, not S", item::type_name(other)),
        )),
        None => Ok(String::new()),
    }
}

/// A timer item as a [`Timer`] and where it is; a tombstone has no due
/// time, kind or payload.
fn decode(mut item: HashMap<String, AttributeValue>) -> Result<(Timer, TimerState), Error> {
    let id = match item.get(ID) {
        Some(AttributeValue::S(id)) => id.clone(),
        _ => {
            return Err(item::corrupt(
                Whose::new("$timer", ""),
                0,
                format!("`{ID}` is missing or not S"),
            ))
        }
    };
    let whose = Whose::new("$timer", &id);
    let due_millis = number(whose, &item, DUE)?;
    let kind = text(whose, &item, KIND)?;
    let state = match text(whose, &item, STATE)?.as_str() {
        "pending" => TimerState::Pending,
        "fired" => TimerState::Fired,
        "cancelled" => TimerState::Cancelled,
        other => {
            return Err(item::corrupt(
                whose,
                0,
                format!("`{STATE}` {other:?} is not pending, fired or cancelled"),
            ))
        }
    };
    let payload = match item.remove(PAYLOAD) {
        Some(value) => serde_dynamo::from_attribute_value::<_, serde_json::Value>(value)
            .map_err(|e| item::corrupt(whose, 0, format!("`{PAYLOAD}`: {e}")))?,
        None => serde_json::Value::Null,
    };
    Ok((
        Timer {
            id,
            due_millis,
            kind,
            payload,
        },
        state,
    ))
}

impl TimerStore for DynamoTimers {
    async fn schedule(&self, timer: &Timer) -> Result<Scheduled, Error> {
        let payload = serde_dynamo::to_attribute_value(&timer.payload).map_err(|e| {
            StoreError::permanent(
                "PutItem",
                format!("timer {:?}: cannot encode its payload: {e}", timer.id),
            )
        })?;
        let item: HashMap<String, AttributeValue> = [
            (ID.to_owned(), AttributeValue::S(timer.id.clone())),
            (
                DUE.to_owned(),
                AttributeValue::N(timer.due_millis.to_string()),
            ),
            (KIND.to_owned(), AttributeValue::S(timer.kind.clone())),
            (PAYLOAD.to_owned(), payload),
            (STATE.to_owned(), AttributeValue::S("pending".into())),
            (PENDING.to_owned(), AttributeValue::S("1".into())),
        ]
        .into();
        let bytes = item_size(&item);
        if bytes > es_core::store::MAX_ITEM_BYTES {
            return Err(StoreError::permanent(
                "PutItem",
                format!(
                    "timer {:?} is {bytes} bytes, over DynamoDB's {} byte item limit",
                    timer.id,
                    es_core::store::MAX_ITEM_BYTES
                ),
            )
            .into());
        }
        let span = trace::request(self.table(), "PutItem", "timer", &timer.id);
        let sent = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#id)")
            .expression_attribute_names("#id", ID)
            .send()
            .instrument(span.clone())
            .await;
        // The index holds a copy: a write to it costs as much again.
        let units = 2.0 * capacity::write(bytes);
        match sent {
            Ok(_) => {
                self.inner.stats.record_write(1, units);
                trace::done(&span, "written", 1, units);
                Ok(Scheduled::New)
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                self.inner.stats.record_failed_write(capacity::write(bytes));
                trace::done(&span, "exists", 0, 0.0);
                Ok(Scheduled::Exists)
            }
            Err(e) => Err(store_error("PutItem", self.table(), e).into()),
        }
    }

    async fn cancel(&self, id: &str) -> Result<bool, Error> {
        // Absent: the update writes a tombstone. Pending: it cancels it.
        // Fired or cancelled: the condition fails, and nothing changes.
        let old = self
            .end(
                id,
                "cancelled",
                "attribute_not_exists(#state) OR #state = :pendingState",
                "cancel timer",
            )
            .await?;
        Ok(old.is_some_and(|old| !old.is_empty()))
    }

    async fn due(&self, now_millis: u64, limit: usize) -> Result<Vec<Timer>, Error> {
        let span = trace::request(self.table(), "Query", "timers due", "");
        let output = self
            .client()
            .query()
            .table_name(self.table())
            .index_name(DUE_INDEX)
            .key_condition_expression("#pending = :one AND #due <= :now")
            .expression_attribute_names("#pending", PENDING)
            .expression_attribute_names("#due", DUE)
            .expression_attribute_values(":one", AttributeValue::S("1".into()))
            .expression_attribute_values(":now", AttributeValue::N(now_millis.to_string()))
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
            .send()
            .instrument(span.clone())
            .await
            .map_err(|e| store_error("Query", self.table(), e))?;
        let items = output.items.unwrap_or_default();
        // An index is read eventually consistently: half a unit per 4 KB.
        let units = capacity::consistent_read(items.iter().map(item_size).sum()) / 2.0;
        self.inner.stats.record_read(items.len() as u64, units);
        trace::done(&span, "ok", items.len() as u64, units);
        items
            .into_iter()
            .map(|item| decode(item).map(|(timer, _)| timer))
            .collect()
    }

    async fn fired(&self, id: &str) -> Result<bool, Error> {
        Ok(self
            .end(id, "fired", "#state = :pendingState", "fire timer")
            .await?
            .is_some())
    }

    async fn get(&self, id: &str) -> Result<Option<(Timer, TimerState)>, Error> {
        let span = trace::request(self.table(), "GetItem", "timer", id);
        let output = self
            .client()
            .get_item()
            .table_name(self.table())
            .key(ID, AttributeValue::S(id.to_owned()))
            .consistent_read(true)
            .send()
            .instrument(span.clone())
            .await
            .map_err(|e| store_error("GetItem", self.table(), e))?;
        let found = u64::from(output.item.is_some());
        self.inner.stats.record_read(found, 1.0);
        trace::done(&span, "ok", found, 1.0);
        output.item.map(decode).transpose()
    }

    fn stats(&self) -> &Stats {
        &self.inner.stats
    }
}
