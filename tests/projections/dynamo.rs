//! Projections on DynamoDB Local: the table's stream read by the stream
//! runner and by the Lambda entry point, views in a DynamoDB view table,
//! and rebuilds. Every test makes tables of its own.

use std::time::Duration;

use es::dynamo::testing::{skip_without_dynamodb, store_on_new_table, views_on_new_table};
use es::dynamo::{lambda, Layout, StreamRunner};
use es::prelude::*;

use crate::common::*;
use crate::views::{ShopViews, Shown};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn projection_applies_each_event_once_in_order() {
    if skip_without_dynamodb() {
        return;
    }
    let store = store_on_new_table("proj-once").await;
    let table = views_on_new_table("proj-once-views").await;
    workload(&store, 8, 24, 21).await;
    let records = stream_records(&store).await;
    assert!(records.len() >= every_event(&store).await.len());

    // At-least-once delivery: batches of 25 records that overlap by 10, as
    // retried batches do, then the whole stream once more.
    let view = ShopViews::new(table.clone());
    let mut start = 0;
    while start < records.len() {
        let end = (start + 25).min(records.len());
        let response = lambda::handle(
            &view,
            Layout::SingleTable,
            lambda_event(&records[start..end]),
        )
        .await
        .expect("a response");
        assert!(response.batch_item_failures.is_empty(), "{response:?}");
        start = if end == records.len() { end } else { end - 10 };
    }
    let written = table.stats().snapshot().items_written;
    let response = lambda::handle(&view, Layout::SingleTable, lambda_event(&records))
        .await
        .expect("a response");
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(
        table.stats().snapshot().items_written,
        written,
        "a redelivered record is read, never written"
    );

    let shown = view.read().await.expect("read").without_empty();
    let replayed = Shown::replayed(&store).await.expect("replay");
    assert_eq!(shown, replayed, "{}", shown.differences(&replayed));

    // Each view was written once per event that changed it: as many items
    // as one delivery of each record writes. (A cart's view is fed by the
    // cart and by its products, so two of them may race for it within a
    // batch; the loser's condition fails and it tries again, which writes
    // nothing twice.)
    let once = ShopViews::new(MemoryViews::new());
    es::dynamo::batch::project_batch(&once, Layout::SingleTable, records).await;
    assert_eq!(written, once.stock.table().stats().snapshot().items_written);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runner_resumes_from_its_checkpoint() {
    if skip_without_dynamodb() {
        return;
    }
    let store = store_on_new_table("runner").await;
    let checkpoints = views_on_new_table("runner-checkpoints").await;
    workload(&store, 6, 20, 2).await;
    let before = every_event(&store).await;

    // The first runner is stopped mid-stream, after about half the events.
    let first = StreamRunner::new(&store, checkpoints.clone(), Deliveries::default())
        .await
        .owner("worker-1")
        .batch_size(7)
        .idle(Duration::from_millis(20));
    let half = before.len() / 2;
    let report = first
        .run_until(async {
            while first.projection().counts().len() < half {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("a clean stop");
    let seen_first = first.projection().counts();
    assert!(
        seen_first.len() >= half && seen_first.len() < before.len(),
        "stopped mid-stream: {}",
        seen_first.len()
    );
    assert_eq!(report.applied as usize, seen_first.len());

    // More events while no runner runs.
    workload(&store, 3, 5, 99).await;
    let all = every_event(&store).await;

    // Restarted (same name, so it takes its shard back at once): it resumes
    // after the checkpoint, so it misses nothing and repeats nothing.
    let second = StreamRunner::new(&store, checkpoints.clone(), Deliveries::default())
        .await
        .owner("worker-1")
        .batch_size(7);
    second.catch_up().await.expect("caught up");
    let seen_second = second.projection().counts();
    let mut together = seen_first.clone();
    for (key, n) in &seen_second {
        *together.entry(key.clone()).or_default() += n;
    }
    assert!(
        together.values().all(|&n| n == 1),
        "an event was delivered twice"
    );
    assert_eq!(
        together.into_keys().collect::<Vec<_>>(),
        all,
        "every event, once"
    );

    // A runner under another name finds the shard leased, and leaves it.
    let other = StreamRunner::new(&store, checkpoints, Deliveries::default())
        .await
        .owner("worker-2");
    workload(&store, 1, 1, 5).await;
    other.catch_up().await.expect("nothing to do");
    assert!(
        other.projection().counts().is_empty(),
        "two runners advanced one shard"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rebuild_projects_every_aggregate() {
    if skip_without_dynamodb() {
        return;
    }
    let store = store_on_new_table("rebuild").await;
    let live_table = views_on_new_table("rebuild-live").await;
    let aggregates = workload(&store, 110, 100, 8).await;
    assert!(aggregates >= 200);

    // The live view, kept by a runner from the stream.
    let runner = StreamRunner::new(
        &store,
        live_table.clone(),
        ShopViews::new(live_table.clone()),
    )
    .await
    .owner("live");
    runner.catch_up().await.expect("the live view");

    // A rebuild from history into a table of its own.
    let rebuilt_table = views_on_new_table("rebuild-fresh").await;
    let rebuilt = ShopViews::new(rebuilt_table.clone());
    let report = es::rebuild(&store, &rebuilt)
        .concurrency(16)
        .page_size(50)
        .checkpoint(&rebuilt_table)
        .run()
        .await
        .expect("rebuild");
    assert_eq!(report.aggregates, aggregates as u64);
    assert_eq!(report.events as usize, every_event(&store).await.len());
    assert!(!report.resumed);

    let live = runner.projection().read().await.expect("live");
    let rebuilt = rebuilt.read().await.expect("rebuilt");
    assert_eq!(rebuilt, live, "{}", rebuilt.differences(&live));
    let replayed = Shown::replayed(&store).await.expect("replay");
    assert_eq!(rebuilt.without_empty(), replayed);
}
