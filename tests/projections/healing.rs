//! A read side that cannot drift: the projection's position per aggregate
//! decides what is a duplicate and what is a gap, and gaps are read from
//! the events table. A projection deployed on a table with history, a
//! rebuild beside the live stream, and a record that went to the failure
//! destination all end equal to a replay. Each test runs on both stores.

use std::collections::BTreeMap;

use es::prelude::*;

use crate::common::*;
use crate::shop::*;
use crate::views::{ShopViews, Shown};

/// Fails the test with the differences when the projector's views are not
/// a replay of the store.
async fn assert_replayed<S: EventStore, T: ViewTable>(
    store: &S,
    projector: &Projector<S, T, ShopViews<T>>,
) {
    let shown = projector
        .projection()
        .read()
        .await
        .expect("read the views")
        .without_empty();
    let replayed = Shown::replayed(store).await.expect("replay");
    assert_eq!(shown, replayed, "{}", shown.differences(&replayed));
}

/// The version a shop aggregate is at in the store.
async fn latest_version<S: EventStore>(store: &S, aggregate: &str, id: &str) -> u64 {
    match aggregate {
        "Product" => Product::load(store, id).await.expect("load").version(),
        _ => Cart::load(store, id).await.expect("load").version(),
    }
}

/// The feed's changes by aggregate, each in order: what a stream batch
/// made of them carries.
fn by_aggregate(
    changes: &[es::Change],
) -> BTreeMap<(String, String), Vec<es::store::StoredEvent<serde_json::Value>>> {
    let mut groups: BTreeMap<_, Vec<_>> = BTreeMap::new();
    for change in changes {
        let e = &change.event;
        groups
            .entry((e.aggregate.clone(), e.id.clone()))
            .or_default()
            .push(e.event.clone());
    }
    groups
}

mod memory {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn projection_deployed_on_history_then_rebuilt_equals_replay() {
        let store = MemoryStore::new();
        workload(&store, 10, 20, 31).await;
        let history = store.changes(0, usize::MAX).len() as u64;
        // Deployed now: the live driver sees only what comes after.
        workload(&store, 6, 12, 32).await;
        let table = MemoryViews::new();
        let live = Projector::new(store.clone(), table.clone(), ShopViews::new(table));
        let mut position = history;
        store.catch_up(&live, &mut position).await.expect("live");
        // Each aggregate the live driver touched is whole already: its
        // history was read from the store before its first new event.
        let touched = by_aggregate(&store.changes(history, usize::MAX));
        for (aggregate, id) in touched.keys() {
            let latest = latest_version(&store, aggregate, id).await;
            assert_eq!(
                live.position(aggregate, id).await.expect("position"),
                latest
            );
        }
        // The rebuild brings the others, and applies nothing twice.
        let report = es::rebuild(&live).run().await.expect("rebuild");
        assert!(report.applied > 0, "the untouched aggregates' history");
        assert_replayed(&store, &live).await;
        let again = es::rebuild(&live).run().await.expect("rebuild again");
        assert_eq!(
            (again.events, again.applied),
            (0, 0),
            "nothing left to apply"
        );
        assert_replayed(&store, &live).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn rebuild_beside_the_live_projection_equals_replay() {
        let store = MemoryStore::new();
        workload(&store, 10, 10, 51).await;
        let table = MemoryViews::new();
        let live = std::sync::Arc::new(Projector::new(
            store.clone(),
            table.clone(),
            ShopViews::new(table.clone()),
        ));
        // A second projector on the same table: another process.
        let rebuilder = Projector::new(store.clone(), table.clone(), ShopViews::new(table));
        let writing = {
            let store = store.clone();
            tokio::spawn(async move {
                for seed in 52..56 {
                    workload(&store, 10, 10, seed).await;
                }
            })
        };
        let following = {
            let (store, live) = (store.clone(), live.clone());
            tokio::spawn(async move {
                let mut position = 0;
                for _ in 0..40 {
                    store.catch_up(&live, &mut position).await.expect("live");
                    tokio::task::yield_now().await;
                }
                position
            })
        };
        for _ in 0..3 {
            es::rebuild(&rebuilder)
                .concurrency(4)
                .run()
                .await
                .expect("rebuild");
        }
        writing.await.expect("the workload");
        let mut position = following.await.expect("the live driver");
        store
            .catch_up(&live, &mut position)
            .await
            .expect("the rest");
        assert_replayed(&store, &live).await;
    }

