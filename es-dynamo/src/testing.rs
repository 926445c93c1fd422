//! Helpers for tests that run against DynamoDB Local (feature `testing`) (or any endpoint in
//! `AWS_ENDPOINT_URL_DYNAMODB`): this crate's, and the `es` crate's.
//!
//! `scripts/test.sh` starts DynamoDB Local, exports its endpoint and
//! credentials, and sets `ES_DYNAMODB=1`, which makes a missing endpoint a
//! failure rather than a skip.
//!
//! ```no_run
//! # async fn run() {
//! if es_dynamo::testing::available().is_available() {
//!     let store = es_dynamo::testing::store_on_new_table("my-test").await;
//!     // ... a fresh, empty, ACTIVE table of its own
//! #   let _ = store;
//! }
//! # }
//! ```
//!
//! With the conformance suite (es-core's `conformance` feature), in a file
//! under `tests/`:
//!
//! ```no_run
//! es_core::conformance_tests!(
//!     es_dynamo::testing::store_on_new_table("conf"),
//!     run_if = es_dynamo::testing::available().should_run()
//! );
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::{DynamoStore, Layout};

/// Whether tests that need DynamoDB can run here, as the environment says:
/// what [`available`] returns. Reading it never panics; a test decides what
/// to do with it ([`Availability::should_run`] fails the test for
/// [`Availability::Required`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// An endpoint is configured (`AWS_ENDPOINT_URL_DYNAMODB`): run.
    Available,
    /// No endpoint, and none is required: skip.
    Absent,
    /// `ES_DYNAMODB=1` says DynamoDB is required, but no endpoint is set:
    /// a broken emulator setup, which must fail rather than pass as a
    /// green, skipped run.
    Required,
}

impl Availability {
    /// Whether an endpoint is configured.
    pub fn is_available(self) -> bool {
        self == Availability::Available
    }

    /// For a test: `true` to run, `false` to skip.
    ///
    /// # Panics
    ///
    /// For [`Availability::Required`]: this is the test's own failure, with
    /// a message that says how to start DynamoDB Local.
    #[track_caller]
    pub fn should_run(self) -> bool {
        match self {
            Availability::Available => true,
            Availability::Absent => false,
            Availability::Required => panic!("{}", REQUIRED),
        }
    }
}

const REQUIRED: &str =
    "ES_DYNAMODB=1 requires DynamoDB, but AWS_ENDPOINT_URL_DYNAMODB is not set: \
     run scripts/test.sh, or wrap the command in `scripts/dynamodb-local.sh run --`";

/// Whether a DynamoDB endpoint is configured (`AWS_ENDPOINT_URL_DYNAMODB`),
/// and whether one is required (`ES_DYNAMODB=1`). Never panics.
pub fn available() -> Availability {
    let endpoint = std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_some_and(|v| !v.is_empty());
    if endpoint {
        Availability::Available
    } else if std::env::var("ES_DYNAMODB").is_ok_and(|v| v == "1") {
        Availability::Required
    } else {
        Availability::Absent
    }
}

/// For a test that needs DynamoDB: true, after saying so on stderr with the
/// test's name, when no endpoint is configured and the test should return.
/// The note goes straight to stderr because the test harness swallows
/// `eprintln!` of passing tests, and a skip must not look like a pass.
///
/// ```no_run
/// # async fn a_test() {
/// if es_dynamo::testing::skip_without_dynamodb() {
///     return;
/// }
/// # }
/// ```
///
/// # Panics
///
/// As [`Availability::should_run`]: the test fails when `ES_DYNAMODB=1`
/// but no endpoint is set.
#[track_caller]
pub fn skip_without_dynamodb() -> bool {
    if available().should_run() {
        return false;
    }
    use std::io::Write;
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a DynamoDB test");
    let _ = writeln!(
        std::io::stderr(),
        "skipped: {test}: no DynamoDB endpoint (AWS_ENDPOINT_URL_DYNAMODB); scripts/test.sh starts one"
    );
    true
}

/// A store on a new, empty, ACTIVE table of its own, in the single-table
/// layout, with a client from the environment's AWS config. Every call makes
/// a table with a unique name (`es-{prefix}-…`), so tests can run in parallel.
///
/// # Panics
///
/// When the table cannot be created: this is for tests.
pub async fn store_on_new_table(prefix: &str) -> DynamoStore {
    new_table(prefix, Layout::SingleTable).await
}

/// The same as [`store_on_new_table`], with a table in castore's older
/// table-per-event-store shape and a store in [`Layout::TablePerAggregate`].
///
/// # Panics
///
/// When the table cannot be created.
pub async fn legacy_store_on_new_table(prefix: &str) -> DynamoStore {
    new_table(prefix, Layout::TablePerAggregate).await
}

