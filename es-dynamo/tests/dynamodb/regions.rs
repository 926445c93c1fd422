//! Global tables, which DynamoDB Local does not have: the store's
//! `DescribeTable` is answered from the fixtures in `tests/fixtures` (in the
//! shape DynamoDB answers it), and a `ReplicatedWriteConflictException` is
//! injected at the HTTP level, by an SDK interceptor on the client: the
//! request it fails is sent to a table that does not exist, so nothing is
//! written, and its answer is replaced by DynamoDB's conflict. Everything
//! else goes to DynamoDB Local as usual.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::Client;
use es::prelude::*;
use es_dynamo::testing::{skip_without_dynamodb, store_on_new_table};
use es_dynamo::{Consistency, DynamoStore};
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Counted {
    pub by: u32,
}

#[derive(Aggregate, Serialize, Deserialize, Clone, Debug, Default)]
#[aggregate(name = "Counter")]
pub struct Counter {
    pub total: u32,
}

#[es::handlers]
impl Counter {
    #[on(Counted)]
    fn counted(&mut self, e: &Counted) {
        self.total += e.by;
    }
}

const EVENTUAL: &str = include_str!("../fixtures/describe-table-eventual.json");
const STRONG: &str = include_str!("../fixtures/describe-table-strong.json");
const SINGLE: &str = include_str!("../fixtures/describe-table-single.json");

/// Answers `DescribeTable` with a fixture, and fails the next `conflicts`
/// `PutItem` attempts with `ReplicatedWriteConflictException`.
#[derive(Debug, Clone)]
struct GlobalTable {
    table: String,
    description: &'static str,
    conflicts: Arc<AtomicU32>,
    // What the attempt on its way is, between its two hooks. The tests
    // send one request at a time.
    describing: Arc<AtomicBool>,
    failing: Arc<AtomicBool>,
}

impl Intercept for GlobalTable {
    fn name(&self) -> &'static str {
        "test::GlobalTable"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        let target = request.headers().get("x-amz-target").unwrap_or_default();
        self.describing
            .store(target.ends_with(".DescribeTable"), Ordering::SeqCst);
        let fail = target.ends_with(".PutItem")
            && self
                .conflicts
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        self.failing.store(fail, Ordering::SeqCst);
        if fail {
            // The same length, so the signed Content-Length still holds: a
            // table that does not exist, where nothing can be written.
            let body = std::str::from_utf8(request.body().bytes().unwrap_or_default())?;
            let named = format!("\"TableName\":\"{}\"", self.table);
            let nowhere = format!("\"TableName\":\"{}\"", "q".repeat(self.table.len()));
            assert!(body.contains(&named), "{body}");
            *request.body_mut() = body.replace(&named, &nowhere).into();
        }
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (status, body) = if self.failing.swap(false, Ordering::SeqCst) {
            (
                400u16,
                r#"{"__type":"com.amazonaws.dynamodb.v20120810#ReplicatedWriteConflictException","message":"One or more items in this request are being modified by a request in another Region."}"#,
            )
        } else if self.describing.swap(false, Ordering::SeqCst) {
            (200, self.description)
        } else {
            return Ok(());
        };
        let response = context.response_mut();
        *response.status_mut() = status.try_into()?;
        response.headers_mut().remove("x-amz-crc32");
        response
            .headers_mut()
            .insert("content-length", body.len().to_string());
        *response.body_mut() = body.into();
        Ok(())
    }
}

/// A store on `table`'s own table whose client answers `DescribeTable` with
/// `description`, and the counter of `PutItem` attempts to fail.
fn faked(table: &DynamoStore, description: &'static str) -> (DynamoStore, Arc<AtomicU32>) {
    let conflicts = Arc::new(AtomicU32::new(0));
    let fake = GlobalTable {
        table: table.table().to_owned(),
        description,
        conflicts: conflicts.clone(),
        describing: Arc::default(),
        failing: Arc::default(),
    };
    let config = table
        .client()
        .config()
        .to_builder()
        .interceptor(fake)
        // Each injected conflict reaches es, which retries it.
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::standard().with_max_attempts(1))
        .build();
    (
        DynamoStore::new(Client::from_conf(config), table.table()),
        conflicts,
    )
}

fn refusal(err: &es::Error) -> String {
    assert!(
        matches!(err, es::Error::Store(e) if !e.is_retryable() && !e.is_indeterminate()),
        "not a permanent refusal: {err:?}"
    );
    err.to_string()
}