    #[tokio::test]
    async fn dead_lettered_record_is_reapplied_by_the_next_event() {
        let store = MemoryStore::new();
        let table = MemoryViews::new();
        let flaky = Projector::new(
            store.clone(),
            table.clone(),
            Flaky::new(ShopViews::new(table)),
        );
        for amount in [5, 6, 7] {
            Product::execute(&store, "sku-1", |_| {
                Ok::<_, ProductError>(ProductRestocked { amount })
            })
            .await
            .expect("restock");
        }
        // Version 2 fails, as often as it is tried.
        flaky.projection().set("Product", "sku-1", 2, true);
        let mut position = 0;
        for _ in 0..3 {
            store
                .catch_up(&flaky, &mut position)
                .await
                .expect_err("v2 fails");
            assert_eq!(position, 1);
        }
        // The retries ran out: the driver moves past the batch, as Lambda
        // does after sending it to the failure destination.
        position = 3;
        flaky.projection().set("Product", "sku-1", 2, false);
        Product::execute(&store, "sku-1", |p| p.reserve("cart-1", 4))
            .await
            .expect("reserve");
        store
            .catch_up(&flaky, &mut position)
            .await
            .expect("the next event");
        let shown = flaky
            .projection()
            .inner
            .read()
            .await
            .expect("read")
            .without_empty();
        let replayed = Shown::replayed(&store).await.expect("replay");
        assert_eq!(shown, replayed, "{}", shown.differences(&replayed));
        assert_eq!(shown.stock["sku-1"].on_hand, 5 + 6 + 7 - 4);
    }

    #[tokio::test]
    async fn projection_gap_is_filled_from_the_store() {
        let store = MemoryStore::new();
        Product::execute(&store, "sku-1", |_| {
            Ok::<_, ProductError>(ProductRestocked { amount: 50 })
        })
        .await
        .expect("restock");
        for cart in 1..=7 {
            Product::execute(&store, "sku-1", |p| p.reserve(&format!("cart-{cart}"), 2))
                .await
                .expect("reserve");
        }
        let table = MemoryViews::new();
        let projector = Projector::new(store.clone(), table.clone(), ShopViews::new(table.clone()));
        // The projection's first batch starts at version 5.
        let events = store
            .changes(0, usize::MAX)
            .into_iter()
            .map(|c| c.event.event)
            .filter(|e| e.version >= 5)
            .collect();
        let (store_before, views_before) = (store.stats().snapshot(), table.stats().snapshot());
        let outcome = projector
            .project("Product", "sku-1", events)
            .await
            .expect("project");
        assert_eq!(
            (outcome.applied, outcome.filled, outcome.position),
            (8, 4, 8)
        );
        let (store_used, views_used) = (
            store.stats().snapshot() - store_before,
            table.stats().snapshot() - views_before,
        );
        // One Query for versions 1 to 4; one position read, a read of the
        // stock row and of each cart's, and one commit of them all.
        assert_eq!(store_used.reads, 1, "{store_used:?}");
        assert_eq!(
            (views_used.reads, views_used.writes),
            (1 + 1 + 7, 1),
            "{views_used:?}"
        );
        assert_eq!(
            views_used.items_written,
            1 + 1 + 7 + 1 - 1,
            "8 rows and the position"
        );
        assert_replayed(&store, &projector).await;
    }
}

/// Spreads each restock over as many rows of its own as units: a
/// projection whose events touch many rows.
struct Fanout<T> {
    rows: Views<u32, T>,
}

#[es::projection]
impl<T: ViewTable> Fanout<T> {
    #[on(ProductRestocked)]
    async fn restocked(&self, e: &ProductRestocked, at: &Envelope) -> Result<(), Error> {
        for row in 0..e.amount {
            self.rows
                .update(&format!("v{}-{row}", at.version), at, |n| *n += 1)
                .await?;
        }
        Ok(())
    }
}

mod limits {
    use super::*;

