//! A history of several megabytes loads whole, one 1 MB page at a time.

use es_core::conformance::model::*;
use es_core::{AggregateExt, EventStore};
use es_dynamo::testing::{skip_without_dynamodb, store_on_new_table};
use futures::TryStreamExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_over_3_mb_loads_completely() {
    if skip_without_dynamodb() {
        return;
    }
    let store = store_on_new_table("history").await;
    let mut p = Product::load(&store, "big").await.expect("load");
    p.commit(Restocked { amount: 1 }).await.expect("commit");
    // 80 notes of 40 KB: 3.2 MB in 10 transactions of 8 events.
    for batch in 0..10 {
        let notes: Vec<ProductEvent> = (0..8)
            .map(|n| {
                Noted {
                    text: format!("{batch:02}-{n}-{}", "x".repeat(40 * 1024)),
                }
                .into()
            })
            .collect();
        p.commit_all(notes).await.expect("commit a batch");
    }

    let before = store.stats().snapshot();
    let loaded = Product::load(&store, "big").await.expect("load");
    let cost = store.stats().snapshot() - before;
    assert_eq!(
        (loaded.version(), loaded.notes, loaded.on_hand),
        (81, 80, 1),
        "every event is applied"
    );
    assert!(
        cost.reads >= 4,
        "3.2 MB takes at least 4 pages of 1 MB, took {}",
        cost.reads
    );
    assert!(
        cost.reads <= 5,
        "and no more than needed, took {}",
        cost.reads
    );
    assert_eq!(cost.items_read, 81, "each event is read once");
    // 3.2 MB of consistent reads: 1 RCU per 4 KB.
    assert!(cost.read_units >= 800.0, "{} RCU", cost.read_units);
    eprintln!("load of 81 events, 3.2 MB, no snapshots: {cost:?}");

    let history: Vec<_> = loaded.history().try_collect().await.expect("history");
    let order: Vec<String> = history
        .iter()
        .filter_map(|r| match &r.event {
            ProductEvent::Noted(n) => Some(n.text[..4].to_owned()),
            _ => None,
        })
        .collect();
    let expected: Vec<String> = (0..10)
        .flat_map(|b| (0..8).map(move |n| format!("{b:02}-{n}")))
        .collect();
    assert_eq!(order, expected, "in order, each once");
}
