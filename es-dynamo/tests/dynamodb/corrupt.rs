//! Items es cannot decode give `Error::Corrupt` naming the item, never a panic.

use crate::common::*;
use aws_sdk_dynamodb::types::AttributeValue;
use es_core::conformance::model::*;
use es_core::{AggregateExt, Error, EventStore};
use es_dynamo::testing::{skip_without_dynamodb, store_on_new_table};
use futures::StreamExt;

const T: &str = "2026-01-01T00:00:00.000Z";

/// Spoils one attribute of a good item.
type Spoil = fn(&mut Item);

fn restocked(key: &str, version: u64) -> Item {
    item([
        ("aggregateId", s(key)),
        ("version", n(version)),
        ("type", s("Restocked")),
        ("timestamp", s(T)),
        ("payload", m([("amount", n(1))])),
    ])
}

#[tokio::test]
async fn mistyped_or_missing_attributes_are_corrupt_and_named() {
    if skip_without_dynamodb() {
        return;
    }
    let store = store_on_new_table("corrupt").await;
    // `version` cannot be mistyped on a real table: it is the N sort key, so
    // DynamoDB itself refuses an item with version as S.
    let refused = store
        .client()
        .put_item()
        .table_name(store.table())
        .set_item(Some(item([
            ("aggregateId", s("Product#v")),
            ("version", s("1")),
        ])))
        .send()
        .await;
    assert!(refused.is_err(), "DynamoDB enforces the key's type");

    let cases: [(&str, Spoil, &str); 8] = [
        (
            "payload-s",
            |i| {
                i.insert("payload".into(), s("{\"amount\":1}"));
            },
            "payload of Restocked",
        ),
        (
            "type-n",
            |i| {
                i.insert("type".into(), n(7));
            },
            "`type` is N, not S",
        ),
        (
            "no-type",
            |i| {
                i.remove("type");
            },
            "`type` is missing",
        ),
        (
            "no-timestamp",
            |i| {
                i.remove("timestamp");
            },
            "`timestamp` is missing",
        ),
        (
            "schema-s",
            |i| {
                i.insert("schema".into(), s("2"));
            },
            "`schema` is S, not N",
        ),
        (
            "schema-big",
            |i| {
                i.insert("schema".into(), n(2));
            },
            "schema 2",
        ),
        (
            "metadata-n",
            |i| {
                i.insert("metadata".into(), n(1));
            },
            "metadata",
        ),
        (
            "amount-s",
            |i| {
                i.insert("payload".into(), m([("amount", s("one"))]));
            },
            // The field and what was found, as MemoryStore says it.
            "payload of Restocked: field `amount`: invalid type: string \"one\", expected u32",
        ),
    ];
    for (id, spoil, reason_part) in cases {
        let key = format!("Product#{id}");
        put(&store, restocked(&key, 1)).await;
        let mut bad = restocked(&key, 2);
        spoil(&mut bad);
        put(&store, bad).await;
        let err = Product::load(&store, id).await.expect_err("a corrupt item");
        match err {
            Error::Corrupt {
                aggregate,
                id: corrupt_id,
                version,
                reason,
            } => {
                assert_eq!(
                    (aggregate.as_ref(), corrupt_id.as_str(), version),
                    ("Product", id, 2),
                    "{id}: {reason}"
                );
                assert!(
                    reason.contains(reason_part),
                    "{id}: {reason:?} should say {reason_part:?}"
                );
            }
            other => panic!("{id}: expected Corrupt, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_unusable_snapshot_falls_back_to_the_events() {
    if skip_without_dynamodb() {
        return;
    }
    let store = store_on_new_table("corrupt-snap").await;
    let mut counter = Counter::load(&store, "c").await.expect("load");
    for n in 1..=5 {
        counter.commit(Added { n }).await.expect("commit");
    }
    // Spoil the snapshot at version 4 in two ways: a state that does not
    // decode, and a snapshot without its schema.
    store
        .client()
        .update_item()
        .table_name(store.table())
        .key("aggregateId", s("Counter#c"))
        .key("version", n(4))
        .update_expression("SET #s = :s")
        .expression_attribute_names("#s", "snapshot")
        .expression_attribute_values(":s", s("garbage"))
        .send()
        .await
        .expect("update");
    let loaded = Counter::load(&store, "c").await.expect("load falls back");
    assert_eq!(
        loaded.state(),
        &Counter {
            total: 15,
            applied: 5
        }
    );
    store
        .client()
        .update_item()
        .table_name(store.table())
        .key("aggregateId", s("Counter#c"))
        .key("version", n(4))
        .update_expression("REMOVE #s")
        .expression_attribute_names("#s", "snapshotSchema")
        .send()
        .await
        .expect("update");
    let loaded = Counter::load(&store, "c").await.expect("load falls back");
    assert_eq!(
        loaded.state(),
        &Counter {
            total: 15,
            applied: 5
        }
    );
}

#[tokio::test]
async fn corrupt_index_and_command_items_are_named_too() {
    if skip_without_dynamodb() {
        return;
    }
    let store = store_on_new_table("corrupt-other").await;
    // In Product's index partition, a key that is not Product's.
    put(
        &store,
        item([
            ("aggregateId", s("Other#x")),
            ("version", n(1)),
            ("type", s("Restocked")),
            ("timestamp", s(T)),
            ("eventStoreId", s("Product")),
        ]),
    )
    .await;
    let err = store
        .list_ids("Product", None, None)
        .await
        .expect_err("a foreign key");
    assert!(
        matches!(&err, Error::Corrupt { aggregate, id, .. } if aggregate.is_empty() && id == "Other#x"),
        "got {err:?}"
    );

    put(
        &store,
        item([
            ("aggregateId", s("$command#k")),
            ("version", n(0)),
            ("outcome", s("nope")),
            ("expiresAt", n(4_000_000_000u64)),
        ]),
    )
    .await;
    let err = store.command("k").await.expect_err("a bad outcome");
    assert!(
        matches!(&err, Error::Corrupt { aggregate, id, version: 0, reason } if aggregate == "$command" && id == "k" && reason.contains("outcome")),
        "got {err:?}"
    );
    put(
        &store,
        item([
            ("aggregateId", s("$command#j")),
            ("version", n(0)),
            (
                "outcome",
                AttributeValue::L(vec![m([("aggregate", s("Product"))])]),
            ),
            ("expiresAt", n(4_000_000_000u64)),
        ]),
    )
    .await;
    assert!(matches!(
        store.command("j").await,
        Err(Error::Corrupt { .. })
    ));
}

/// An item at version 0 or below in an aggregate's partition is no event:
/// the query of a whole history reads it, and the load fails on it rather
/// than loading the state of the other items alone. es's own command records
/// at version 0 (under `$command#` keys) keep working in both layouts.
#[tokio::test]
async fn version_zero_item_is_corrupt() {
    if skip_without_dynamodb() {
        return;
    }
    let store = store_on_new_table("corrupt-v0").await;
    for (id, version) in [("zero", "0"), ("minus", "-1")] {
        let key = format!("Product#{id}");
        let mut p = Product::load(&store, id).await.expect("load");
        p.commit(Restocked { amount: 5 }).await.expect("restock");
        p.commit(Restocked { amount: 2 }).await.expect("restock");
        let mut stray = restocked(&key, 1);
        stray.insert("version".into(), n(version));
        put(&store, stray).await;
        let expected = es_core::store::below_first_version(version);
        let err = Product::load(&store, id)
            .await
            .expect_err("a version-0 item");
        assert!(
            matches!(&err, Error::Corrupt { aggregate, id: corrupt_id, version: 0, reason } if aggregate == "Product" && corrupt_id == id && *reason == expected),
            "{id}: {err:?}"
        );
        // A history reads the same items, and names the same one.
        let history: Vec<_> = p.history().collect().await;
        assert!(
            history
                .iter()
                .any(|e| matches!(e, Err(Error::Corrupt { reason, .. }) if *reason == expected)),
            "{id}: {history:?}"
        );
    }
    // An aggregate with snapshots whose whole history fits in its newest
    // page (fewer than `SNAPSHOT_EVERY` events) reads the stray item too.
    let mut c = Counter::load(&store, "c").await.expect("load");
    c.commit(Added { n: 1 }).await.expect("add");
    let mut stray = restocked("Counter#c", 1);
    stray.insert("version".into(), n(0));
    stray.insert("type".into(), s("Added"));
    stray.insert("payload".into(), m([("n", n(100))]));
    put(&store, stray).await;
    let err = Counter::load(&store, "c")
        .await
        .expect_err("a version-0 item");
    assert!(
        matches!(&err, Error::Corrupt { aggregate, id, version: 0, reason } if aggregate == "Counter" && id == "c" && *reason == es_core::store::below_first_version(0)),
        "{err:?}"
    );

    // Command records: in the single-table layout under their own key; in
    // the table-per-aggregate layout the key `$command#k` may also be an
    // aggregate's id, whose partition then holds the record at version 0
    // beside its events, and still loads.
    for store in [
        store,
        es_dynamo::testing::legacy_store_on_new_table("corrupt-v0-legacy").await,
    ] {
        let done = Product::command(&store, "$command#k")
            .idempotency_key("k")
            .execute(|_| Ok::<_, ProductError>(Restocked { amount: 3 }))
            .await
            .expect("an idempotent command");
        assert_eq!((done.version, done.duplicate), (1, false));
        let again = Product::command(&store, "$command#k")
            .idempotency_key("k")
            .execute(|_| Ok::<_, ProductError>(Restocked { amount: 3 }))
            .await
            .expect("its repeat");
        assert_eq!((again.version, again.duplicate), (1, true));
        let loaded = Product::load(&store, "$command#k").await.expect("load");
        assert_eq!((loaded.version(), loaded.on_hand), (1, 3));
        assert!(store.command("k").await.expect("record").is_some());
    }
}
