//! What each operation costs on DynamoDB Local, in requests and capacity
//! units, asserted exactly. `docs/dynamodb.md` quotes these numbers; run with
//! `-- --nocapture` to see them printed.

use crate::common::*;
use es_core::conformance::model::*;
use es_core::store::{CommandRecord, Commit, Committed};
use es_core::{AggregateExt, Error, EventStore, Root, StatsSnapshot, Transaction};
use es_dynamo::testing::{skip_without_dynamodb, store_on_new_table};
use es_dynamo::DynamoStore;

/// Runs an expression and returns its value and what it cost.
macro_rules! cost {
    ($store:expr, $label:expr, $e:expr) => {{
        let before = $store.stats().snapshot();
        let value = $e;
        let cost = $store.stats().snapshot() - before;
        report($label, &cost);
        (value, cost)
    }};
}

fn report(label: &str, c: &StatsSnapshot) {
    eprintln!(
        "| {label} | {} ({} read, {} write) | {} | {} | {} | {} |",
        c.requests, c.reads, c.writes, c.items_read, c.items_written, c.read_units, c.write_units
    );
}

fn counts(c: &StatsSnapshot) -> (u64, u64, u64) {
    (c.requests, c.reads, c.writes)
}

#[tokio::test]
async fn commits_cost_one_request() {
    if skip_without_dynamodb() {
        return;
    }
    let store = store_on_new_table("costs-commit").await;
    let (_, c) = cost!(
        &store,
        "load of a new aggregate",
        Product::load(&store, "sku-1").await.expect("load")
    );
    // DynamoDB Local reports 0 units for a Query that finds nothing.
    assert_eq!((counts(&c), c.items_read), ((1, 1, 0), 0));

    let mut p = Product::load(&store, "sku-1").await.expect("load");
    let (_, c) = cost!(
        &store,
        "commit of the first event (PutItem + index entry)",
        p.commit(Restocked { amount: 10 }).await.expect("commit")
    );
    assert_eq!(
        (counts(&c), c.items_written, c.write_units),
        ((1, 0, 1), 1, 2.0),
        "1 PutItem: 1 WCU, and 1 for the initialEvents index entry (as DynamoDB Local reports)"
    );
    let (_, c) = cost!(
        &store,
        "commit of 1 event (PutItem)",
        p.commit(Restocked { amount: 1 }).await.expect("commit")
    );
    assert_eq!(
        (counts(&c), c.items_written, c.write_units),
        ((1, 0, 1), 1, 1.0),
        "1 PutItem, 1 WCU"
    );

    let five: Vec<ProductEvent> = (0..5).map(|_| Restocked { amount: 1 }.into()).collect();
    let (_, c) = cost!(
        &store,
        "commit of 5 events (TransactWriteItems)",
        p.commit_all(five).await.expect("commit")
    );
    assert_eq!(
        (counts(&c), c.items_written, c.write_units),
        ((1, 0, 1), 5, 10.0),
        "1 transaction, 2 WCU per item"
    );

    // A 2.9 KB event: 3 WCU alone, 6 in a transaction.
    let note = || Noted {
        text: "x".repeat(2900),
    };
    let (_, c) = cost!(
        &store,
        "commit of 1 event of 2.9 KB",
        p.commit(note()).await.expect("commit")
    );
    assert_eq!((c.requests, c.write_units), (1, 3.0));
    let (_, c) = cost!(
        &store,
        "commit of 2 events of 2.9 KB",
        p.commit_all([note(), note()]).await.expect("commit")
    );
    assert_eq!((c.requests, c.write_units), (1, 12.0));

    let (loaded, c) = cost!(
        &store,
        "load of 10 events (9.3 KB), no snapshots",
        Product::load(&store, "sku-1").await.expect("load")
    );
    assert_eq!(loaded.version(), 10);
    assert_eq!((counts(&c), c.items_read), ((1, 1, 0), 10));
    assert_eq!(c.read_units, 3.0, "9.3 KB: 1 RCU per 4 KB, rounded up");

    // Across aggregates: one transaction for all.
    let mut a = Product::load(&store, "a").await.expect("load");
    let mut b = Product::load(&store, "b").await.expect("load");
    let mut tx = Transaction::new(&store);
    tx.append(&mut a, [Restocked { amount: 1 }]).expect("stage");
    tx.append(&mut b, [Restocked { amount: 1 }, Restocked { amount: 2 }])
        .expect("stage");
    let (_, c) = cost!(
        &store,
        "transaction over 2 aggregates, 3 events",
        tx.commit().await.expect("commit")
    );
    assert_eq!(
        (counts(&c), c.items_written, c.write_units),
        ((1, 0, 1), 3, 8.0),
        "2 WCU per item, and 1 per index entry of the 2 first events"
    );
}

