//! [`DynamoStore`]: the handle, its options, and the [`EventStore`] impl.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
use aws_sdk_dynamodb::Client;
use es_core::store::{
    CodecError, CommandRecord, Commit, Committed, Cursor, EventStore, Page, ReadRequest,
    StoredEvent, Writers,
};
use es_core::{Error, Stats};
use serde::de::DeserializeSeed;
use serde::Serialize;

use crate::layout::Layout;
use crate::payload;

/// The DynamoDB event store, in castore's table layout.
///
/// One item per event, keyed `"{Aggregate::NAME}#{id}"` and version; a
/// single-event commit is one `PutItem`, a larger one a `TransactWriteItems`;
/// a load is one consistent `Query` per 1 MB page. See `docs/dynamodb.md` for
/// the table, its infrastructure-as-code and IAM policy, and what each
/// operation costs.
///
/// Clones are cheap and share the client and the [`Stats`].
///
/// Every request has a deadline: by default an attempt gives up after
/// [`DEFAULT_ATTEMPT_TIMEOUT`](DynamoStore::DEFAULT_ATTEMPT_TIMEOUT) and the
/// whole operation, retries included, after
/// [`DEFAULT_OPERATION_TIMEOUT`](DynamoStore::DEFAULT_OPERATION_TIMEOUT), so
/// a stalled DynamoDB fails a command with a retryable [`Error::Store`]
/// well inside a Lambda function's timeout instead of hanging it. See
/// [`DynamoStore::with_timeouts`].
///
/// ```no_run
/// use es::dynamo::DynamoStore;
/// use es::prelude::*;
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Event, Serialize, Deserialize, Clone, Debug)]
/// # pub struct Restocked { pub amount: u32 }
/// # #[derive(Aggregate, Serialize, Deserialize, Clone, Debug, Default)]
/// # pub struct Product { pub on_hand: u32 }
/// # #[es::handlers]
/// # impl Product {
/// #     #[on(Restocked)]
/// #     fn restocked(&mut self, e: &Restocked) { self.on_hand += e.amount; }
/// # }
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// // The AWS config chain; AWS_ENDPOINT_URL_DYNAMODB points it at DynamoDB Local.
/// let store = DynamoStore::from_env("events").await;
/// store.ensure_table().await?;
/// let mut product = Product::load(&store, "sku-1").await?;
/// product.commit(Restocked { amount: 10 }).await?; // one PutItem
/// println!("{:?}", store.stats().snapshot());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct DynamoStore {
    inner: Arc<Inner>,
    layout: Layout,
    // Apart from `inner`: a second `DynamoStore::new` on the same table is
    // a second writer, as another process would be.
    writers: Arc<Writers>,
    // Whether requests ask DynamoDB for their consumed capacity.
    returned_capacity: bool,
    // The table's Regions as last checked, and the one that writes it.
    regions: Arc<crate::regions::Regions>,
    // The keys of data subjects, for events' personal fields.
    vault: Option<es_core::erasure::Vault>,
}

struct Inner {
    client: Client,
    table: String,
    // Where command records go, when not in `table`.
    commands_table: Option<String>,
    // Shared with the stores `with_timeouts` derives, which have a client
    // of their own but count as the same store.
    stats: Arc<Stats>,
}

impl DynamoStore {
    /// How long one attempt of a request may take before the SDK gives up
    /// on it and retries: 5 seconds. DynamoDB answers in milliseconds, so an
    /// attempt this slow is stalled, not busy; it is still generous for a
    /// 4 MB transaction, and for DynamoDB Local.
    pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

    /// How long a request may take with all its retries: 10 seconds, two
    /// attempts' worth, short enough for a command to fail inside a Lambda
    /// function's or an API Gateway's (29 seconds) timeout, with time left
    /// to answer.
    pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(10);

