//! Every limit is refused before anything is sent: the table stays empty and
//! the stats show no request.

use crate::common::*;
use es_core::conformance::model::*;
use es_core::store::Commit;
use es_core::store::MAX_ITEM_BYTES;
use es_core::{Error, EventStore, Limit, Root, StatsSnapshot};
use es_dynamo::testing::{scan, skip_without_dynamodb, store_on_new_table};
use es_dynamo::DynamoStore;

async fn assert_nothing_was_sent(store: &DynamoStore) {
    assert_eq!(
        store.stats().snapshot(),
        StatsSnapshot::default(),
        "no request was sent"
    );
    assert!(scan(store).await.is_empty(), "the table is empty");
}

#[tokio::test]
async fn commits_over_a_limit_send_nothing() {
    if skip_without_dynamodb() {
        return;
    }
    // 101 events in one commit and ids of 0 or 1025 bytes are refused the
    // same way on every store: the conformance check
    // `limits_are_checked_before_writing` asserts those, and `conformance.rs`
    // runs it on DynamoDB Local in both layouts. Here: the limits' exact
    // values, the aggregate names only DynamoDB's keys forbid, and that not
    // even a read is sent.
    let store = store_on_new_table("limits").await;
    let mut p = Root::<Product, _>::new(&store, "sku-1");

    let err = p
        .commit(Noted {
            text: "x".repeat(MAX_ITEM_BYTES),
        })
        .await
        .expect_err("an item over 400 KB");
    assert!(
        matches!(err, Error::TooLarge { limit: Limit::ItemBytes, max: 409_600, ref id, .. } if id == "sku-1"),
        "got {err:?}"
    );

    let over_4_mb: Vec<ProductEvent> = (0..11)
        .map(|_| {
            Noted {
                text: "x".repeat(390 * 1024),
            }
            .into()
        })
        .collect();
    let err = p.commit_all(over_4_mb).await.expect_err("over 4 MB");
    assert!(
        matches!(err, Error::TooLarge { limit: Limit::TransactionBytes, actual, max: 4_194_304, .. } if actual > 4_194_304),
        "got {err:?}"
    );

    let err = Root::<HashInName, _>::new(&store, "x")
        .commit(Restocked { amount: 1 })
        .await
        .expect_err("a name with #");
    assert!(
        matches!(
            err,
            Error::InvalidName {
                name: "Bad#Name",
                ..
            }
        ),
        "got {err:?}"
    );
    let err = Root::<DollarName, _>::new(&store, "x")
        .commit(Restocked { amount: 1 })
        .await
        .expect_err("a name with a leading $");
    assert!(
        matches!(
            err,
            Error::InvalidName {
                name: "$Reserved",
                ..
            }
        ),
        "got {err:?}"
    );

    assert_nothing_was_sent(&store).await;
}

