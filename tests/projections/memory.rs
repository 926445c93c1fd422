//! Projections on the in-memory store: its change feed stands in for the
//! table's stream, and MemoryViews for the view table.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use es::prelude::*;

use crate::common::*;
use crate::views::{ShopViews, Shown};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn projection_applies_each_event_once_in_order() {
    let store = MemoryStore::new();
    workload(&store, 12, 30, 7).await;
    let changes = store.changes(0, usize::MAX);
    assert_eq!(changes.len(), every_event(&store).await.len());

    // Delivered at least once: every window of the feed is delivered, then
    // delivered again from an earlier point, as a retried batch would be,
    // and single records are repeated. Beside the views, a projection that
    // counts each time a handler runs, its positions in the same table.
    let table = MemoryViews::new();
    let view = Projector::new(store.clone(), table.clone(), ShopViews::new(table.clone()));
    let counted = Projector::new(store.clone(), table.clone(), Deliveries::default());
    let deliver = |change: &es::Change| {
        let (view, counted) = (&view, &counted);
        let event = change.event.clone();
        async move {
            for outcome in [
                view.project(&event.aggregate, &event.id, vec![event.event.clone()])
                    .await,
                counted
                    .project(&event.aggregate, &event.id, vec![event.event.clone()])
                    .await,
            ] {
                outcome.expect("project");
            }
        }
    };
    let mut start = 0;
    while start < changes.len() {
        let end = (start + 7).min(changes.len());
        let replay_from = start.saturating_sub(3);
        for change in changes[start..end].iter().chain(&changes[replay_from..end]) {
            deliver(change).await;
        }
        if let Some(change) = changes.get(start) {
            deliver(change).await;
        }
        start = end;
    }

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
async fn rebuild_projects_every_aggregate() {
    let store = MemoryStore::with_page_items(5);
    let aggregates = workload(&store, 100, 120, 11).await;
    assert!(aggregates >= 200);

    // The live view, kept from the feed in steps as a stream would keep it.
    let table = MemoryViews::new();
    let live = Projector::new(store.clone(), table.clone(), ShopViews::new(table));
    let mut position = 0;
    while store
        .catch_up(&live, &mut position)
        .await
        .expect("catch up")
        > 0
    {}

    let table = MemoryViews::new();
    let rebuilt = Projector::new(store.clone(), table.clone(), ShopViews::new(table));
    let progress = std::sync::Mutex::new(Vec::new());
    let report = es::rebuild(&rebuilt)
        .concurrency(8)
        .page_size(25)
        .on_progress(|p| progress.lock().expect("lock").push((p.pages, p.aggregates)))
        .run()
        .await
        .expect("rebuild");
    assert_eq!(report.aggregates, aggregates as u64);
    assert_eq!(report.events as usize, every_event(&store).await.len());
    assert_eq!(
        report.applied, report.events,
        "the view handles every shop event"
    );
    let progress = progress.into_inner().expect("lock");
    // The store's pages hold at most 5 ids, fewer than the 25 asked for:
    // a report after each page it gave, 100 / 5 products, 120 / 5 carts and
    // one empty page of hot products' buckets, which the view follows too
    // (and maybe more in between, on a slow machine), counts only growing.
    let pages: std::collections::BTreeSet<u64> = progress.iter().map(|(pages, _)| *pages).collect();
    assert!((1..=45).all(|page| pages.contains(&page)), "{pages:?}");
    assert!(pages.iter().all(|&page| page <= 45), "{pages:?}");
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    assert_eq!(progress.last(), Some(&(45, aggregates as u64)));

    let live = live.projection().read().await.expect("live");
    let rebuilt = rebuilt.projection().read().await.expect("rebuilt");
    assert_eq!(rebuilt, live, "{}", rebuilt.differences(&live));
    let replayed = Shown::replayed(&store).await.expect("replay");
    assert_eq!(rebuilt.without_empty(), replayed);
}

/// A view table that fails every commit after the first `left`, as a table
/// throttling or going away mid-rebuild would, until `left` is raised.
fn failing_after(left: i64) -> (FaultyViews, Arc<AtomicI64>) {
    let left = Arc::new(AtomicI64::new(left));
    let counter = left.clone();
    let table = FaultyViews::new(move |_| {
        (counter.fetch_sub(1, Ordering::SeqCst) <= 0).then_some("the view table is away")
    });
    (table, left)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_interrupted_rebuild_resumes_from_its_checkpoint() {
    let store = MemoryStore::new();
    let aggregates = workload(&store, 40, 40, 3).await;
    // One commit per aggregate: the table goes away after the products.
    let (table, left) = failing_after(40);
    let view = Projector::new(store.clone(), table.clone(), ShopViews::new(table.clone()));

    let err = es::rebuild(&view)
        .page_size(10)
        .checkpoint()
        .run()
        .await
        .expect_err("the table goes away after 40 commits");
    assert!(err.to_string().contains("the view table is away"), "{err}");
    let saved = table
        .checkpoint("$rebuild#ShopViews")
        .await
        .expect("checkpoint");
    assert!(saved.is_some(), "the pages done are checkpointed");

    // Back again: the rebuild starts at the page it stopped in.
    left.store(i64::MAX, Ordering::SeqCst);
    let report = es::rebuild(&view)
        .page_size(10)
        .checkpoint()
        .run()
        .await
        .expect("resumed");
    assert!(report.resumed);
    assert!(
        report.aggregates < aggregates as u64,
        "the resumed run skipped the pages done: {} of {aggregates}",
        report.aggregates
    );
    assert_eq!(
        table
            .checkpoint("$rebuild#ShopViews")
            .await
            .expect("checkpoint"),
        None
    );
    let shown = view
        .projection()
        .read()
        .await
        .expect("read")
        .without_empty();
    let replayed = Shown::replayed(&store).await.expect("replay");
    assert_eq!(shown, replayed, "{}", shown.differences(&replayed));
}

#[tokio::test]
async fn a_failed_commit_names_the_aggregate_and_the_feed_does_not_move_past_it() {
    let store = MemoryStore::new();
    workload(&store, 3, 3, 1).await;
    // The feed starts with the three restocks; each product's events are
    // one commit: the third product's fails.
    let (table, left) = failing_after(2);
    let view = Projector::new(store.clone(), table.clone(), ShopViews::new(table.clone()));
    let mut position = 0;
    let err = store
        .catch_up(&view, &mut position)
        .await
        .expect_err("the third commit fails");
    assert_eq!(position, 2, "the feed stops before the failed event");
    let third = store.changes(2, 1).remove(0).event;
    assert_eq!(
        (third.aggregate.as_str(), third.event.version),
        ("Product", 1)
    );
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "ShopViews: TransactWriteItems on Product {:?} writing version",
            third.id
        )) && message.ends_with(" failed: the view table is away"),
        "{message}"
    );
    left.store(i64::MAX, Ordering::SeqCst);
    store.catch_up(&view, &mut position).await.expect("resumed");
    assert_eq!(
        view.projection()
            .read()
            .await
            .expect("read")
            .without_empty(),
        Shown::replayed(&store).await.expect("replay")
    );
}