    /// A store on `table`, through `client`, in the single-table layout.
    /// Nothing is sent until the first call.
    ///
    /// The operation and attempt timeouts that `client`'s config leaves
    /// unset take es's defaults ([`DynamoStore::DEFAULT_OPERATION_TIMEOUT`],
    /// [`DynamoStore::DEFAULT_ATTEMPT_TIMEOUT`]); one the config sets, or
    /// disables with [`TimeoutConfig::disabled`], is kept. Connect and read
    /// timeouts stay as the client has them.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        let timeouts = default_timeouts(client.config().timeout_config());
        DynamoStore {
            inner: Arc::new(Inner {
                client: with_timeout_config(&client, timeouts),
                table: table.into(),
                commands_table: None,
                stats: Arc::default(),
            }),
            layout: Layout::default(),
            writers: Arc::default(),
            returned_capacity: false,
            regions: Arc::default(),
            vault: None,
        }
    }

    /// This store with a cache of the latest state of up to `entries`
    /// aggregates, shared by its clones. A command on a cached aggregate
    /// is one request, the conditional `PutItem`: it decides on the cached
    /// state and writes at once. When another process has moved the
    /// aggregate on, the write fails its condition and the command reads
    /// only the events it missed, then decides again; so a cache never
    /// makes a command decide on a state that is not the latest when it
    /// is written. A rejection decided on a cached state is checked with
    /// one read of what was missed before it is returned.
    ///
    /// Call it once, where the store is built (outside a Lambda handler,
    /// so that warm invocations share it), and share the result: the
    /// cache is new, and replaces the one this handle had.
    ///
    /// ```no_run
    /// # async fn run() {
    /// let store = es::dynamo::DynamoStore::from_env("events").await.with_cache(10_000);
    /// # let _ = store;
    /// # }
    /// ```
    pub fn with_cache(mut self, entries: usize) -> Self {
        self.writers = Arc::new(Writers::with_cache(entries));
        self
    }

    /// This store with `vault` for the keys of data subjects: events'
    /// `#[personal]` fields are sealed under them on commit and opened on
    /// every read (see `es::erasure`). Without one, a commit of personal
    /// data fails, saying so, and a read of sealed fields fails too.
    ///
    /// es-dynamo's `DynamoKeys` keeps the keys in a DynamoDB table of
    /// their own.
    pub fn with_vault(mut self, vault: es_core::erasure::Vault) -> Self {
        self.vault = Some(vault);
        self
    }

    /// A store on the same table through the same client, as a second
    /// process would have it: its own command queues, an empty cache of
    /// the same size, and its own counters. For tests of several processes
    /// writing one aggregate.
    pub fn as_another_process(&self) -> Self {
        let mut other = DynamoStore::new(self.inner.client.clone(), self.inner.table.clone())
            .with_commands_table(self.commands_table())
            .with_layout(self.layout)
            .with_cache(self.writers.cache_capacity())
            .with_returned_capacity(self.returned_capacity);
        other.regions = self.regions_for_another_process();
        other.vault = self.vault.clone();
        other
    }

    /// The table's Regions as last checked (see `regions.rs`).
    pub(crate) fn regions(&self) -> &crate::regions::Regions {
        &self.regions
    }

    pub(crate) fn set_regions(&mut self, regions: Arc<crate::regions::Regions>) {
        self.regions = regions;
    }

    /// Whether every request asks DynamoDB for its `ConsumedCapacity`.
    /// Off by default: es computes each request's capacity with DynamoDB's
    /// documented formulas, which are exact for the items es writes and
    /// reads, and asking makes every response longer (a `PutItem` that
    /// asked took 1.18–1.24 × one that did not, on DynamoDB Local). Turn it
    /// on to have [`Stats`] show what DynamoDB reports instead, say to
    /// audit the formulas against a table with global secondary indexes
    /// of your own. Transactions are always computed: DynamoDB Local
    /// misreports them.
    pub fn with_returned_capacity(mut self, ask: bool) -> Self {
        self.returned_capacity = ask;
        self
    }

    /// The `ReturnConsumedCapacity` every request sends.
    pub(crate) fn capacity_request(&self) -> ReturnConsumedCapacity {
        if self.returned_capacity {
            ReturnConsumedCapacity::Total
        } else {
            ReturnConsumedCapacity::None
        }
    }

    /// Sets the operation timeout (the whole request, retries included)
    /// and the attempt timeout (each try); `None` turns that one off.
    /// Connect and read timeouts stay as they are.
    ///
    /// A timeout is an [`Error::Store`] that is retryable and names the
    /// operation (`Query`, `PutItem`, …). A write that timed out may still
    /// have landed, and the SDK retries an attempt that timed out: commands
    /// that must apply once should carry an idempotency key.
    ///
    /// ```no_run
    /// # async fn run() {
    /// use std::time::Duration;
    /// let store = es::dynamo::DynamoStore::from_env("events")
    ///     .await
    ///     .with_timeouts(Some(Duration::from_secs(3)), Some(Duration::from_secs(1)));
    /// assert_eq!(store.operation_timeout(), Some(Duration::from_secs(3)));
    /// # }
    /// ```
    pub fn with_timeouts(self, operation: Option<Duration>, attempt: Option<Duration>) -> Self {
        let client = &self.inner.client;
        let timeouts = set_timeouts(client.config().timeout_config(), operation, attempt);
        DynamoStore {
            inner: Arc::new(Inner {
                client: with_timeout_config(client, timeouts),
                table: self.inner.table.clone(),
                commands_table: self.inner.commands_table.clone(),
                stats: Arc::clone(&self.inner.stats),
            }),
            ..self
        }
    }

    /// The operation timeout in force: the longest a request may take,
    /// retries included; `None` when there is none.
    pub fn operation_timeout(&self) -> Option<Duration> {
        operation_timeout_of(&self.inner.client)
    }

    /// The attempt timeout in force: the longest one try of a request may
    /// take; `None` when there is none.
    pub fn attempt_timeout(&self) -> Option<Duration> {
        attempt_timeout_of(&self.inner.client)
    }

    /// A store on `table` with a client from the AWS config chain
    /// (environment, profile, instance role), so `AWS_ENDPOINT_URL_DYNAMODB`
    /// and `AWS_REGION` apply. The timeouts are es's defaults unless the
    /// loaded config sets them (see [`DynamoStore::new`]).
    pub async fn from_env(table: impl Into<String>) -> Self {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        DynamoStore::new(Client::new(&config), table)
    }

    /// Uses another layout: [`Layout::TablePerAggregate`] for a table made
    /// from castore's older table-per-event-store definitions.
    pub fn with_layout(mut self, layout: Layout) -> Self {
        self.layout = layout;
        self
    }

    /// The layout in use.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.inner.table
    }

    /// Keeps the records of idempotent commands in `table` instead of the
    /// events table, so that the events table holds nothing but events.
    ///
    /// Without it, a command with an idempotency key writes a
    /// `$command#{key}` item into the events table, which every reader of
    /// that table's stream must pass over: es's own do, but castore's stream
    /// parser throws on it. With it, the record goes to `table`, in the same
    /// `TransactWriteItems` as the command's events (a transaction may span
    /// tables of one account and region), so the events and their record
    /// still land together or not at all, and [`EventStore::command`] reads
    /// it from there. The record's item is the same in either table.
    ///
    /// `table` has the events table's key (`aggregateId` S HASH, `version`
    /// N RANGE) and TTL on `expiresAt`, and needs no index and no stream:
    /// [`DynamoStore::create_table`] and [`DynamoStore::ensure_table`] make
    /// it beside the events table, and `docs/dynamodb.md` has it as
    /// infrastructure code, with the IAM it needs. Naming the events table
    /// itself is the same as not calling this.
    ///
    /// Records already written to the other table are not moved: switching
    /// a live service over forgets the keys of commands run before, for as
    /// long as their records would have lived.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), es::Error> {
    /// let store = es::dynamo::DynamoStore::from_env("events")
    ///     .await
    ///     .with_commands_table("events-commands");
    /// store.ensure_table().await?; // both tables
    /// assert_eq!(store.commands_table(), "events-commands");
    /// # Ok(()) }
    /// ```
    pub fn with_commands_table(self, table: impl Into<String>) -> Self {
        let table = table.into();
        let commands_table = (table != self.inner.table).then_some(table);
        DynamoStore {
            inner: Arc::new(Inner {
                client: self.inner.client.clone(),
                table: self.inner.table.clone(),
                commands_table,
                stats: Arc::clone(&self.inner.stats),
            }),
            ..self
        }
    }

    /// The table that holds command records: the one given to
    /// [`DynamoStore::with_commands_table`], else the events table.
    pub fn commands_table(&self) -> &str {
        self.inner
            .commands_table
            .as_deref()
            .unwrap_or(&self.inner.table)
    }

    /// Whether command records have a table of their own
    /// ([`DynamoStore::with_commands_table`]).
    pub fn has_commands_table(&self) -> bool {
        self.inner.commands_table.is_some()
    }

    /// The SDK client, for anything the store does not do.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }
}

