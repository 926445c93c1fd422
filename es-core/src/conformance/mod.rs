//! The conformance suite: the behaviour every [`EventStore`] must have.
//!
//! A store proves itself by running every check against fresh, empty stores:
//!
//! ```
//! es_core::conformance::run(|| async { es_core::MemoryStore::new() });
//! ```
//!
//! or, to get one `#[test]` per check, with [`conformance_tests!`](crate::conformance_tests):
//!
//! ```no_run
//! es_core::conformance_tests!(async { es_core::MemoryStore::new() });
//! ```
//!
//! Each check panics with a message that names what the store got wrong.

pub mod model;

use std::collections::HashSet;
use std::future::Future;

use futures::TryStreamExt;

use crate::error::{Error, Limit};
use crate::limits::MAX_ITEM_BYTES;
use crate::ops::AggregateExt;
use crate::root::Root;
use crate::store::{CommandRecord, Commit, Committed, Cursor, Direction, EventStore, ReadRequest};
use crate::transaction::Transaction;
use model::*;

/// Runs `future` to completion on a multi-threaded runtime, so that
/// concurrency checks really run in parallel.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a Tokio runtime for the conformance suite")
        .block_on(future)
}

macro_rules! checks {
    ($($(#[doc = $doc:literal])* $name:ident),* $(,)?) => {
        /// The name of every check, in the order [`run`] runs them.
        pub const CHECKS: &[&str] = &[$(stringify!($name)),*];

        /// Runs every check, each against a new store from `factory`.
        pub fn run<S, F, Fut>(factory: F)
        where
            S: EventStore,
            F: Fn() -> Fut,
            Fut: Future<Output = S>,
        {
            block_on(async {
                $( $name(&factory().await).await; )*
            })
        }

        /// Defines one `#[test]` per conformance check, each against a new
        /// store from the given expression (a future that yields the store).
        ///
        /// With `run_if = <bool expr>`, a check whose condition is false
        /// returns at once, printing why; use it for stores that need a
        /// server the developer may not have started.
        #[macro_export]
        macro_rules! conformance_tests {
            ($factory:expr) => {
                $crate::conformance_tests!($factory, run_if = true);
            };
            ($factory:expr, run_if = $cond:expr) => {
                $(
                    $(#[doc = $doc])*
                    #[test]
                    fn $name() {
                        if !$cond {
                            eprintln!("skipped: {}", stringify!($cond));
                            return;
                        }
                        $crate::conformance::block_on(async {
                            let store = $factory.await;
                            $crate::conformance::$name(&store).await
                        })
                    }
                )*
            };
        }
    };
}

checks! {
    /// Versions run 1, 2, 3, … with no gaps, across single and multi-event commits.
    versions_are_contiguous,
    /// A commit at a stale version fails with `Conflict` and writes nothing.
    stale_commit_conflicts,
    /// A multi-event commit is all or nothing, on one aggregate and across several.
    multi_event_commits_are_atomic,
    /// A rejected event writes nothing and leaves the handle unchanged.
    rejected_events_write_nothing,
    /// Loads follow every page of a history over 1 MB.
    loads_follow_every_page,
    /// `hydrate` reads only the events after the handle's version.
    hydrate_reads_only_new_events,
    /// Backward reads page newest first and stop at the limit.
    backward_reads_page_newest_first,
    /// `list_ids` pages through every id, oldest first, each once.
    list_ids_pages_through_every_id,
    /// `find_all` and `find_one` load every aggregate with its state.
    find_all_loads_every_aggregate,
    /// Many tasks committing at once: exactly one winner per version.
    concurrent_commits_have_one_winner_per_version,
    /// Snapshots bound loads, and a load through a snapshot gives the same state.
    snapshots_bound_loads,
    /// Ids with `#`, `:`, quotes, spaces and emoji round-trip.
    odd_ids_round_trip,
    /// Events without fields are stored without a payload and load back.
    events_without_fields_round_trip,
    /// Size and id limits are refused before anything is written.
    limits_are_checked_before_writing,
    /// A command record makes a second commit with the same key a no-op.
    command_records_make_commits_idempotent,
    /// Cursors that the store did not hand out are refused with an error.
    foreign_cursors_are_refused,
}

fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

async fn versions_of<S: EventStore>(store: &S, id: &str) -> Vec<u64> {
    let root = Root::<Product, S>::new(store, id);
    let history: Vec<_> = root.history().try_collect().await.expect("history");
    history.iter().map(|r| r.version).collect()
}

/// See [`CHECKS`].
pub async fn versions_are_contiguous<S: EventStore>(store: &S) {
    let id = unique("contiguous");
    let mut p = Product::load(store, &id)
        .await
        .expect("load a new aggregate");
    assert_eq!(p.version(), 0, "a new aggregate is at version 0");
    assert_eq!(
        p.commit(Restocked { amount: 5 })
            .await
            .expect("first commit"),
        1
    );
    let v = p
        .commit_all([
            ProductEvent::from(Restocked { amount: 1 }),
            Noted { text: "x".into() }.into(),
            Restocked { amount: 2 }.into(),
        ])
        .await
        .expect("multi-event commit");
    assert_eq!(v, 4, "commit_all returns the last version");
    assert_eq!(
        p.commit(Noted { text: "y".into() }).await.expect("commit"),
        5
    );
    assert_eq!(versions_of(store, &id).await, vec![1, 2, 3, 4, 5]);
    let loaded = Product::load(store, &id).await.expect("load");
    assert_eq!(loaded.version(), 5);
    assert_eq!(
        loaded.state(),
        p.state(),
        "a load gives the committed state"
    );
    assert_eq!(loaded.on_hand, 8);
}

/// See [`CHECKS`].
pub async fn stale_commit_conflicts<S: EventStore>(store: &S) {
    let id = unique("stale");
    let mut a = Product::load(store, &id).await.expect("load");
    a.commit(Restocked { amount: 3 }).await.expect("commit");
    let mut b = Product::load(store, &id).await.expect("load");
    a.commit(Restocked { amount: 1 }).await.expect("commit");
    let err = b
        .commit(Restocked { amount: 10 })
        .await
        .expect_err("a stale commit must fail");
    match err {
        Error::Conflict {
            aggregate,
            id: got,
            expected,
            actual,
        } => {
            assert_eq!(
                (aggregate, got.as_str(), expected, actual),
                ("Product", id.as_str(), 1, 2)
            );
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(
        (b.version(), b.on_hand),
        (1, 3),
        "a failed commit leaves the handle unchanged"
    );
    assert_eq!(
        versions_of(store, &id).await,
        vec![1, 2],
        "a conflict writes nothing"
    );
    assert_eq!(b.hydrate().await.expect("hydrate"), 1);
    assert_eq!(
        b.commit(Restocked { amount: 10 })
            .await
            .expect("commit after catching up"),
        3
    );
    assert_eq!(Product::load(store, &id).await.expect("load").on_hand, 14);
}

/// See [`CHECKS`].
pub async fn multi_event_commits_are_atomic<S: EventStore>(store: &S) {
    let id = unique("atomic");
    let mut a = Product::load(store, &id).await.expect("load");
    let mut stale = Product::load(store, &id).await.expect("load");
    a.commit(Restocked { amount: 1 }).await.expect("commit");
    let err = stale
        .commit_all([
            Restocked { amount: 1 },
            Restocked { amount: 2 },
            Restocked { amount: 3 },
        ])
        .await
        .expect_err("stale multi-event commit");
    assert!(
        matches!(
            err,
            Error::Conflict {
                expected: 0,
                actual: 1,
                ..
            }
        ),
        "got {err:?}"
    );
    assert_eq!(
        versions_of(store, &id).await,
        vec![1],
        "no event of a failed multi-event commit is written"
    );

    // Across aggregates: one stale handle fails the whole transaction.
    let (x, y) = (unique("tx-x"), unique("tx-y"));
    let mut fresh = Product::load(store, &x).await.expect("load");
    let mut behind = Product::load(store, &y).await.expect("load");
    Product::load(store, &y)
        .await
        .expect("load")
        .commit(Restocked { amount: 1 })
        .await
        .expect("commit");
    let mut tx = Transaction::new(store);
    tx.append(&mut fresh, [Restocked { amount: 5 }])
        .expect("stage");
    tx.append(
        &mut behind,
        [Restocked { amount: 5 }, Restocked { amount: 6 }],
    )
    .expect("stage");
    match tx.commit().await {
        Err(Error::Conflict {
            aggregate,
            id,
            expected,
            actual,
        }) => {
            assert_eq!(
                (aggregate, id.as_str(), expected, actual),
                ("Product", y.as_str(), 0, 1),
                "the conflict names the stale aggregate"
            );
        }
        other => panic!("expected a Conflict naming {y}, got {other:?}"),
    }
    assert_eq!(fresh.version(), 0, "handles change only after the write");
    assert!(
        versions_of(store, &x).await.is_empty(),
        "a failed transaction writes nothing"
    );
    assert_eq!(versions_of(store, &y).await, vec![1]);

    behind.hydrate().await.expect("hydrate");
    let mut tx = Transaction::new(store);
    tx.append(&mut fresh, [Restocked { amount: 5 }])
        .expect("stage");
    tx.append(
        &mut behind,
        [Restocked { amount: 5 }, Restocked { amount: 6 }],
    )
    .expect("stage");
    tx.commit()
        .await
        .expect("a transaction at current versions commits");
    assert_eq!((fresh.version(), fresh.on_hand), (1, 5));
    assert_eq!((behind.version(), behind.on_hand), (3, 12));
    assert_eq!(versions_of(store, &y).await, vec![1, 2, 3]);
}

/// See [`CHECKS`].
pub async fn rejected_events_write_nothing<S: EventStore>(store: &S) {
    let id = unique("rejected");
    let mut p = Product::load(store, &id).await.expect("load");
    p.commit(Restocked { amount: 2 }).await.expect("commit");
    let before = store.stats().snapshot();
    let err = p
        .commit_all([
            ProductEvent::from(Reserved {
                cart_id: "c".into(),
                quantity: 1,
            }),
            Reserved {
                cart_id: "c".into(),
                quantity: 5,
            }
            .into(),
        ])
        .await
        .expect_err("the second event oversells");
    match err {
        Error::Rejected(ProductError::SoldOut {
            available: 1,
            requested: 5,
        }) => {}
        other => {
            panic!("expected Rejected(SoldOut {{ available: 1, requested: 5 }}), got {other:?}")
        }
    }
    assert_eq!(
        store.stats().snapshot().writes,
        before.writes,
        "a rejection sends no write"
    );
    assert_eq!(
        (p.version(), p.on_hand),
        (1, 2),
        "a rejection leaves the handle unchanged"
    );
    let err = p
        .commit(Restocked { amount: 0 })
        .await
        .expect_err("empty restock");
    assert!(
        matches!(err, Error::Rejected(ProductError::EmptyRestock)),
        "got {err:?}"
    );
    assert_eq!(versions_of(store, &id).await, vec![1]);
}

/// See [`CHECKS`].
pub async fn loads_follow_every_page<S: EventStore>(store: &S) {
    let id = unique("paged");
    let mut p = Product::load(store, &id).await.expect("load");
    // 48 events of 40 KB: 1.9 MB, so at least two 1 MB pages in any store.
    for batch in 0..6 {
        let events: Vec<ProductEvent> = (0..8)
            .map(|n| {
                Noted {
                    text: format!("{batch}-{n}-{}", "x".repeat(40 * 1024)),
                }
                .into()
            })
            .collect();
        p.commit_all(events).await.expect("commit a batch");
    }
    let before = store.stats().snapshot();
    let loaded = Product::load(store, &id).await.expect("load");
    let cost = store.stats().snapshot() - before;
    assert_eq!(
        (loaded.version(), loaded.notes),
        (48, 48),
        "every page is applied"
    );
    assert!(
        cost.reads >= 2,
        "1.9 MB cannot come in one page (reads: {})",
        cost.reads
    );
    assert_eq!(cost.items_read, 48, "each event is read once");
    let history: Vec<_> = loaded.history().try_collect().await.expect("history");
    let texts: Vec<_> = history
        .iter()
        .map(|r| match &r.event {
            ProductEvent::Noted(n) => n.text.split('-').take(2).collect::<Vec<_>>().join("-"),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    let expected: Vec<_> = (0..6)
        .flat_map(|b| (0..8).map(move |n| format!("{b}-{n}")))
        .collect();
    assert_eq!(texts, expected, "history streams every event in order");
}

/// See [`CHECKS`].
pub async fn hydrate_reads_only_new_events<S: EventStore>(store: &S) {
    let id = unique("hydrate");
    let mut writer = Product::load(store, &id).await.expect("load");
    for _ in 0..10 {
        writer
            .commit(Restocked { amount: 1 })
            .await
            .expect("commit");
    }
    let mut reader = Product::load(store, &id).await.expect("load");
    writer
        .commit_all([Restocked { amount: 1 }, Restocked { amount: 1 }])
        .await
        .expect("commit");
    let before = store.stats().snapshot();
    assert_eq!(reader.hydrate().await.expect("hydrate"), 2);
    let cost = store.stats().snapshot() - before;
    assert_eq!(
        (cost.reads, cost.items_read),
        (1, 2),
        "hydrate is one read of the two new events"
    );
    assert_eq!((reader.version(), reader.on_hand), (12, 12));
    let before = store.stats().snapshot();
    assert_eq!(reader.hydrate().await.expect("hydrate"), 0);
    assert_eq!((store.stats().snapshot() - before).items_read, 0);
}

/// See [`CHECKS`].
pub async fn backward_reads_page_newest_first<S: EventStore>(store: &S) {
    let id = unique("backward");
    let mut p = Product::load(store, &id).await.expect("load");
    p.commit_all(
        (0..7)
            .map(|_| ProductEvent::from(Restocked { amount: 1 }))
            .collect::<Vec<_>>(),
    )
    .await
    .expect("commit");
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .read(ReadRequest {
                aggregate: "Product",
                id: &id,
                after: 2,
                direction: Direction::Backward,
                limit: Some(2),
                cursor,
            })
            .await
            .expect("read");
        assert!(page.items.len() <= 2, "a page holds at most `limit` items");
        seen.extend(page.items.iter().map(|e| e.version));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(
        seen,
        vec![7, 6, 5, 4, 3],
        "newest first, above `after`, each once"
    );
    let page = store
        .read(ReadRequest {
            aggregate: "Product",
            id: &id,
            after: 0,
            direction: Direction::Forward,
            limit: Some(3),
            cursor: None,
        })
        .await
        .expect("read");
    assert_eq!(
        page.items.iter().map(|e| e.version).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert!(page.next.is_some(), "a page cut by the limit has a cursor");
}

/// See [`CHECKS`].
pub async fn list_ids_pages_through_every_id<S: EventStore>(store: &S) {
    let prefix = unique("ids");
    let ids: Vec<String> = (0..25).map(|n| format!("{prefix}-{n:02}")).collect();
    for id in &ids {
        let mut p = Product::load(store, id).await.expect("load");
        p.commit(Restocked { amount: 1 }).await.expect("commit");
        p.commit(Restocked { amount: 1 })
            .await
            .expect("a second event adds no id");
    }
    let mut listed = Vec::new();
    let mut cursor: Option<Cursor> = None;
    let mut pages = 0;
    loop {
        let page = store
            .list_ids("Product", Some(10), cursor)
            .await
            .expect("list_ids");
        assert!(page.items.len() <= 10, "a page holds at most `limit` ids");
        pages += 1;
        listed.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(pages < 100, "list_ids never ends");
    }
    let mine: Vec<_> = listed
        .iter()
        .filter(|id| id.starts_with(&prefix))
        .cloned()
        .collect();
    assert_eq!(mine, ids, "every id once, oldest first");
    assert!(
        pages >= 3,
        "25 ids in pages of 10 take at least 3 pages, took {pages}"
    );
    let unique: HashSet<_> = listed.iter().collect();
    assert_eq!(unique.len(), listed.len(), "no id twice");
    let counters = store
        .list_ids("Counter", None, None)
        .await
        .expect("list_ids");
    assert!(
        counters.items.iter().all(|id| !id.starts_with(&prefix)),
        "ids are listed per aggregate type"
    );
}

/// See [`CHECKS`].
pub async fn find_all_loads_every_aggregate<S: EventStore>(store: &S) {
    let prefix = unique("find");
    for n in 1..=5u32 {
        let mut p = Product::load(store, format!("{prefix}-{n}"))
            .await
            .expect("load");
        p.commit_all(
            (0..n)
                .map(|_| ProductEvent::from(Restocked { amount: 10 }))
                .collect::<Vec<_>>(),
        )
        .await
        .expect("commit");
    }
    let all: Vec<Root<Product, S>> = Product::find_all(store)
        .try_collect()
        .await
        .expect("find_all");
    let mine: Vec<_> = all
        .iter()
        .filter(|r| r.id().starts_with(&prefix))
        .map(|r| (r.id().to_owned(), r.version(), r.on_hand))
        .collect();
    let expected: Vec<_> = (1..=5u32)
        .map(|n| (format!("{prefix}-{n}"), u64::from(n), n * 10))
        .collect();
    assert_eq!(mine, expected);
    assert!(
        Product::find_one(store, unique("missing"))
            .await
            .expect("find_one")
            .is_none(),
        "no events: None"
    );
    let one = Product::find_one(store, format!("{prefix}-3"))
        .await
        .expect("find_one")
        .expect("exists");
    assert_eq!(one.on_hand, 30);
    let missing = Product::get(store, unique("missing"))
        .await
        .expect_err("get of nothing");
    assert!(
        matches!(
            missing,
            Error::NotFound {
                aggregate: "Product",
                ..
            }
        ),
        "got {missing:?}"
    );
}

/// See [`CHECKS`].
pub async fn concurrent_commits_have_one_winner_per_version<S: EventStore>(store: &S) {
    let id = unique("race");
    let tasks = 24;
    let rounds = 3;
    let mut handles = Vec::new();
    for t in 0..tasks {
        let (store, id) = (store.clone(), id.clone());
        handles.push(tokio::spawn(async move {
            let mut won = Vec::new();
            let mut conflicts = 0u32;
            for r in 0..rounds {
                let mut p = Product::load(&store, &id).await.expect("load");
                let text = format!("{t}/{r}");
                match p.commit(Noted { text: text.clone() }).await {
                    Ok(v) => won.push((v, text)),
                    Err(Error::Conflict { .. }) => conflicts += 1,
                    Err(other) => panic!("expected success or Conflict, got {other:?}"),
                }
            }
            (won, conflicts)
        }));
    }
    let mut winners = Vec::new();
    for h in handles {
        let (won, _) = h.await.expect("task");
        winners.extend(won);
    }
    winners.sort();
    let history: Vec<_> = Root::<Product, S>::new(store, &id)
        .history()
        .try_collect()
        .await
        .expect("history");
    let stored: Vec<_> = history
        .iter()
        .map(|r| match &r.event {
            ProductEvent::Noted(n) => (r.version, n.text.clone()),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        stored, winners,
        "each version has exactly the one writer that was told it won"
    );
    let versions: Vec<u64> = stored.iter().map(|(v, _)| *v).collect();
    assert_eq!(
        versions,
        (1..=versions.len() as u64).collect::<Vec<_>>(),
        "no gaps"
    );
}

/// See [`CHECKS`].
pub async fn snapshots_bound_loads<S: EventStore>(store: &S) {
    let id = unique("snap");
    let mut c = Counter::load(store, &id).await.expect("load");
    for n in 1..=10u64 {
        c.commit(Added { n }).await.expect("commit");
    }
    let mut with_snapshots = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .read(ReadRequest {
                aggregate: "Counter",
                id: &id,
                after: 0,
                direction: Direction::Forward,
                limit: None,
                cursor,
            })
            .await
            .expect("read");
        with_snapshots.extend(
            page.items
                .iter()
                .filter(|e| e.snapshot.is_some())
                .map(|e| e.version),
        );
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(
        with_snapshots,
        vec![4, 8],
        "a snapshot on every 4th version"
    );
    let before = store.stats().snapshot();
    let loaded = Counter::load(store, &id).await.expect("load");
    let cost = store.stats().snapshot() - before;
    assert_eq!(
        loaded.state(),
        &Counter {
            total: 55,
            applied: 10
        },
        "snapshot + later events = full replay"
    );
    assert_eq!(loaded.version(), 10);
    // One read in any store whose pages hold SNAPSHOT_EVERY items; stores
    // with tinier pages (test configurations) may take two.
    assert!(
        cost.reads <= 2,
        "a load through a snapshot takes one read, took {}",
        cost.reads
    );
    assert!(
        cost.items_read <= 4,
        "a load reads at most SNAPSHOT_EVERY items, read {}",
        cost.items_read
    );
    let history: Vec<_> = loaded.history().try_collect().await.expect("history");
    assert_eq!(history.len(), 10, "snapshots do not replace history");
}

/// See [`CHECKS`].
pub async fn odd_ids_round_trip<S: EventStore>(store: &S) {
    let tag = unique("odd");
    for raw in [
        "a#b",
        "#",
        "x:y",
        "it's",
        "say \"hi\"",
        "with space",
        "🛒 cart ✓",
        "$dollar",
        "a#b#c:d",
        ":v",
    ] {
        let id = format!("{raw}{tag}");
        let mut p = Product::load(store, &id).await.expect("load");
        p.commit(Restocked { amount: 7 }).await.expect("commit");
        let loaded = Product::load(store, &id).await.expect("load");
        assert_eq!(
            (loaded.id(), loaded.version(), loaded.on_hand),
            (id.as_str(), 1, 7),
            "id {id:?} round-trips"
        );
    }
    let listed: Vec<String> = Product::ids(store).try_collect().await.expect("ids");
    let odd = listed.iter().filter(|id| id.ends_with(&tag)).count();
    assert_eq!(odd, 10, "every odd id is listed as written");
    let prefix_collision = format!("a{tag}");
    assert_eq!(
        Product::load(store, &prefix_collision)
            .await
            .expect("load")
            .version(),
        0,
        "ids are not prefixes of each other"
    );
}

/// See [`CHECKS`].
pub async fn events_without_fields_round_trip<S: EventStore>(store: &S) {
    let id = unique("unit");
    let mut p = Product::load(store, &id).await.expect("load");
    p.commit(Discontinued).await.expect("commit");
    let loaded = Product::load(store, &id).await.expect("load");
    assert!(loaded.discontinued);
    let history: Vec<_> = loaded.history().try_collect().await.expect("history");
    assert!(matches!(history[0].event, ProductEvent::Discontinued(_)));
}

/// See [`CHECKS`].
pub async fn limits_are_checked_before_writing<S: EventStore>(store: &S) {
    let id = unique("limits");
    let mut p = Product::load(store, &id).await.expect("load");
    let before = store.stats().snapshot();
    let err = p
        .commit(Noted {
            text: "x".repeat(MAX_ITEM_BYTES),
        })
        .await
        .expect_err("item over 400 KB");
    assert!(
        matches!(
            err,
            Error::TooLarge {
                limit: Limit::ItemBytes,
                ..
            }
        ),
        "got {err:?}"
    );
    let err = p
        .commit_all(
            (0..101)
                .map(|_| ProductEvent::from(Restocked { amount: 1 }))
                .collect::<Vec<_>>(),
        )
        .await
        .expect_err("101 events");
    assert!(
        matches!(
            err,
            Error::TooLarge {
                limit: Limit::TransactionItems,
                actual: 101,
                max: 100,
                ..
            }
        ),
        "got {err:?}"
    );
    let err = p
        .commit_all(
            (0..12)
                .map(|_| {
                    ProductEvent::from(Noted {
                        text: "x".repeat(390 * 1024),
                    })
                })
                .collect::<Vec<_>>(),
        )
        .await
        .expect_err("over 4 MB");
    assert!(
        matches!(
            err,
            Error::TooLarge {
                limit: Limit::TransactionBytes,
                ..
            }
        ),
        "got {err:?}"
    );
    for bad in [String::new(), "x".repeat(1025)] {
        let mut q = Root::<Product, S>::new(store, bad.clone());
        let err = q
            .commit(Restocked { amount: 1 })
            .await
            .expect_err("invalid id");
        assert!(
            matches!(err, Error::InvalidId { .. }),
            "id of {} bytes: got {err:?}",
            bad.len()
        );
    }
    assert!(
        matches!(Product::load(store, "").await, Err(Error::InvalidId { .. })),
        "loading an empty id fails"
    );
    assert_eq!(
        store.stats().snapshot().writes,
        before.writes,
        "nothing was sent"
    );
    assert_eq!(
        p.commit_all(
            (0..100)
                .map(|_| ProductEvent::from(Restocked { amount: 1 }))
                .collect::<Vec<_>>()
        )
        .await
        .expect("100 events fit"),
        100
    );
}

/// See [`CHECKS`].
pub async fn command_records_make_commits_idempotent<S: EventStore>(store: &S) {
    let id = unique("idem");
    let key = unique("key");
    let p = Product::load(store, &id).await.expect("load");
    // One expiry for both records, so a second boundary mid-test cannot matter.
    let expires_at = crate::time::now_secs() + 3600;
    let record = |last: u64| CommandRecord {
        key: key.clone(),
        outcome: vec![("Product".to_owned(), id.clone(), last)],
        expires_at,
    };
    let append = p
        .stage(&[Restocked { amount: 1 }.into()])
        .expect("stage")
        .append;
    let first = store
        .commit(Commit {
            appends: vec![append],
            command: Some(record(1)),
        })
        .await
        .expect("first commit");
    assert_eq!(first, Committed::Written);
    let p = Product::load(store, &id).await.expect("load");
    let append = p
        .stage(&[Restocked { amount: 1 }.into()])
        .expect("stage")
        .append;
    let second = store
        .commit(Commit {
            appends: vec![append],
            command: Some(record(2)),
        })
        .await
        .expect("second commit");
    assert_eq!(
        second,
        Committed::Duplicate(record(1)),
        "the second commit returns the first record"
    );
    assert_eq!(
        versions_of(store, &id).await,
        vec![1],
        "the second commit wrote nothing"
    );
    assert_eq!(store.command(&key).await.expect("command"), Some(record(1)));
    assert_eq!(
        store.command(&unique("never")).await.expect("command"),
        None
    );
}

/// See [`CHECKS`].
pub async fn foreign_cursors_are_refused<S: EventStore>(store: &S) {
    let id = unique("cursor");
    let bad = Cursor("not a cursor ☃".into());
    let read = store
        .read(ReadRequest {
            aggregate: "Product",
            id: &id,
            after: 0,
            direction: Direction::Forward,
            limit: None,
            cursor: Some(bad.clone()),
        })
        .await;
    assert!(matches!(read, Err(Error::Store(_))), "got {read:?}");
    let list = store.list_ids("Product", None, Some(bad)).await;
    assert!(matches!(list, Err(Error::Store(_))), "got {list:?}");
}
