//! Creating the table, for tests and development. Production tables come
//! from infrastructure code: `docs/dynamodb.md` has the same table as
//! CloudFormation, Terraform and CDK.

use std::time::Duration;

use aws_sdk_dynamodb::client::Waiters as _;
use aws_sdk_dynamodb::operation::create_table::CreateTableError;
use aws_sdk_dynamodb::operation::describe_table::DescribeTableError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, IndexStatus, KeySchemaElement, KeyType,
    Projection, ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TableDescription, TableStatus, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::waiters::table_exists::WaitUntilTableExistsError as WaiterError;
use aws_sdk_dynamodb::Client;
use es_core::{Error, StoreError};
use tracing::Instrument;

use crate::errors::store_error;
use crate::layout::attributes::*;
use crate::{trace, DynamoStore};

/// How long [`DynamoStore::create_table`] and `DynamoViews::ensure_table` wait
/// for a table to become ACTIVE.
const ACTIVE_TIMEOUT: Duration = Duration::from_secs(300);

impl DynamoStore {
    /// Creates the table in this store's layout and waits until it is ACTIVE:
    /// on-demand capacity, the key `aggregateId` (S, HASH) and `version` (N,
    /// RANGE), the KEYS_ONLY index `initialEvents`, Streams with NEW_IMAGE, and
    /// TTL on `expiresAt` for command records.
    ///
    /// With [`DynamoStore::with_commands_table`], it then creates the commands
    /// table the same way: the same key, TTL on `expiresAt`, and no index
    /// and no stream, since nothing lists or projects command records.
    ///
    /// Fails if a table exists; [`DynamoStore::ensure_table`] does not.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), es::Error> {
    /// let store = es::dynamo::DynamoStore::from_env("events").await;
    /// store.create_table().await?;
    /// # Ok(()) }
    /// ```
    pub async fn create_table(&self) -> Result<(), Error> {
        for (table, shape) in self.tables() {
            let span = trace::request(table, "CreateTable", "", "");
            self.send_create_table(table, shape)
                .instrument(span.clone())
                .await
                .map_err(|e| store_error("CreateTable", table, e))?;
            trace::done(&span, "created", 0, 0.0);
            self.wait_until_active(table).await?;
            self.enable_ttl(table).await;
        }
        Ok(())
    }

    /// Creates the table unless it exists, then waits until it is ACTIVE.
    /// An existing table must have this store's key schema and index, or this
    /// fails naming the difference (such as a castore table of the other
    /// layout). With [`DynamoStore::with_commands_table`], the same for the
    /// commands table, which must have the events table's key.
    pub async fn ensure_table(&self) -> Result<(), Error> {
        for (table, shape) in self.tables() {
            self.ensure(table, shape).await?;
        }
        Ok(())
    }

    /// The tables this store writes to, and what each must look like.
    fn tables(&self) -> Vec<(&str, Shape)> {
        let mut tables = vec![(self.table(), Shape::Events)];
        if self.has_commands_table() {
            tables.push((self.commands_table(), Shape::Commands));
        }
        tables
    }

    async fn ensure(&self, name: &str, shape: Shape) -> Result<(), Error> {
        if let Some(table) = self.describe_table(name).await? {
            self.check_schema(name, shape, &table)?;
            if is_active(&table) {
                return Ok(());
            }
            self.wait_until_active(name).await?;
            return Ok(());
        }
        let span = trace::request(name, "CreateTable", "", "");
        match self
            .send_create_table(name, shape)
            .instrument(span.clone())
            .await
        {
            Ok(_) => {
                trace::done(&span, "created", 0, 0.0);
                self.wait_until_active(name).await?;
                self.enable_ttl(name).await;
                Ok(())
            }
            // Someone else created it first.
            Err(e)
                if e.as_service_error()
                    .is_some_and(CreateTableError::is_resource_in_use_exception) =>
            {
                trace::done(&span, "exists", 0, 0.0);
                let table = self.wait_until_active(name).await?;
                self.check_schema(name, shape, &table)
            }
            Err(e) => Err(store_error("CreateTable", name, e).into()),
        }
    }

