//! Projections on DynamoDB Local: the table's stream read by the stream
//! runner and by the Lambda entry point, views in a DynamoDB view table,
//! and rebuilds. Every test makes tables of its own.

use std::time::Duration;

use es::dynamo::testing::{skip_without_dynamodb, store_on_new_table, views_on_new_table};
use es::dynamo::{lambda, StreamRunner};
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
    // retried batches do, then the whole stream once more. Beside the
    // views, a projection that counts each time a handler runs, with its
    // positions in the same table.
    let view = Projector::new(store.clone(), table.clone(), ShopViews::new(table.clone()));
    let counted = Projector::new(store.clone(), table.clone(), Deliveries::default());
    let mut start = 0;
    while start < records.len() {
        let end = (start + 25).min(records.len());
        for response in [
            lambda::handle(&view, lambda_event(&records[start..end])).await,
            lambda::handle(&counted, lambda_event(&records[start..end])).await,
        ] {
            let response = response.expect("a response");
            assert!(response.batch_item_failures.is_empty(), "{response:?}");
        }
        start = if end == records.len() { end } else { end - 10 };
    }
    // A cold function, which knows no position, gets the whole stream again.
    view.forget_positions();
    let written = table.stats().snapshot().items_written;
    let response = lambda::handle(&view, lambda_event(&records))
        .await
        .expect("a response");
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(
        table.stats().snapshot().items_written,
        written,
        "a redelivered record is skipped by its position, never written"
    );

    let shown = view
        .projection()
        .read()
        .await
        .expect("read")
        .without_empty();
    let replayed = Shown::replayed(&store).await.expect("replay");
    assert_eq!(shown, replayed, "{}", shown.differences(&replayed));

    // Each handler ran once per event, however often it was delivered.
    let counts = counted.projection().counts();
    assert!(
        counts.values().all(|&n| n == 1),
        "an event ran twice: {counts:?}"
    );
    assert_eq!(
        counts.into_keys().collect::<Vec<_>>(),
        every_event(&store).await
    );
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
    let first = StreamRunner::new(Projector::new(
        store.clone(),
        checkpoints.clone(),
        Deliveries::default(),
    ))
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
    let second = StreamRunner::new(Projector::new(
        store.clone(),
        checkpoints.clone(),
        Deliveries::default(),
    ))
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
    let other = StreamRunner::new(Projector::new(
        store.clone(),
        checkpoints,
        Deliveries::default(),
    ))
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
    let runner = StreamRunner::new(Projector::new(
        store.clone(),
        live_table.clone(),
        ShopViews::new(live_table.clone()),
    ))
    .await
    .owner("live");
    runner.catch_up().await.expect("the live view");

    // A rebuild from history into a table of its own.
    let rebuilt_table = views_on_new_table("rebuild-fresh").await;
    let rebuilt = Projector::new(
        store.clone(),
        rebuilt_table.clone(),
        ShopViews::new(rebuilt_table.clone()),
    );
    let report = es::rebuild(&rebuilt)
        .concurrency(16)
        .page_size(50)
        .checkpoint()
        .run()
        .await
        .expect("rebuild");
    assert_eq!(report.aggregates, aggregates as u64);
    assert_eq!(report.events as usize, every_event(&store).await.len());
    assert!(!report.resumed);

    let live = runner.projection().read().await.expect("live");
    let rebuilt = rebuilt.projection().read().await.expect("rebuilt");
    assert_eq!(rebuilt, live, "{}", rebuilt.differences(&live));
    let replayed = Shown::replayed(&store).await.expect("replay");
    assert_eq!(rebuilt.without_empty(), replayed);
}