    async fn restocked(store: &MemoryStore, amounts: &[u32]) {
        for &amount in amounts {
            Product::execute(store, "sku-1", |_| {
                Ok::<_, ProductError>(ProductRestocked { amount })
            })
            .await
            .expect("restock");
        }
    }

    #[tokio::test]
    async fn a_run_over_the_transaction_limit_commits_in_parts() {
        let store = MemoryStore::new();
        restocked(&store, &[60, 60, 30]).await;
        let table = MemoryViews::new();
        let fanout = Projector::new(
            store.clone(),
            table.clone(),
            Fanout {
                rows: Views::new(table.clone(), "fan"),
            },
        );
        let before = table.stats().snapshot();
        let outcome = fanout
            .catch_up("Product", "sku-1")
            .await
            .expect("caught up");
        assert_eq!((outcome.applied, outcome.position), (3, 3));
        // The first two events would stage 120 rows: the first is committed
        // alone, the second and third together (90 rows), each commit at
        // most 99 rows and the position.
        let used = table.stats().snapshot() - before;
        assert_eq!((used.writes, used.items_written), (2, 61 + 91), "{used:?}");
        let rows = &fanout.projection().rows;
        for (row, count) in [
            ("v1-0", Some(1)),
            ("v2-59", Some(1)),
            ("v3-29", Some(1)),
            ("v3-30", None),
        ] {
            assert_eq!(rows.get(row).await.expect("row"), count, "{row}");
        }
    }

    #[tokio::test]
    async fn an_event_over_the_transaction_limit_is_refused_by_name() {
        let store = MemoryStore::new();
        restocked(&store, &[2, 120, 1]).await;
        let table = MemoryViews::new();
        let fanout = Projector::new(
            store.clone(),
            table.clone(),
            Fanout {
                rows: Views::new(table.clone(), "fan"),
            },
        );
        let halted = fanout
            .catch_up("Product", "sku-1")
            .await
            .expect_err("version 2 is too wide");
        assert_eq!(halted.done.position, 1, "version 1 is committed");
        assert_eq!(
            halted.error.to_string(),
            "Fanout: project failed: Product \"sku-1\" version 2: its handlers update more than \
             99 view rows, which cannot be written with the position in one transaction"
        );
        assert_eq!(
            fanout.position("Product", "sku-1").await.expect("position"),
            1
        );
    }

    #[tokio::test]
    async fn views_in_another_table_than_the_positions_are_refused() {
        let store = MemoryStore::new();
        restocked(&store, &[1]).await;
        let (positions, views) = (MemoryViews::new(), MemoryViews::new());
        let fanout = Projector::new(
            store.clone(),
            positions,
            Fanout {
                rows: Views::new(views, "fan"),
            },
        );
        let halted = fanout
            .catch_up("Product", "sku-1")
            .await
            .expect_err("two tables");
        let message = halted.error.to_string();
        assert!(
            message.contains(
                "views of kind \"fan\" are in another table than the one the driver keeps"
            ),
            "{message}"
        );
        assert_eq!(halted.done.position, 0);
    }
}

mod property {
    use super::*;
    use proptest::prelude::*;