#[tokio::test]
async fn the_store_itself_refuses_invalid_commits() {
    if skip_without_dynamodb() {
        return;
    }
    let store = store_on_new_table("limits-raw").await;
    let one = |aggregate: &'static str, id: &str| {
        append(&store, aggregate, id, 0, &[Restocked { amount: 1 }])
    };
    let commit = |appends| Commit {
        appends,
        command: None,
        exact_conflict: true,
    };

    for (aggregate, id) in [
        ("Bad#Name", "x"),
        ("$Reserved", "x"),
        ("", "x"),
        ("Product", ""),
    ] {
        let err = store
            .commit(commit(vec![one(aggregate, id)]))
            .await
            .expect_err("invalid");
        // A bad name is refused for the name, before the id is looked at.
        let named = if id.is_empty() {
            matches!(err, Error::InvalidId { aggregate: a, .. } if a == aggregate)
        } else {
            matches!(err, Error::InvalidName { name, .. } if name == aggregate)
        };
        assert!(named, "{aggregate:?} {id:?}: got {err:?}");
    }
    let long = "é".repeat(513);
    let err = store
        .commit(commit(vec![one("Product", &long)]))
        .await
        .expect_err("1026 bytes");
    assert!(matches!(err, Error::InvalidId { .. }), "got {err:?}");

    let err = store
        .commit(commit(vec![
            one("Product", "a"),
            one("Cart", "b"),
            one("Product", "a"),
        ]))
        .await
        .expect_err("an aggregate twice");
    assert!(
        matches!(&err, Error::Store(e) if !e.is_retryable() && err.to_string().contains("twice")),
        "got {err:?}"
    );

    let mut gap = one("Product", "a");
    gap.events[0].version = 3;
    let err = store
        .commit(commit(vec![gap]))
        .await
        .expect_err("a version gap");
    assert!(matches!(err, Error::Store(_)), "got {err:?}");

    // No version follows u64::MAX: the whole commit is refused, naming the
    // aggregate, rather than wrapping round to version 0 or 1.
    for expected in [u64::MAX, u64::MAX - 1] {
        let mut last = append(
            &store,
            "Product",
            "max",
            0,
            &[Restocked { amount: 1 }, Restocked { amount: 1 }],
        );
        last.expected = expected;
        // The last version there is: only the event after it has none.
        last.events[0].version = u64::MAX;
        let err = store
            .commit(commit(vec![one("Product", "a"), last]))
            .await
            .expect_err("a version past u64::MAX");
        assert!(
            matches!(&err, Error::Store(e) if !e.is_retryable())
                && err.to_string().contains("Product \"max\"")
                && err.to_string().contains("u64::MAX"),
            "expected {expected}: got {err:?}"
        );
    }

    // Idempotency keys are checked like ids, by lookups and commits alike.
    for key in [String::new(), "k".repeat(1025)] {
        let err = store.command(&key).await.expect_err("an invalid key");
        assert!(
            matches!(
                err,
                Error::InvalidKey { ref key, .. } if key.len() <= 64
            ),
            "command() of a {}-byte key: got {err:?}",
            key.len()
        );
        let mut with_record = commit(vec![one("Product", "a")]);
        with_record.command = Some(es_core::store::CommandRecord {
            key: key.clone(),
            outcome: vec![("Product".into(), "a".into(), 1)],
            expires_at: es_core::store::now_secs() + 60,
        });
        let err = store.commit(with_record).await.expect_err("an invalid key");
        assert!(
            matches!(
                err,
                Error::InvalidKey { ref key, .. } if key.len() <= 64
            ),
            "a commit with a {}-byte key: got {err:?}",
            key.len()
        );
    }

    // A valid append beside an oversized one: the whole commit is refused.
    let big = append(
        &store,
        "Product",
        "b",
        0,
        &[Noted {
            text: "x".repeat(MAX_ITEM_BYTES),
        }],
    );
    let err = store
        .commit(commit(vec![one("Product", "a"), big]))
        .await
        .expect_err("an item over 400 KB");
    assert!(
        matches!(err, Error::TooLarge { limit: Limit::ItemBytes, ref id, .. } if id == "b"),
        "the error names the aggregate with the big item: {err:?}"
    );

    assert_nothing_was_sent(&store).await;
}

/// The item es would write for `Noted { text }` at version 2 of `Product#big`.
fn noted_item(text: &str) -> Item {
    item([
        ("aggregateId", s("Product#big")),
        ("version", n(2)),
        ("type", s("Noted")),
        ("timestamp", s(&es_core::store::now())),
        ("payload", m([("text", s(text))])),
    ])
}

#[tokio::test]
async fn the_400_kb_limit_is_dynamodbs_to_the_byte() {
    if skip_without_dynamodb() {
        return;
    }
    let store = store_on_new_table("limits-exact").await;
    let overhead = es_dynamo::item_size(&noted_item(""));
    let fits = MAX_ITEM_BYTES - overhead;
    assert_eq!(
        es_dynamo::item_size(&noted_item(&"x".repeat(fits))),
        MAX_ITEM_BYTES
    );

    // es refuses one byte more, and says how big it was.
    let err = store
        .commit(Commit {
            appends: vec![append(
                &store,
                "Product",
                "big",
                1,
                &[Noted {
                    text: "x".repeat(fits + 1),
                }],
            )],
            command: None,
            exact_conflict: true,
        })
        .await
        .expect_err("400 KB + 1");
    assert!(
        matches!(
            err,
            Error::TooLarge {
                limit: Limit::ItemBytes,
                actual: 409_601,
                ..
            }
        ),
        "got {err:?}"
    );
    assert_eq!(store.stats().snapshot().requests, 0);

    // DynamoDB agrees: it takes exactly 400 KB from es...
    store
        .commit(Commit {
            appends: vec![append(
                &store,
                "Product",
                "big",
                1,
                &[Noted {
                    text: "x".repeat(fits),
                }],
            )],
            command: None,
            exact_conflict: true,
        })
        .await
        .expect("exactly 400 KB is written");
    let stored = get(&store, "Product#big", 2).await.expect("stored");
    assert_eq!(es_dynamo::item_size(&stored), MAX_ITEM_BYTES);

    // ...and refuses the byte more itself, when sent around es.
    let refused = store
        .client()
        .put_item()
        .table_name(store.table())
        .set_item(Some(noted_item(&"x".repeat(fits + 1))))
        .send()
        .await
        .expect_err("DynamoDB refuses 400 KB + 1");
    let text = format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(&refused));
    assert!(text.contains("size"), "{text}");
}