/// The same as [`store_on_new_table`], with command records in a second new
/// table of their own ([`DynamoStore::with_commands_table`]), named like the
/// first with `-commands` after it.
///
/// # Panics
///
/// When a table cannot be created.
pub async fn store_with_commands_table_on_new_tables(prefix: &str) -> DynamoStore {
    let table = unique_table_name(prefix);
    let commands = format!("{table}-commands");
    let store = DynamoStore::from_env(table.clone())
        .await
        .with_commands_table(commands.clone())
        .with_vault(es_core::erasure::Vault::in_memory());
    if let Err(e) = store.create_table().await {
        panic!(
            "creating test tables {table:?} and {commands:?} failed: {e} ({:?})",
            std::error::Error::source(&e)
        );
    }
    store
}

/// A view table of its own, new, empty and ACTIVE, for a test's read
/// models and checkpoints.
///
/// # Panics
///
/// When the table cannot be created.
pub async fn views_on_new_table(prefix: &str) -> crate::DynamoViews {
    let table = unique_table_name(prefix);
    let views = crate::DynamoViews::from_env(table.clone()).await;
    if let Err(e) = views.ensure_table().await {
        panic!("creating view table {table:?} failed: {e}");
    }
    views
}

async fn new_table(prefix: &str, layout: Layout) -> DynamoStore {
    let table = unique_table_name(prefix);
    // Like `MemoryStore::new`, a test store seals personal fields with an
    // in-memory vault, so tests of events with `#[personal]` fields need no
    // key table; tests of the key table give the store their own vault.
    let store = DynamoStore::from_env(table.clone())
        .await
        .with_layout(layout)
        .with_vault(es_core::erasure::Vault::in_memory());
    if let Err(e) = store.create_table().await {
        panic!(
            "creating test table {table:?} failed: {e} ({:?})",
            std::error::Error::source(&e)
        );
    }
    store
}

/// A new, empty key table of its own ([`crate::DynamoKeys::create_table`],
/// named like a test table with `-keys` after it), with a client from the
/// environment's AWS config.
///
/// # Panics
///
/// When the table cannot be made: this is for tests.
pub async fn new_key_table(prefix: &str) -> (aws_sdk_dynamodb::Client, String) {
    let table = format!("{}-keys", unique_table_name(prefix));
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    if let Err(e) = crate::DynamoKeys::create_table(&client, &table).await {
        panic!(
            "creating test key table {table:?} failed: {e} ({:?})",
            std::error::Error::source(&e)
        );
    }
    (client, table)
}

/// A vault over a new key table of its own ([`crate::DynamoKeys`], named
/// like a test table with `-keys` after it), its keys wrapped by KMS when
/// the feature `kms` is on and `AWS_ENDPOINT_URL_KMS` points at one (moto's,
/// [`kms_wrap_on_new_key`]), else by a new random [`LocalMasterKey`]: for
/// tests of erasure through the real key table.
///
/// [`LocalMasterKey`]: es_core::erasure::LocalMasterKey
///
/// # Panics
///
/// When the table or the key cannot be made: this is for tests.
pub async fn vault_on_new_key_table(prefix: &str) -> es_core::erasure::Vault {
    let (client, table) = new_key_table(prefix).await;
    #[cfg(feature = "kms")]
    if let Some(wrap) = kms_wrap_on_new_key().await {
        return es_core::erasure::Vault::new(crate::DynamoKeys::new(client, table, wrap));
    }
    let master = match es_core::erasure::LocalMasterKey::random() {
        Ok(master) => master,
        Err(e) => panic!("no random master key: {e}"),
    };
    es_core::erasure::Vault::new(crate::DynamoKeys::new(client, table, master))
}

/// A [`KmsWrap`](crate::KmsWrap) on a new symmetric KMS key, made in the
/// KMS that `AWS_ENDPOINT_URL_KMS` points at (moto's, `scripts/moto.sh`),
/// for tests and benches of erasure with KMS (features `testing` and
/// `kms`). `None`, said on stderr, when no endpoint is set.
///
/// # Panics
///
/// When `ES_MOTO=1` says moto is required and no endpoint is set, or the
/// key cannot be made: this is for tests.
#[cfg(feature = "kms")]
pub async fn kms_wrap_on_new_key() -> Option<crate::KmsWrap> {
    let set = std::env::var_os("AWS_ENDPOINT_URL_KMS").is_some_and(|v| !v.is_empty());
    if !set {
        if std::env::var("ES_MOTO").is_ok_and(|v| v == "1") {
            panic!(
                "ES_MOTO=1 requires moto, but AWS_ENDPOINT_URL_KMS is not set: run \
                 scripts/test.sh, or wrap the command in `scripts/moto.sh run --`"
            );
        }
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "skipped (KMS): no KMS endpoint (AWS_ENDPOINT_URL_KMS); scripts/moto.sh starts one"
        );
        return None;
    }
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let kms = aws_sdk_kms::Client::new(&config);
    let created = match kms.create_key().description("es test key").send().await {
        Ok(created) => created,
        Err(e) => panic!("creating a KMS key failed: {e:?}"),
    };
    let Some(id) = created.key_metadata().map(|m| m.key_id().to_owned()) else {
        panic!("KMS made a key without an id");
    };
    Some(crate::KmsWrap::new(kms, id))
}

/// Every item on the store's table, by a consistent Scan that follows every
/// page: for tests that check exactly what was stored.
///
/// # Panics
///
/// When the Scan fails: this is for tests.
pub async fn scan(
    store: &DynamoStore,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    scan_table(store, store.table()).await
}