    async fn send_create_table(
        &self,
        name: &str,
        shape: Shape,
    ) -> Result<
        aws_sdk_dynamodb::operation::create_table::CreateTableOutput,
        aws_sdk_dynamodb::error::SdkError<
            CreateTableError,
            aws_sdk_dynamodb::config::http::HttpResponse,
        >,
    > {
        let (hash, hash_type, _) = self.layout().initial_marker("");
        let definition = |name: &str, kind: ScalarAttributeType| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(kind)
                .build()
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
        };
        let built = (|| {
            let index = GlobalSecondaryIndex::builder()
                .index_name(INITIAL_EVENTS_INDEX)
                .key_schema(key(hash, KeyType::Hash)?)
                .key_schema(key(TIMESTAMP, KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::KeysOnly)
                        .build(),
                )
                .build()?;
            let streams = StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewImage)
                .build()?;
            Ok::<_, aws_sdk_dynamodb::error::BuildError>((
                vec![
                    definition(AGGREGATE_ID, ScalarAttributeType::S)?,
                    definition(VERSION, ScalarAttributeType::N)?,
                    definition(hash, hash_type)?,
                    definition(TIMESTAMP, ScalarAttributeType::S)?,
                ],
                vec![
                    key(AGGREGATE_ID, KeyType::Hash)?,
                    key(VERSION, KeyType::Range)?,
                ],
                index,
                streams,
            ))
        })();
        let (definitions, keys, index, streams) =
            built.map_err(aws_sdk_dynamodb::error::SdkError::construction_failure)?;
        let request = self
            .client()
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .set_key_schema(Some(keys));
        let request = match shape {
            Shape::Events => request
                .set_attribute_definitions(Some(definitions))
                .global_secondary_indexes(index)
                .stream_specification(streams),
            // Only the key: a definition of an attribute no key uses is
            // refused.
            Shape::Commands => request.set_attribute_definitions(Some(definitions[..2].to_vec())),
        };
        request.send().await
    }

    /// The description of table `name`, or `None` when it does not exist.
    async fn describe_table(&self, name: &str) -> Result<Option<TableDescription>, Error> {
        let span = trace::request(name, "DescribeTable", "", "");
        let sent = self
            .client()
            .describe_table()
            .table_name(name)
            .send()
            .instrument(span.clone())
            .await;
        match sent {
            Ok(output) => {
                trace::done(&span, "found", 0, 0.0);
                Ok(output.table)
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(DescribeTableError::is_resource_not_found_exception) =>
            {
                trace::done(&span, "missing", 0, 0.0);
                Ok(None)
            }
            Err(e) => Err(store_error("DescribeTable", name, e).into()),
        }
    }

    async fn wait_until_active(&self, name: &str) -> Result<TableDescription, Error> {
        wait_until_active(self.client(), name).await
    }

    /// Turns on TTL for command records. DynamoDB Local versions without TTL
    /// refuse this; the table works without it (expired records are ignored
    /// when read, just never deleted), so that is only logged.
    async fn enable_ttl(&self, name: &str) {
        let span = trace::request(name, "UpdateTimeToLive", "", "");
        let spec = TimeToLiveSpecification::builder()
            .enabled(true)
            .attribute_name(EXPIRES_AT)
            .build();
        let sent = match spec {
            Ok(spec) => self
                .client()
                .update_time_to_live()
                .table_name(name)
                .time_to_live_specification(spec)
                .send()
                .instrument(span.clone())
                .await
                .map(|_| ())
                .map_err(|e| store_error("UpdateTimeToLive", name, e).to_string()),
            Err(e) => Err(e.to_string()),
        };
        match sent {
            Ok(()) => trace::done(&span, "enabled", 0, 0.0),
            Err(reason) => {
                trace::done(&span, "error", 0, 0.0);
                tracing::warn!(table = name, %reason, "could not enable TTL on expiresAt; expired command records will not be deleted");
            }
        }
    }

    /// Checks that an existing table has this layout's keys, and the events
    /// table its index.
    fn check_schema(
        &self,
        name: &str,
        shape: Shape,
        table: &TableDescription,
    ) -> Result<(), Error> {
        let key_of = |schema: &[KeySchemaElement], kind: KeyType| {
            schema
                .iter()
                .find(|k| k.key_type() == &kind)
                .map(|k| k.attribute_name().to_owned())
        };
        let (hash, _, _) = self.layout().initial_marker("");
        let mut problems = Vec::new();
        if key_of(table.key_schema(), KeyType::Hash).as_deref() != Some(AGGREGATE_ID)
            || key_of(table.key_schema(), KeyType::Range).as_deref() != Some(VERSION)
        {
            problems.push(format!(
                "its key is not {AGGREGATE_ID} (HASH) and {VERSION} (RANGE)"
            ));
        }
        match table
            .global_secondary_indexes()
            .iter()
            .find(|i| i.index_name() == Some(INITIAL_EVENTS_INDEX))
        {
            // Nothing queries an index of the commands table.
            _ if shape == Shape::Commands => {}
            None => problems.push(format!("it has no index {INITIAL_EVENTS_INDEX:?}")),
            Some(index) => {
                let found = key_of(index.key_schema(), KeyType::Hash).unwrap_or_default();
                if found != hash {
                    problems.push(format!(
                        "its index {INITIAL_EVENTS_INDEX:?} is keyed on {found:?}, but {:?} uses {hash:?}",
                        self.layout()
                    ));
                }
            }
        }
        if problems.is_empty() {
            return Ok(());
        }
        Err(StoreError::permanent(
            "DescribeTable",
            format!(
                "{} table {name:?} does not fit this store: {}",
                shape.role(),
                problems.join("; ")
            ),
        )
        .into())
    }
}