/// `timeouts` with es's operation and attempt timeouts where it leaves them
/// unset; one it sets, or disables, is kept. The same for every client es
/// makes or is given: the store's, the views', the Streams client.
pub(crate) fn default_timeouts(timeouts: Option<&TimeoutConfig>) -> TimeoutConfig {
    let mut timeouts = timeouts
        .cloned()
        .unwrap_or_else(|| TimeoutConfig::builder().build());
    timeouts.take_defaults_from(
        &TimeoutConfig::builder()
            .operation_timeout(DynamoStore::DEFAULT_OPERATION_TIMEOUT)
            .operation_attempt_timeout(DynamoStore::DEFAULT_ATTEMPT_TIMEOUT)
            .build(),
    );
    timeouts
}

/// `timeouts` with these operation and attempt timeouts, `None` turning one
/// off; connect and read timeouts kept.
pub(crate) fn set_timeouts(
    timeouts: Option<&TimeoutConfig>,
    operation: Option<Duration>,
    attempt: Option<Duration>,
) -> TimeoutConfig {
    let mut timeouts = timeouts.map(TimeoutConfig::to_builder).unwrap_or_default();
    // `set_*(None)` disables the timeout rather than leaving it unset,
    // so the SDK's own defaults cannot turn it back on.
    timeouts.set_operation_timeout(operation);
    timeouts.set_operation_attempt_timeout(attempt);
    timeouts.build()
}