    /// What happens next, in a run of the property.
    #[derive(Clone, Debug)]
    enum Step {
        /// A command: restock, a reservation, a cart's line.
        Command(u8, u8, u8),
        /// A delivery of some of the feed's changes (a bit per change of a
        /// window), possibly again, possibly with gaps.
        Deliver(u16, u64),
        /// The driver restarts: it forgets the positions it knew.
        Restart,
        /// A rebuild runs.
        Rebuild,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (0u8..4, 0u8..3, 0u8..4).prop_map(|(a, b, c)| Step::Command(a, b, c)),
            4 => (any::<u16>(), any::<u64>()).prop_map(|(s, m)| Step::Deliver(s, m)),
            1 => Just(Step::Restart),
            1 => Just(Step::Rebuild),
        ]
    }

    async fn command(store: &MemoryStore, kind: u8, product: u8, cart: u8) {
        let sku = format!("sku-{product}");
        let cart = format!("cart-{cart}");
        let _ = match kind {
            0 => Product::execute(store, sku, |_| {
                Ok::<_, ProductError>(ProductRestocked { amount: 3 })
            })
            .await
            .map(drop)
            .map_err(drop),
            1 => Product::execute(store, sku, |p| p.reserve(&cart, 1))
                .await
                .map(drop)
                .map_err(drop),
            _ => Cart::load(store, cart)
                .await
                .expect("load")
                .commit(ItemAdded { sku, quantity: 1 })
                .await
                .map(drop)
                .map_err(drop),
        };
    }

    async fn run(steps: Vec<Step>) {
        let store = MemoryStore::new();
        let table = MemoryViews::new();
        let views = Projector::new(store.clone(), table.clone(), ShopViews::new(table.clone()));
        let counted = Projector::new(store.clone(), table.clone(), Deliveries::default());
        for step in steps {
            match step {
                Step::Command(kind, product, cart) => command(&store, kind, product, cart).await,
                Step::Deliver(start, mask) => {
                    let changes = store.changes(0, usize::MAX);
                    if changes.is_empty() {
                        continue;
                    }
                    let start = usize::from(start) % changes.len();
                    let window: Vec<es::Change> = changes[start..]
                        .iter()
                        .take(64)
                        .enumerate()
                        .filter(|(i, _)| mask >> i & 1 == 1)
                        .map(|(_, c)| c.clone())
                        .collect();
                    for ((aggregate, id), events) in by_aggregate(&window) {
                        views
                            .project(&aggregate, &id, events.clone())
                            .await
                            .expect("views");
                        counted
                            .project(&aggregate, &id, events)
                            .await
                            .expect("counted");
                    }
                }
                Step::Restart => {
                    views.forget_positions();
                    counted.forget_positions();
                }
                Step::Rebuild => {
                    es::rebuild(&views).run().await.expect("rebuild views");
                    es::rebuild(&counted).run().await.expect("rebuild counted");
                }
            }
            let counts = counted.projection().counts();
            assert!(
                counts.values().all(|&n| n == 1),
                "an event ran twice: {counts:?}"
            );
        }
        // The next event of each aggregate arrives: its gap is filled.
        let changes = store.changes(0, usize::MAX);
        for ((aggregate, id), events) in by_aggregate(&changes) {
            let last = events.last().cloned().into_iter().collect::<Vec<_>>();
            views
                .project(&aggregate, &id, last.clone())
                .await
                .expect("views");
            counted
                .project(&aggregate, &id, last)
                .await
                .expect("counted");
        }
        let counts = counted.projection().counts();
        assert!(
            counts.values().all(|&n| n == 1),
            "an event ran twice: {counts:?}"
        );
        assert_eq!(
            counts.into_keys().collect::<Vec<_>>(),
            every_event(&store).await
        );
        assert_replayed(&store, &views).await;
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn views_never_skip_an_unseen_event(steps in proptest::collection::vec(step(), 1..60)) {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("a runtime")
                .block_on(run(steps));
        }
    }
}

mod dynamo {
    use std::sync::Arc;
    use std::time::Duration;

