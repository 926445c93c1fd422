//! [`DynamoStore`]: the handle, its options, and the [`EventStore`] impl.

use std::fmt;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use es_core::store::{
    CommandRecord, Commit, Committed, Cursor, EventStore, Page, ReadRequest, StoredEvent,
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
}

struct Inner {
    client: Client,
    table: String,
    stats: Stats,
}

impl DynamoStore {
    /// A store on `table`, through `client`, in the single-table layout.
    /// Nothing is sent until the first call.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            inner: Arc::new(Inner {
                client,
                table: table.into(),
                stats: Stats::default(),
            }),
            layout: Layout::default(),
        }
    }

    /// A store on `table` with a client from the AWS config chain
    /// (environment, profile, instance role), so `AWS_ENDPOINT_URL_DYNAMODB`
    /// and `AWS_REGION` apply.
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

    /// The SDK client, for anything the store does not do.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }
}

impl fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamoStore")
            .field("table", &self.inner.table)
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

impl EventStore for DynamoStore {
    type Payload = AttributeValue;

    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<AttributeValue, String> {
        payload::encode(value)
    }

    fn decode<T, V>(&self, seed: T, payload: AttributeValue) -> Result<V, String>
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
        let now = es_core::time::now_secs();
        // Expired records linger until DynamoDB's TTL sweep deletes them.
        Ok(self
            .command_record(key)
            .await?
            .filter(|r| r.expires_at >= now))
    }

    fn stats(&self) -> &Stats {
        &self.inner.stats
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