#[tokio::test]
async fn eventual_global_table_refuses_writes_outside_the_write_region() {
    if skip_without_dynamodb() {
        return;
    }
    let table = store_on_new_table("regions-eventual").await;
    let (store, _) = faked(&table, EVENTUAL);
    let here = store.region().expect("a Region in the config").to_owned();

    // Before the check, the store knows nothing and writes as it always did.
    assert_eq!(store.replication(), None);
    let replication = store.check_regions().await.expect("DescribeTable");
    assert_eq!(replication.consistency, Consistency::Eventual);
    let mut expected = vec![
        "ap-southeast-2".to_owned(),
        "eu-west-1".to_owned(),
        here.clone(),
    ];
    expected.sort();
    assert_eq!(replication.regions, expected);

    // No write Region configured: refused, naming the table, the replicas
    // and the store's Region, before anything is sent.
    let err = Counter::execute(&store, "c-1", |_| Ok(Counted { by: 1 }))
        .await
        .unwrap_err();
    let text = refusal(&err);
    for part in [
        table.table(),
        "multi-Region eventual consistency",
        "eu-west-1",
        "ap-southeast-2",
        &format!("is in {here}"),
        "with_write_region",
        "Counter \"c-1\"",
        "version 1",
    ] {
        assert!(text.contains(part), "{part:?} not in: {text}");
    }
    // Clones share what was learned; a refusal wrote nothing.
    let err = Counter::load(&store.clone(), "c-1")
        .await
        .expect("reads are allowed")
        .commit(Counted { by: 1 })
        .await
        .unwrap_err();
    assert!(refusal(&err).contains("eventual"));

    // Another Region configured as the writer: refused, naming it.
    let elsewhere = store.clone().with_write_region("eu-west-1");
    let err = Counter::execute(&elsewhere, "c-1", |_| Ok(Counted { by: 1 }))
        .await
        .unwrap_err();
    let text = refusal(&err);
    assert!(
        text.contains("the Region that writes it is eu-west-1"),
        "{text}"
    );

    // This Region configured as the writer: written.
    let writer = store.clone().with_write_region(here.clone());
    assert_eq!(writer.write_region(), Some(here.as_str()));
    let done = Counter::execute(&writer, "c-1", |_| Ok(Counted { by: 1 }))
        .await
        .expect("the write Region writes");
    assert_eq!(done.version, 1);
    let loaded = Counter::load(&table, "c-1").await.expect("load");
    assert_eq!((loaded.version(), loaded.total), (1, 1));

    // A table that turns out to have one Region again: writes pass.
    let (single, _) = faked(&table, SINGLE);
    let replication = single.check_regions().await.expect("DescribeTable");
    assert_eq!(replication.consistency, Consistency::SingleRegion);
    Counter::execute(&single, "c-1", |_| Ok(Counted { by: 1 }))
        .await
        .expect("single Region");
}

#[tokio::test]
async fn strong_global_table_retries_replicated_write_conflicts() {
    if skip_without_dynamodb() {
        return;
    }
    let table = store_on_new_table("regions-strong").await;
    let (store, conflicts) = faked(&table, STRONG);
    let replication = store.check_regions().await.expect("DescribeTable");
    assert_eq!(replication.consistency, Consistency::Strong);
    assert_eq!(replication.witnesses, ["us-west-2"]);
    assert!(replication.regions.contains(&"us-east-2".to_owned()));

    // Three writes in a row lose to another Region: the command retries
    // them as conflicts, and its fourth attempt writes once.
    conflicts.store(3, Ordering::SeqCst);
    let done = Counter::execute(&store, "c-1", |_| Ok(Counted { by: 2 }))
        .await
        .expect("retried past the conflicts");
    assert_eq!((done.version, done.attempts), (1, 4));
    assert_eq!(conflicts.load(Ordering::SeqCst), 0);
    let loaded = Counter::load(&table, "c-1").await.expect("load");
    assert_eq!(
        (loaded.version(), loaded.total),
        (1, 2),
        "written exactly once"
    );

    // A plain commit returns the conflict: retryable, and certainly not
    // written, naming the aggregate, id and version.
    conflicts.store(1, Ordering::SeqCst);
    let mut handle = Counter::load(&store, "c-1").await.expect("load");
    let err = handle.commit(Counted { by: 1 }).await.unwrap_err();
    assert!(err.is_retryable() && !err.is_indeterminate(), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("ReplicatedWriteConflictException") && text.contains("Counter \"c-1\""),
        "{text}"
    );
    assert_eq!(handle.version(), 1);

    // What needs TransactWriteItems is refused before it is sent, saying why.
    let err = handle
        .commit_all([Counted { by: 1 }, Counted { by: 1 }])
        .await
        .unwrap_err();
    let text = refusal(&err);
    for part in [
        "multi-Region strong consistency",
        "TransactWriteItems",
        "writes 2 events at once",
        "Counter \"c-1\"",
    ] {
        assert!(text.contains(part), "{part:?} not in: {text}");
    }
    let err = Counter::command(&store, "c-1")
        .idempotency_key("order-1")
        .execute(|_| Ok(Counted { by: 1 }))
        .await
        .unwrap_err();
    assert!(refusal(&err).contains("idempotency record"));
    let mut other = Counter::load(&store, "c-2").await.expect("load");
    let mut tx = es::Transaction::new(&store);
    tx.append(&mut handle, [Counted { by: 1 }]).expect("stage");
    tx.append(&mut other, [Counted { by: 1 }]).expect("stage");
    let err = tx.commit().await.unwrap_err();
    assert!(refusal(&err).contains("writes 2 aggregates at once"));
    let loaded = Counter::load(&table, "c-1").await.expect("load");
    assert_eq!(loaded.version(), 1, "nothing more was written");

    // One event at a time still goes through.
    handle.commit(Counted { by: 5 }).await.expect("one event");
    assert_eq!(handle.total, 7);
}