    use aws_sdk_dynamodb::types::{StreamSpecification, StreamViewType};
    use es::dynamo::testing::{skip_without_dynamodb, store_on_new_table, views_on_new_table};
    use es::dynamo::{lambda, DynamoStore, DynamoViews, StreamRunner};

    use super::*;

    /// Turns the table's stream off or on, and waits until the table is
    /// active again: a stream turned on later starts empty, as for a table
    /// that had history before anyone subscribed.
    async fn set_stream(store: &DynamoStore, enabled: bool) {
        let mut spec = StreamSpecification::builder().stream_enabled(enabled);
        if enabled {
            spec = spec.stream_view_type(StreamViewType::NewImage);
        }
        store
            .client()
            .update_table()
            .table_name(store.table())
            .stream_specification(spec.build().expect("a stream specification"))
            .send()
            .await
            .expect("UpdateTable");
        for _ in 0..100 {
            let table = store
                .client()
                .describe_table()
                .table_name(store.table())
                .send()
                .await
                .expect("DescribeTable")
                .table
                .expect("a table");
            let on = table
                .stream_specification
                .as_ref()
                .is_some_and(|s| s.stream_enabled);
            if on == enabled
                && table.table_status == Some(aws_sdk_dynamodb::types::TableStatus::Active)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the stream did not turn {}",
            if enabled { "on" } else { "off" }
        );
    }