/// Every item on `table`, through the store's client, by a consistent Scan
/// that follows every page: for the commands table, say.
///
/// # Panics
///
/// When the Scan fails: this is for tests.
pub async fn scan_table(
    store: &DynamoStore,
    table: &str,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    scan_items(store.client(), table).await
}

/// Every item on `table`, through `client`, by a consistent Scan that
/// follows every page: for a table no store owns, a key table say.
///
/// # Panics
///
/// When the Scan fails: this is for tests.
pub async fn scan_items(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let scanned = client
        .scan()
        .table_name(table)
        .consistent_read(true)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await;
    match scanned {
        Ok(items) => items,
        Err(e) => panic!("scanning {table:?} failed: {e:?}"),
    }
}

/// Whether `t` is a timestamp as castore and es store them: ISO 8601 in UTC
/// with milliseconds, `2026-11-22T05:07:54.123Z`.
pub fn is_timestamp(t: &str) -> bool {
    let shape = "dddd-dd-ddTdd:dd:dd.dddZ";
    t.len() == shape.len()
        && t.chars().zip(shape.chars()).all(|(c, want)| match want {
            'd' => c.is_ascii_digit(),
            other => c == other,
        })
}

/// A table name no other call in any process will use: the prefix (cut to
/// DynamoDB's allowed characters), the process id, a counter and the time.
pub fn unique_table_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let clean: String = prefix
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .take(100)
        .collect();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "es-{clean}-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Every record on the table's stream, from the start of every shard, in
/// stream order, as es's batch code takes them.
///
/// # Panics
///
/// When the stream cannot be read: this is for tests.
pub async fn stream_records(store: &crate::DynamoStore) -> Vec<crate::batch::StreamRecord> {
    raw_stream_records(store)
        .await
        .1
        .into_iter()
        .map(|record| crate::batch::StreamRecord::try_from(record).expect("a stream record"))
        .collect()
}

/// Every record on the table's stream as the DynamoDB Streams API returns
/// them, from the start of every shard, in stream order, with the stream's
/// ARN: for tests that need all of a record (its id, its ARN, its keys).
///
/// # Panics
///
/// When the stream cannot be read: this is for tests.
pub async fn raw_stream_records(
    store: &crate::DynamoStore,
) -> (String, Vec<aws_sdk_dynamodbstreams::types::Record>) {
    let table = store
        .client()
        .describe_table()
        .table_name(store.table())
        .send()
        .await
        .expect("DescribeTable")
        .table
        .expect("a table");
    let arn = table.latest_stream_arn.expect("a stream");
    let streams = crate::runner::streams_client_from_env().await;
    let shards = streams
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await
        .expect("DescribeStream")
        .stream_description
        .and_then(|d| d.shards)
        .unwrap_or_default();
    let mut records = Vec::new();
    for shard in shards {
        let mut iterator = streams
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(shard.shard_id.expect("a shard id"))
            .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("GetShardIterator")
            .shard_iterator;
        // An open shard always hands out a next iterator; an empty page
        // means it has nothing more for now.
        while let Some(current) = iterator {
            let page = streams
                .get_records()
                .shard_iterator(current)
                .send()
                .await
                .expect("GetRecords");
            let batch = page.records.unwrap_or_default();
            if batch.is_empty() {
                break;
            }
            records.extend(batch);
            iterator = page.next_shard_iterator;
        }
    }
    (arn, records)
}

#[cfg(feature = "lambda")]
/// A Lambda event, in the JSON shape AWS documents for DynamoDB Streams,
/// carrying `records`, parsed as a Lambda function gets it.
pub fn lambda_event(
    records: &[crate::batch::StreamRecord],
) -> aws_lambda_events::event::dynamodb::Event {
    let records: Vec<serde_json::Value> = records
        .iter()
        .enumerate()
        .map(|(n, r)| {
            let keys: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> = r
                .new_image
                .iter()
                .filter(|(k, _)| *k == "aggregateId" || *k == "version")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let image = serde_dynamo::Item::from(r.new_image.clone());
            let mut dynamodb = serde_json::json!({
                "ApproximateCreationDateTime": 1796190000,
                "Keys": serde_dynamo::Item::from(keys),
                "SequenceNumber": r.sequence_number,
                "SizeBytes": 100,
                "StreamViewType": "NEW_IMAGE",
            });
            if r.event_name != "REMOVE" {
                dynamodb["NewImage"] = serde_json::to_value(image).expect("an image as JSON");
            }
            serde_json::json!({
                "eventID": format!("e{n}"),
                "eventName": r.event_name,
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": dynamodb,
                "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/events/stream/2026-12-02T00:00:00.000",
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": records })).expect("a DynamoDB event")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_unique_and_valid() {
        let (a, b) = (unique_table_name("conf ☃/x"), unique_table_name("conf ☃/x"));
        assert_ne!(a, b);
        assert!(a.starts_with("es-confx-"), "{a}");
        assert!(
            a.len() <= 255
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        );
    }
}
