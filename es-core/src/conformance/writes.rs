//! Checks of commits: versions, conflicts, atomicity, rejections, limits and
//! command records.

use super::model::*;
use super::{commit_raw, notes_of, unique, versions_of};
use crate::error::{Error, Limit};
use crate::limits::MAX_ITEM_BYTES;
use crate::ops::AggregateExt;
use crate::root::Root;
use crate::store::{Append, CommandRecord, Commit, Committed, EventStore};
use crate::transaction::Transaction;

/// See [`CHECKS`](super::CHECKS).
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

/// See [`CHECKS`](super::CHECKS).
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
    assert_eq!(conflict(err), ("Product", id.clone(), 1, 2));
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
    // Without an exact version, the conflict still names the aggregate, and
    // its version lies between `expected + 1` and the store's; still nothing
    // is written.
    a.commit(Restocked { amount: 1 }).await.expect("commit");
    let err = store
        .commit(Commit {
            appends: vec![restock(&b)],
            command: None,
            exact_conflict: false,
        })
        .await
        .expect_err("a stale commit must fail");
    let (aggregate, got, expected, actual) = conflict(err);
    assert_eq!((aggregate, got, expected), ("Product", id.clone(), 1));
    assert!((2..=3).contains(&actual), "actual {actual} is not in 2..=3");
    assert_eq!(versions_of(store, &id).await, vec![1, 2, 3]);
    assert_eq!(b.hydrate().await.expect("hydrate"), 2);
    assert_eq!(
        b.commit(Restocked { amount: 10 })
            .await
            .expect("commit after catching up"),
        4
    );
    assert_eq!(Product::load(store, &id).await.expect("load").on_hand, 15);
}

/// See [`CHECKS`](super::CHECKS).
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
    assert_eq!(conflict(err), ("Product", id.clone(), 0, 1));
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
    /// One transaction: 5 units to `fresh`, 5 and 6 to `behind`.
    async fn restock_both<S: EventStore>(
        store: &S,
        fresh: &mut Root<Product, S>,
        behind: &mut Root<Product, S>,
    ) -> Result<(), Error> {
        let mut tx = Transaction::new(store);
        tx.append(fresh, [Restocked { amount: 5 }]).expect("stage");
        tx.append(behind, [Restocked { amount: 5 }, Restocked { amount: 6 }])
            .expect("stage");
        tx.commit().await
    }
    let err = restock_both(store, &mut fresh, &mut behind)
        .await
        .expect_err("one handle is stale");
    assert_eq!(
        conflict(err),
        ("Product", y.clone(), 0, 1),
        "the conflict names the stale aggregate"
    );
    assert_eq!(fresh.version(), 0, "handles change only after the write");
    assert!(
        versions_of(store, &x).await.is_empty(),
        "a failed transaction writes nothing"
    );
    assert_eq!(versions_of(store, &y).await, vec![1]);

    behind.hydrate().await.expect("hydrate");
    restock_both(store, &mut fresh, &mut behind)
        .await
        .expect("a transaction at current versions commits");
    assert_eq!((fresh.version(), fresh.on_hand), (1, 5));
    assert_eq!((behind.version(), behind.on_hand), (3, 12));
    assert_eq!(versions_of(store, &y).await, vec![1, 2, 3]);
}

/// See [`CHECKS`](super::CHECKS).
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