    fn shop(
        store: &DynamoStore,
        table: &DynamoViews,
    ) -> Projector<DynamoStore, DynamoViews, ShopViews<DynamoViews>> {
        Projector::new(store.clone(), table.clone(), ShopViews::new(table.clone()))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn projection_deployed_on_history_then_rebuilt_equals_replay() {
        if skip_without_dynamodb() {
            return;
        }
        let store = store_on_new_table("heal-history").await;
        set_stream(&store, false).await;
        workload(&store, 8, 16, 41).await;
        // The stream, and the live projection, start here.
        set_stream(&store, true).await;
        workload(&store, 5, 8, 42).await;
        let streamed = stream_records(&store).await;
        let table = views_on_new_table("heal-history-views").await;
        let live = StreamRunner::new(shop(&store, &table)).await.owner("live");
        let report = live.catch_up().await.expect("the live projection");
        assert!(report.records > 0 && (report.records as usize) <= streamed.len());
        // Every aggregate the stream touched is whole: its history was read
        // from the events table before its first streamed event.
        for (aggregate, id) in aggregates_of(&streamed) {
            let latest = latest_version(&store, &aggregate, &id).await;
            assert_eq!(
                live.projector()
                    .position(&aggregate, &id)
                    .await
                    .expect("position"),
                latest
            );
        }
        let rebuilt = es::rebuild(live.projector()).run().await.expect("rebuild");
        assert!(
            rebuilt.applied > 0,
            "the aggregates the stream never touched"
        );
        assert_replayed(&store, live.projector()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn rebuild_beside_the_live_projection_equals_replay() {
        if skip_without_dynamodb() {
            return;
        }
        let store = store_on_new_table("heal-beside").await;
        workload(&store, 8, 8, 61).await;
        let table = views_on_new_table("heal-beside-views").await;
        let live = Arc::new(
            StreamRunner::new(shop(&store, &table))
                .await
                .owner("live")
                .idle(Duration::from_millis(20)),
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let following = {
            let live = live.clone();
            tokio::spawn(async move {
                live.run_until(async {
                    let _ = stopped.await;
                })
                .await
            })
        };
        let writing = {
            let store = store.clone();
            tokio::spawn(async move {
                for seed in 62..65 {
                    workload(&store, 8, 8, seed).await;
                }
            })
        };
        // Another process rebuilds into the same table meanwhile.
        let rebuilder = shop(&store, &table);
        for _ in 0..2 {
            es::rebuild(&rebuilder)
                .concurrency(8)
                .run()
                .await
                .expect("rebuild");
        }
        writing.await.expect("the workload");
        let _ = stop.send(());
        following.await.expect("the runner").expect("a clean stop");
        live.catch_up().await.expect("the rest of the stream");
        assert_replayed(&store, live.projector()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn dead_lettered_record_is_reapplied_by_the_next_event() {
        if skip_without_dynamodb() {
            return;
        }
        let store = store_on_new_table("heal-dead-letter").await;
        for amount in [5, 6, 7] {
            Product::execute(&store, "sku-1", |_| {
                Ok::<_, ProductError>(ProductRestocked { amount })
            })
            .await
            .expect("restock");
        }
        let table = views_on_new_table("heal-dead-letter-views").await;
        let flaky = Projector::new(
            store.clone(),
            table.clone(),
            Flaky::new(ShopViews::new(table)),
        );
        flaky.projection().set("Product", "sku-1", 2, true);
        let first = stream_records(&store).await;
        // Lambda tries the batch, then from the failed record on, until
        // MaximumRetryAttempts; then the batch goes to the failure
        // destination and the shard moves on.
        let mut batch = first.clone();
        for _ in 0..3 {
            let answer = lambda::handle(&flaky, lambda_event(&batch))
                .await
                .expect("an answer");
            let failed = answer.batch_item_failures[0].item_identifier.clone();
            assert_eq!(failed, first[1].sequence_number, "version 2 fails");
            batch = first[1..].to_vec();
        }
        flaky.projection().set("Product", "sku-1", 2, false);
        // The aggregate's next event, in the next batch: only it.
        Product::execute(&store, "sku-1", |p| p.reserve("cart-1", 4))
            .await
            .expect("reserve");
        let next = stream_records(&store).await.split_off(first.len());
        assert_eq!(next.len(), 1);
        let answer = lambda::handle(&flaky, lambda_event(&next))
            .await
            .expect("an answer");
        assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
        let shown = flaky
            .projection()
            .inner
            .read()
            .await
            .expect("read")
            .without_empty();
        let replayed = Shown::replayed(&store).await.expect("replay");
        assert_eq!(shown, replayed, "{}", shown.differences(&replayed));
        assert_eq!(shown.stock["sku-1"].on_hand, 5 + 6 + 7 - 4);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn reapply_from_failure_destination_message() {
        if skip_without_dynamodb() {
            return;
        }
        let store = store_on_new_table("heal-reapply").await;
        workload(&store, 6, 10, 71).await;
        let records = stream_records(&store).await;
        let streams = es::dynamo::runner::streams_client_from_env().await;
        let arn = store
            .client()
            .describe_table()
            .table_name(store.table())
            .send()
            .await
            .expect("DescribeTable")
            .table
            .and_then(|t| t.latest_stream_arn)
            .expect("a stream");
        let shard = streams
            .describe_stream()
            .stream_arn(&arn)
            .send()
            .await
            .expect("DescribeStream")
            .stream_description
            .and_then(|d| d.shards)
            .and_then(|s| s.into_iter().next())
            .and_then(|s| s.shard_id)
            .expect("a shard");
        // The batch that went to the failure destination: records 5 to 14.
        let failed = &records[5..15];
        let record = serde_json::json!({
            "requestContext": {
                "requestId": "316aa6d0-8154-4b1e-9af7-85d5f4a6bc81",
                "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:shop-projection",
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": 11
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled"
            },
            "version": "1.0",
            "timestamp": "2026-12-07T00:13:49.717Z",
            "DDBStreamBatchInfo": {
                "shardId": shard,
                "startSequenceNumber": failed[0].sequence_number,
                "endSequenceNumber": failed[failed.len() - 1].sequence_number,
                "approximateArrivalOfFirstRecord": "2026-12-07T00:13:19Z",
                "approximateArrivalOfLastRecord": "2026-12-07T00:13:19Z",
                "batchSize": failed.len(),
                "streamArn": arn
            }
        });
        // As an SQS queue subscribed to the destination topic receives it.
        let sns = serde_json::json!({ "Type": "Notification", "Message": record.to_string() });
        let message = serde_json::json!({ "Messages": [{ "Body": sns.to_string() }] }).to_string();

        let table = views_on_new_table("heal-reapply-views").await;
        let projector = shop(&store, &table);
        let reapplied = es::dynamo::failures::reapply_failures(&projector, &streams, &message)
            .await
            .expect("reapplied");
        let expected = aggregates_of(failed);
        assert_eq!(reapplied.batches, 1);
        assert_eq!(
            reapplied
                .aggregates
                .iter()
                .cloned()
                .collect::<std::collections::BTreeSet<_>>(),
            expected
        );
        // Each of the batch's aggregates is whole; nothing else was touched.
        let replayed = Shown::replayed(&store).await.expect("replay");
        let shown = projector.projection().read().await.expect("read");
        // A cart's own part of its view (its lines, its holds, whether it
        // checked out) comes from its events alone; what products reserved
        // for it needs the products, which may be outside the batch.
        let own = |view: Option<&crate::views::CartView>| {
            view.map(|v| (v.lines.clone(), v.holds.clone(), v.checked_out))
                .filter(|(lines, holds, out)| !lines.is_empty() || !holds.is_empty() || *out)
        };
        for (aggregate, id) in &expected {
            match aggregate.as_str() {
                "Product" => assert_eq!(shown.stock.get(id), replayed.stock.get(id), "{id}"),
                _ => assert_eq!(
                    own(shown.carts.get(id)),
                    own(replayed.carts.get(id)),
                    "{id}"
                ),
            }
        }
        let products: Vec<&String> = shown.stock.keys().collect();
        assert!(
            products
                .iter()
                .all(|id| expected.contains(&("Product".to_owned(), (*id).clone()))),
            "{products:?}"
        );
        // Running it again applies nothing.
        let again = es::dynamo::failures::reapply_failures(&projector, &streams, &message)
            .await
            .expect("reapplied again");
        assert_eq!(again.outcome.applied, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn projection_gap_is_filled_from_the_store() {
        if skip_without_dynamodb() {
            return;
        }
        let store = store_on_new_table("heal-gap").await;
        Product::execute(&store, "sku-1", |_| {
            Ok::<_, ProductError>(ProductRestocked { amount: 50 })
        })
        .await
        .expect("restock");
        for cart in 1..=7 {
            Product::execute(&store, "sku-1", |p| p.reserve(&format!("cart-{cart}"), 2))
                .await
                .expect("reserve");
        }
        let records = stream_records(&store).await;
        assert_eq!(records.len(), 8);
        let table = views_on_new_table("heal-gap-views").await;
        let projector = shop(&store, &table);
        let (store_before, views_before) = (store.stats().snapshot(), table.stats().snapshot());
        // A new projection's first batch starts at version 5.
        let report = lambda::project(&projector, lambda_event(&records[4..])).await;
        assert!(report.failures.is_empty(), "{:?}", report.failures);
        assert_eq!((report.applied, report.filled), (8, 4));
        let (store_used, views_used) = (
            store.stats().snapshot() - store_before,
            table.stats().snapshot() - views_before,
        );
        // One Query for versions 1 to 4. On the view table: one
        // BatchGetItem of the position, a GetItem per row (the stock and
        // seven carts), and one TransactWriteItems of the rows and the
        // position.
        assert_eq!(store_used.reads, 1, "{store_used:?}");
        assert_eq!(
            (views_used.reads, views_used.writes),
            (1 + 8, 1),
            "{views_used:?}"
        );
        assert_eq!(views_used.items_written, 8 + 1);
        assert_replayed(&store, &projector).await;
    }
}