/// The operation timeout `client` has; `None` when it has none.
pub(crate) fn operation_timeout_of(client: &Client) -> Option<Duration> {
    client
        .config()
        .timeout_config()
        .and_then(TimeoutConfig::operation_timeout)
}

/// The attempt timeout `client` has; `None` when it has none.
pub(crate) fn attempt_timeout_of(client: &Client) -> Option<Duration> {
    client
        .config()
        .timeout_config()
        .and_then(TimeoutConfig::operation_attempt_timeout)
}

/// `client` with `timeouts` in place of its timeout config, and otherwise
/// the same config.
pub(crate) fn with_timeout_config(client: &Client, timeouts: TimeoutConfig) -> Client {
    let config = client
        .config()
        .to_builder()
        .timeout_config(timeouts)
        .build();
    Client::from_conf(config)
}

impl fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamoStore")
            .field("table", &self.inner.table)
            .field("commands_table", &self.inner.commands_table)
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

impl EventStore for DynamoStore {
    type Payload = AttributeValue;

    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<AttributeValue, CodecError> {
        payload::encode(value)
    }

    fn decode<T, V>(&self, seed: T, payload: AttributeValue) -> Result<V, CodecError>
    where
        T: for<'de> DeserializeSeed<'de, Value = V>,
    {
        payload::decode(seed, payload)
    }

    async fn read(
        &self,
        request: ReadRequest<'_>,
    ) -> Result<Page<StoredEvent<AttributeValue>>, Error> {
        self.read_events(request).await
    }

    async fn commit(&self, commit: Commit<AttributeValue>) -> Result<Committed, Error> {
        self.write(commit).await
    }

    async fn list_ids(
        &self,
        aggregate: &'static str,
        limit: Option<usize>,
        cursor: Option<Cursor>,
    ) -> Result<Page<String>, Error> {
        self.read_ids(aggregate, limit, cursor).await
    }

    async fn command(&self, key: &str) -> Result<Option<CommandRecord>, Error> {
        let now = es_core::store::now_secs();
        // Expired records linger until DynamoDB's TTL sweep deletes them.
        Ok(self
            .command_record(key)
            .await?
            .filter(|r| r.expires_at >= now))
    }

    fn stats(&self) -> &Stats {
        &self.inner.stats
    }

    fn writers(&self) -> &Arc<Writers> {
        &self.writers
    }

    fn vault(&self) -> Option<&es_core::erasure::Vault> {
        self.vault.as_ref()
    }
}

#[cfg(test)]
impl DynamoStore {
    /// A store whose client never sends anything, for unit tests of what the
    /// store decides before any request (planning, decoding).
    pub(crate) fn offline(layout: Layout) -> Self {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .build();
        DynamoStore::new(Client::from_conf(config), "events").with_layout(layout)
    }
}