/// What a table is for, and so what it must look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// The events table: the key, the `initialEvents` index, the stream.
    Events,
    /// A table of command records only: the same key, nothing else.
    Commands,
}

impl Shape {
    fn role(self) -> &'static str {
        match self {
            Shape::Events => "events",
            Shape::Commands => "commands",
        }
    }
}

fn is_active(table: &TableDescription) -> bool {
    table.table_status() == Some(&TableStatus::Active)
        && table
            .global_secondary_indexes()
            .iter()
            .all(|i| i.index_status().is_none_or(|s| s == &IndexStatus::Active))
}

/// Waits, with the SDK's `table_exists` waiter, until the table is
/// ACTIVE, then checks that its indexes are too.
///
/// The waiter polls on the SDK's own schedule (20 s to 120 s apart, after
/// a first immediate poll) and looks at the table's status alone. An
/// index es creates with the table is ACTIVE when the table is; one still
/// building on an ACTIVE table was added later with UpdateTable, and its
/// backfill can take hours, so that is reported instead of waited for.
pub(crate) async fn wait_until_active(
    client: &Client,
    name: &str,
) -> Result<TableDescription, Error> {
    let span = trace::request(name, "DescribeTable", "", "");
    let waited = client
        .wait_until_table_exists()
        .table_name(name)
        .wait(ACTIVE_TIMEOUT)
        .instrument(span.clone())
        .await;
    let table = match waited {
        Ok(poll) => match poll.into_result() {
            Ok(output) => output.table,
            Err(e) => {
                trace::done(&span, "error", 0, 0.0);
                return Err(store_error("DescribeTable", name, e).into());
            }
        },
        Err(WaiterError::OperationFailed(failed)) => {
            trace::done(&span, "error", 0, 0.0);
            return Err(store_error("DescribeTable", name, failed.into_error()).into());
        }
        Err(WaiterError::ExceededMaxWait(waited)) => {
            trace::done(&span, "timeout", 0, 0.0);
            return Err(StoreError::transient(
                "DescribeTable",
                format!(
                    "table {name:?} is not ACTIVE after {}s ({} polls)",
                    waited.elapsed().as_secs(),
                    waited.poll_count()
                ),
            )
            .into());
        }
        Err(other) => {
            trace::done(&span, "error", 0, 0.0);
            return Err(StoreError::permanent(
                "DescribeTable",
                format!("waiting for table {name:?} failed: {other}"),
            )
            .into());
        }
    };
    trace::done(&span, "active", 0, 0.0);
    let table = table.ok_or_else(|| {
        StoreError::permanent(
            "DescribeTable",
            format!("DynamoDB described table {name:?} without a description"),
        )
    })?;
    if let Some(index) = table
        .global_secondary_indexes()
        .iter()
        .find(|i| i.index_status().is_some_and(|s| s != &IndexStatus::Active))
    {
        return Err(StoreError::transient(
            "DescribeTable",
            format!(
                "table {name:?} is ACTIVE but its index {:?} is {}: an index added to an \
                 existing table is usable once its backfill ends",
                index.index_name().unwrap_or("(unnamed)"),
                index.index_status().map_or("not ACTIVE", |s| s.as_str())
            ),
        )
        .into());
    }
    Ok(table)
}