#[tokio::test]
async fn a_conflict_costs_the_failed_write_and_at_most_one_small_query() {
    if skip_without_dynamodb() {
        return;
    }
    let store = store_on_new_table("costs-conflict").await;
    let mut p = Product::load(&store, "sku").await.expect("load");
    for _ in 0..20 {
        p.commit(Restocked { amount: 1 }).await.expect("commit");
    }
    let mut stale = Product::load(&store, "sku").await.expect("load");
    p.commit(Restocked { amount: 1 }).await.expect("commit");

    let (err, c) = cost!(
        &store,
        "conflict on a 1-event commit",
        stale
            .commit(Restocked { amount: 1 })
            .await
            .expect_err("stale")
    );
    assert!(
        matches!(
            err,
            Error::Conflict {
                expected: 20,
                actual: 21,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        (counts(&c), c.items_read, c.write_units, c.read_units),
        ((2, 1, 1), 1, 1.0, 1.0)
    );

    let (err, c) = cost!(
        &store,
        "conflict on a 2-event commit",
        stale
            .commit_all([Restocked { amount: 1 }, Restocked { amount: 1 }])
            .await
            .expect_err("stale")
    );
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
    assert_eq!(
        (counts(&c), c.items_read, c.write_units, c.read_units),
        ((2, 1, 1), 1, 4.0, 1.0)
    );

    let (_, c) = cost!(
        &store,
        "catch-up after a conflict (hydrate)",
        stale.hydrate().await.expect("hydrate")
    );
    assert_eq!(
        (counts(&c), c.items_read),
        ((1, 1, 0), 1),
        "reads only the missed event"
    );

    // Asked for no exact version, a conflict costs the failed write alone.
    let version = stale.version();
    p.commit(Restocked { amount: 1 }).await.expect("commit");
    let (err, c) = cost!(
        &store,
        "conflict without the version lookup",
        store
            .commit(Commit {
                appends: vec![append(
                    &store,
                    "Product",
                    "sku",
                    version,
                    &[Restocked { amount: 1 }]
                )],
                command: None,
                exact_conflict: false,
            })
            .await
            .expect_err("stale")
    );
    assert!(
        matches!(err, Error::Conflict { expected, actual, .. } if expected == version && actual == version + 1),
        "{err:?}"
    );
    assert_eq!((counts(&c), c.items_read), ((1, 0, 1), 0));

    // So a retry in `execute` is the failed write, one catch-up Query of the
    // missed events, and the write that lands.
    // The missed events come from another process: this one's own writes
    // are caught up on before a command writes, and never conflict.
    p.commit(Restocked { amount: 1 }).await.expect("commit");
    let stale = Product::load(&store, "sku").await.expect("load");
    let mut elsewhere = Product::load(&store.as_another_process(), "sku")
        .await
        .expect("load");
    elsewhere
        .commit_all([Restocked { amount: 1 }, Restocked { amount: 1 }])
        .await
        .expect("commit");
    let (done, c) = cost!(
        &store,
        "command retried after a conflict (execute)",
        Product::command(&store, "sku")
            .on(stale)
            .execute(|_| Ok::<_, ProductError>(Restocked { amount: 1 }))
            .await
            .expect("execute")
    );
    assert_eq!(done.attempts, 2);
    assert_eq!(
        (counts(&c), c.items_read, c.read_units),
        ((3, 1, 2), 2, 1.0),
        "2 PutItems and 1 Query of the 2 missed events"
    );

    let (_, c) = cost!(
        &store,
        "command on a cold aggregate (execute)",
        Product::execute(&store, "cold", |_| Ok::<_, ProductError>(Restocked {
            amount: 1
        }))
        .await
        .expect("execute")
    );
    assert_eq!(counts(&c), (2, 1, 1), "1 Query and 1 PutItem");
}

#[tokio::test]
async fn snapshot_loads_are_one_query_of_at_most_snapshot_every_items() {
    if skip_without_dynamodb() {
        return;
    }
    let store = store_on_new_table("costs-snap").await;
    let mut c4 = Counter::load(&store, "c").await.expect("load");
    for n in 1..=10 {
        c4.commit(Added { n }).await.expect("commit");
    }
    let (loaded, c) = cost!(
        &store,
        "load of 10 events, snapshot every 4",
        Counter::load(&store, "c").await.expect("load")
    );
    assert_eq!(
        loaded.state(),
        &Counter {
            total: 55,
            applied: 10
        }
    );
    assert_eq!(counts(&c), (1, 1, 0), "one Query");
    assert!(
        c.items_read <= 4,
        "at most SNAPSHOT_EVERY items, read {}",
        c.items_read
    );

    let mut tally = Tally::load(&store, "t").await.expect("load");
    for batch in 0..11u64 {
        let added: Vec<Added> = (1..=100).map(|n| Added { n: batch * 100 + n }).collect();
        tally.commit_all(added).await.expect("commit 100 events");
    }
    tally
        .commit_all((0..50).map(|_| Added { n: 0 }).collect::<Vec<_>>())
        .await
        .expect("commit");
    let (loaded, c) = cost!(
        &store,
        "load of 1,150 events, snapshot every 100",
        Tally::load(&store, "t").await.expect("load")
    );
    assert_eq!(
        (loaded.version(), loaded.applied, loaded.total),
        (1150, 1150, 1100 * 1101 / 2)
    );
    assert_eq!(counts(&c), (1, 1, 0), "one Query");
    assert!(
        c.items_read <= 100,
        "at most SNAPSHOT_EVERY items, read {}",
        c.items_read
    );

    let (_, c) = cost!(
        &store,
        "load of 1,150 events without snapshots (history)",
        Root::<Tally, _>::new(&store, "t")
            .hydrate()
            .await
            .expect("hydrate")
    );
    assert_eq!((c.items_read, c.reads), (1150, 1));
}

#[tokio::test]
async fn listing_ids_costs_one_index_query_per_page() {
    if skip_without_dynamodb() {
        return;
    }
    let store = store_on_new_table("costs-ids").await;
    for n in 0..25 {
        Product::load(&store, format!("sku-{n:02}"))
            .await
            .expect("load")
            .commit(Restocked { amount: 1 })
            .await
            .expect("commit");
    }
    let (page, c) = cost!(
        &store,
        "list_ids, page of 10",
        store
            .list_ids("Product", Some(10), None)
            .await
            .expect("list")
    );
    assert_eq!(
        (page.items.len(), counts(&c), c.items_read),
        (10, (1, 1, 0), 10)
    );
    let (page, c) = cost!(
        &store,
        "list_ids, all 25 in one page",
        store.list_ids("Product", None, None).await.expect("list")
    );
    assert_eq!((page.items.len(), counts(&c)), (25, (1, 1, 0)));
    assert!(page.next.is_none());
    assert!(
        c.read_units <= 1.0,
        "a KEYS_ONLY, eventually consistent page: {}",
        c.read_units
    );
}

/// Commits one event at `version` of `Product` `id`, with a command record.
async fn commit_with_record(
    store: &DynamoStore,
    id: &str,
    version: u64,
    key: &str,
    expires_at: u64,
) -> Result<Committed, Error> {
    let events = [Restocked { amount: 1 }];
    store
        .commit(Commit {
            appends: vec![append(store, "Product", id, version - 1, &events)],
            command: Some(CommandRecord {
                key: key.to_owned(),
                outcome: vec![("Product".to_owned(), id.to_owned(), version)],
                expires_at,
            }),
            exact_conflict: true,
        })
        .await
}

#[tokio::test]
async fn idempotent_commits_cost_one_transaction_and_duplicates_no_extra_read() {
    if skip_without_dynamodb() {
        return;
    }
    let store = store_on_new_table("costs-cmd").await;
    let later = es_core::store::now_secs() + 3600;
    let (written, c) = cost!(
        &store,
        "commit of a first event with a command record",
        commit_with_record(&store, "sku", 1, "order-1", later).await
    );
    assert_eq!(written.expect("commit"), Committed::Written);
    assert_eq!(
        (counts(&c), c.items_written, c.write_units),
        ((1, 0, 1), 2, 5.0),
        "2 items at 2 WCU, and 1 for the index entry"
    );

    let (dup, c) = cost!(
        &store,
        "duplicate command (record returned with the cancellation)",
        commit_with_record(&store, "sku", 2, "order-1", later).await
    );
    match dup.expect("duplicate") {
        Committed::Duplicate(record) => {
            assert_eq!((record.key.as_str(), record.expires_at), ("order-1", later))
        }
        other => panic!("expected Duplicate, got {other:?}"),
    }
    assert_eq!(
        (c.writes, c.reads),
        (1, 0),
        "the record comes back with the cancellation: no GetItem"
    );

    let (_, c) = cost!(
        &store,
        "command record lookup (GetItem)",
        store.command("order-1").await.expect("command")
    );
    assert_eq!((counts(&c), c.read_units), ((1, 1, 0), 1.0));

    // An expired record is absent, and a new commit with its key replaces it.
    let past = es_core::store::now_secs() - 10;
    assert_eq!(
        commit_with_record(&store, "other", 1, "order-2", past)
            .await
            .expect("commit"),
        Committed::Written
    );
    assert_eq!(
        store.command("order-2").await.expect("command"),
        None,
        "expired records read as absent"
    );
    assert_eq!(
        commit_with_record(&store, "other", 2, "order-2", later)
            .await
            .expect("commit"),
        Committed::Written,
        "an expired record does not block its key"
    );
    assert_eq!(
        store
            .command("order-2")
            .await
            .expect("command")
            .map(|r| r.expires_at),
        Some(later)
    );

    // A duplicate whose events also conflict is still reported as a duplicate.
    let stale = Root::<Product, _>::new(&store, "sku");
    let dup = store
        .commit(Commit {
            appends: vec![append(
                &store,
                "Product",
                stale.id(),
                0,
                &[Restocked { amount: 1 }],
            )],
            command: Some(CommandRecord {
                key: "order-1".into(),
                outcome: vec![],
                expires_at: later,
            }),
            exact_conflict: true,
        })
        .await
        .expect("duplicate");
    assert!(matches!(dup, Committed::Duplicate(_)), "got {dup:?}");
}

/// es computes capacity with DynamoDB's formulas instead of asking for it on
/// every request. The same operations on two stores of one table, one that
/// asks DynamoDB and one that computes, must count the same units.
#[tokio::test]
async fn computed_capacity_matches_what_dynamodb_reports() {
    if skip_without_dynamodb() {
        return;
    }
    let computing = store_on_new_table("costs-computed").await;
    let asking = DynamoStore::new(computing.client().clone(), computing.table())
        .with_returned_capacity(true);
    // The same work on each store, on ids of its own; what each cost, step
    // by step.
    async fn work(store: &DynamoStore, who: &str) -> Vec<(&'static str, StatsSnapshot)> {
        let mut steps = Vec::new();
        let id = format!("sku-{who}");
        let mut p = Product::load(store, &id).await.expect("load");
        let (_, c) = cost!(
            store,
            "first commit",
            p.commit(Restocked { amount: 1 }).await.expect("commit")
        );
        steps.push(("first commit, with its index entry", c));
        let (_, c) = cost!(
            store,
            "small commit",
            p.commit(Restocked { amount: 2 }).await.expect("commit")
        );
        steps.push(("a small commit", c));
        let (_, c) = cost!(
            store,
            "5 KB commit",
            p.commit(Noted {
                text: "n".repeat(5_000)
            })
            .await
            .expect("commit")
        );
        steps.push(("a 5 KB commit", c));
        for n in 0..20 {
            p.commit(Noted {
                text: format!("{n}").repeat(300),
            })
            .await
            .expect("commit");
        }
        let (_, c) = cost!(
            store,
            "load",
            Product::load(store, &id).await.expect("load")
        );
        steps.push(("a load of 23 events, 11 KB", c));
        let mut stale = Root::<Product, _>::new(store, &id);
        let (_, c) = cost!(
            store,
            "conflict",
            stale.commit(Restocked { amount: 1 }).await
        );
        steps.push(("a conflict, and the exact version's Query", c));
        let (_, c) = cost!(
            store,
            "absent record",
            store.command(&format!("k-{who}")).await.expect("get")
        );
        steps.push(("a GetItem that finds nothing", c));
        steps
    }
    let computed = work(&computing, "computed").await;
    let reported = work(&asking, "reported").await;
    for ((step, computed), (_, reported)) in computed.iter().zip(&reported) {
        assert_eq!(
            (computed.requests, computed.read_units, computed.write_units),
            (reported.requests, reported.read_units, reported.write_units),
            "{step}: computed (left) against reported by DynamoDB (right)"
        );
    }
}