/// See [`CHECKS`](super::CHECKS).
pub async fn concurrent_commits_have_one_winner_per_version<S: EventStore>(store: &S) {
    let id = unique("race");
    let tasks = 24;
    let rounds = 3;
    let mut handles = Vec::new();
    for t in 0..tasks {
        let (store, id) = (store.clone(), id.clone());
        handles.push(tokio::spawn(async move {
            let mut won = Vec::new();
            for r in 0..rounds {
                let mut p = Product::load(&store, &id).await.expect("load");
                let text = format!("{t}/{r}");
                match p.commit(Noted { text: text.clone() }).await {
                    Ok(v) => won.push((v, text)),
                    Err(Error::Conflict { .. }) => {}
                    Err(other) => panic!("expected success or Conflict, got {other:?}"),
                }
            }
            won
        }));
    }
    let mut winners = Vec::new();
    for h in handles {
        winners.extend(h.await.expect("task"));
    }
    winners.sort();
    let stored = notes_of(store, &id).await;
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

/// See [`CHECKS`](super::CHECKS).
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

/// See [`CHECKS`](super::CHECKS).
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
    let append = restock(&p);
    let first = commit_raw(store, append, Some(record(1)))
        .await
        .expect("first commit");
    assert_eq!(first, Committed::Written);
    let p = Product::load(store, &id).await.expect("load");
    let append = restock(&p);
    let second = commit_raw(store, append, Some(record(2)))
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

/// See [`CHECKS`](super::CHECKS).
pub async fn appends_are_conditional_on_their_own_versions<S: EventStore>(store: &S) {
    let id = unique("gap");
    let p = Product::load(store, &id).await.expect("load");
    let first = restock(&p);
    // As DynamoDB's condition is on each new item alone, a store writes an
    // append past the end, leaving a gap. `Root` never asks for one; a load
    // then refuses the history instead of skipping the missing versions.
    let mut past_the_end = first.clone();
    past_the_end.expected = 3;
    past_the_end.events[0].version = 4;
    commit_raw(store, past_the_end, None)
        .await
        .expect("an append whose own version is free is written");
    let err = Product::load(store, &id)
        .await
        .expect_err("a history with a gap must not load");
    assert!(
        matches!(err, Error::Corrupt { version: 4, .. }),
        "got {err:?}"
    );
    // The first free version is taken by nobody else's condition either.
    commit_raw(store, first, None)
        .await
        .expect("version 1 is free");
    assert_eq!(versions_of(store, &id).await, vec![1, 4]);

    // No version follows u64::MAX: refused, never wrapped round to 0 or 1.
    let id = unique("overflow");
    let mut overflow = restock(&Product::load(store, &id).await.expect("load"));
    overflow.expected = u64::MAX;
    let err = commit_raw(store, overflow, None)
        .await
        .expect_err("no version follows u64::MAX");
    assert!(
        !err.is_retryable() && !matches!(err, Error::Conflict { .. }),
        "got {err:?}"
    );
    assert_eq!(versions_of(store, &id).await, Vec::<u64>::new());
}

/// See [`CHECKS`](super::CHECKS).
pub async fn concurrent_transactions_are_all_or_nothing<S: EventStore>(store: &S) {
    let (a, b) = (unique("tx-a"), unique("tx-b"));
    let tasks = 16;
    let mut handles = Vec::new();
    for t in 0..tasks {
        let (store, a, b) = (store.clone(), a.clone(), b.clone());
        handles.push(tokio::spawn(async move {
            let mut pa = Product::load(&store, &a).await.expect("load a");
            let mut pb = Product::load(&store, &b).await.expect("load b");
            let text = format!("t{t}");
            let mut tx = Transaction::new(&store);
            tx.append(&mut pa, [Noted { text: text.clone() }])
                .expect("stage a");
            tx.append(&mut pb, [Noted { text: text.clone() }])
                .expect("stage b");
            match tx.commit().await {
                Ok(()) => Some(text),
                // On DynamoDB, transactions that contend for one item may
                // also be cancelled as a retryable TransactionConflict.
                Err(e) if e.is_retryable() => None,
                Err(e) => panic!("expected success or a retryable error, got {e:?}"),
            }
        }));
    }
    let mut winners = Vec::new();
    for h in handles {
        winners.extend(h.await.expect("task"));
    }
    assert!(!winners.is_empty(), "at least one transaction lands");
    let (in_a, in_b) = (notes_of(store, &a).await, notes_of(store, &b).await);
    assert_eq!(
        in_a, in_b,
        "every transaction wrote both aggregates, at the same versions, or neither"
    );
    let mut texts: Vec<_> = in_a.iter().map(|(_, t)| t.clone()).collect();
    texts.sort();
    winners.sort();
    assert_eq!(texts, winners, "exactly the winners' events are stored");
    let versions: Vec<u64> = in_a.iter().map(|(v, _)| *v).collect();
    assert_eq!(versions, (1..=in_a.len() as u64).collect::<Vec<_>>());
}

/// See [`CHECKS`](super::CHECKS).
pub async fn invalid_input_is_refused_everywhere<S: EventStore>(store: &S) {
    let invalid = |err: Error| matches!(err, Error::InvalidId { .. });
    let invalid_name = |err: Error| matches!(err, Error::InvalidName { .. });
    let invalid_key = |err: Error| matches!(err, Error::InvalidKey { .. });
    for id in [String::new(), "x".repeat(1025)] {
        let read = store
            .read(crate::store::ReadRequest {
                aggregate: "Product",
                id: &id,
                after: 0,
                until: None,
                direction: crate::store::Direction::Forward,
                limit: None,
                cursor: None,
            })
            .await;
        assert!(read.is_err_and(invalid), "a read of id {:?}", id.len());
    }
    for name in ["", "Bad#Name", "$Reserved"] {
        let listed = store.list_ids(name, None, None).await;
        assert!(listed.is_err_and(invalid_name), "list_ids of {name:?}");
    }
    let id = unique("bad-key");
    let p = Product::load(store, &id).await.expect("load");
    for key in [String::new(), "k".repeat(1025)] {
        let looked_up = store.command(&key).await;
        assert!(
            looked_up.is_err_and(invalid_key),
            "command of a {}-byte key",
            key.len()
        );
        let append = restock(&p);
        let committed = commit_raw(
            store,
            append,
            Some(CommandRecord {
                key: key.clone(),
                outcome: vec![("Product".to_owned(), id.clone(), 1)],
                expires_at: crate::time::now_secs() + 60,
            }),
        )
        .await;
        assert!(
            committed.is_err_and(invalid_key),
            "a commit with a {}-byte key",
            key.len()
        );
    }
    assert_eq!(
        versions_of(store, &id).await,
        Vec::<u64>::new(),
        "nothing was written"
    );
    assert!(store
        .command(&"k".repeat(1024))
        .await
        .expect("1024 bytes")
        .is_none());
}

/// One `Restocked` staged on `p`, as a raw append.
fn restock<S: EventStore>(p: &Root<Product, S>) -> Append<S::Payload> {
    p.stage(&[Restocked { amount: 1 }.into()])
        .expect("stage")
        .append
}

/// The aggregate, id, expected and actual version of a conflict.
fn conflict<E: std::fmt::Debug>(err: Error<E>) -> (&'static str, String, u64, u64) {
    match err {
        Error::Conflict {
            aggregate,
            id,
            expected,
            actual,
        } => (aggregate, id, expected, actual),
        other => panic!("expected Conflict, got {other:?}"),
    }
}
