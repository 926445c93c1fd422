//! Items written the way castore writes them load through es, in both of
//! castore's layouts.
//!
//! The items below are what castore's adapters put (see docs/dynamodb.md for
//! the source verified): `marshall({aggregateId, version, type, timestamp,
//! payload?, metadata?, eventStoreId | isInitialEvent on version 1})` with
//! `removeUndefinedValues`, so there is no `schema` and no `snapshot`, and no
//! `payload` when the event has none.

use crate::common::*;
use es_core::conformance::model::*;
use es_core::store::{Direction, ReadRequest};
use es_core::{AggregateExt, Error, EventStore, Root};
use es_dynamo::testing::{legacy_store_on_new_table, skip_without_dynamodb, store_on_new_table};
use futures::TryStreamExt;

const T1: &str = "2022-01-01T00:00:00.000Z";
const T2: &str = "2022-01-02T00:00:00.000Z";
const T3: &str = "2022-01-03T00:00:00.000Z";

#[tokio::test]
async fn events_castore_wrote_in_the_single_table_layout_load() {
    if skip_without_dynamodb() {
        return;
    }
    let store = store_on_new_table("castore").await;
    put(
        &store,
        item([
            ("aggregateId", s("Product#sku-1")),
            ("version", n(1)),
            ("type", s("Restocked")),
            ("timestamp", s(T1)),
            ("payload", m([("amount", n(10))])),
            ("eventStoreId", s("Product")),
        ]),
    )
    .await;
    put(
        &store,
        item([
            ("aggregateId", s("Product#sku-1")),
            ("version", n(2)),
            ("type", s("Reserved")),
            ("timestamp", s(T2)),
            ("payload", m([("cart_id", s("c1")), ("quantity", n(3))])),
            (
                "metadata",
                m([
                    ("correlationId", s("corr-1")),
                    ("trigger", s("checkout")),
                    ("attempt", n(2)),
                    ("user", m([("id", s("u1"))])),
                ]),
            ),
        ]),
    )
    .await;
    // No payload at all: castore's shape for an event without fields.
    put(
        &store,
        item([
            ("aggregateId", s("Product#sku-1")),
            ("version", n(3)),
            ("type", s("Discontinued")),
            ("timestamp", s(T3)),
        ]),
    )
    .await;

    let product = Product::load(&store, "sku-1").await.expect("load");
    assert_eq!(product.version(), 3);
    assert_eq!(
        product.state(),
        &Product {
            on_hand: 7,
            notes: 0,
            discontinued: true
        }
    );
    let history: Vec<_> = product.history().try_collect().await.expect("history");
    assert_eq!(
        history[0].timestamp, T1,
        "the timestamp is read as castore wrote it"
    );
    assert_eq!(
        history[1].metadata.correlation_id.as_deref(),
        Some("corr-1")
    );
    assert_eq!(
        history[1].metadata.extra.get("trigger"),
        Some(&serde_json::json!("checkout"))
    );
    assert_eq!(
        history[1].metadata.extra.get("attempt"),
        Some(&serde_json::json!(2)),
        "castore metadata may hold numbers"
    );
    assert_eq!(
        history[1].metadata.extra.get("user"),
        Some(&serde_json::json!({ "id": "u1" })),
        "and nested maps"
    );
    assert!(matches!(history[2].event, ProductEvent::Discontinued(_)));

    let stored = store
        .read(ReadRequest {
            aggregate: "Product",
            id: "sku-1",
            after: 0,
            until: None,
            direction: Direction::Forward,
            limit: None,
            cursor: None,
        })
        .await
        .expect("read");
    assert!(
        stored
            .items
            .iter()
            .all(|e| e.schema == 1 && e.snapshot.is_none()),
        "no `schema` reads as schema 1"
    );

    let ids = store
        .list_ids("Product", None, None)
        .await
        .expect("list_ids");
    assert_eq!(
        ids.items,
        ["sku-1"],
        "castore's initial event is in the index"
    );

    // es appends after castore's events as castore would.
    let mut more = Product::load(&store, "sku-2").await.expect("load");
    more.commit(Restocked { amount: 1 }).await.expect("commit");
    let ids = store
        .list_ids("Product", None, None)
        .await
        .expect("list_ids");
    assert_eq!(
        ids.items,
        ["sku-1", "sku-2"],
        "oldest first by initial timestamp"
    );
}

#[tokio::test]
async fn an_empty_payload_map_reads_as_no_payload() {
    if skip_without_dynamodb() {
        return;
    }
    let store = store_on_new_table("castore-empty").await;
    put(
        &store,
        item([
            ("aggregateId", s("Product#sku-1")),
            ("version", n(1)),
            ("type", s("Discontinued")),
            ("timestamp", s(T1)),
            ("payload", m([])),
            ("eventStoreId", s("Product")),
        ]),
    )
    .await;
    let product = Product::load(&store, "sku-1").await.expect("load");
    assert!(product.discontinued);
}

#[tokio::test]
async fn events_castore_wrote_in_the_legacy_layout_load() {
    if skip_without_dynamodb() {
        return;
    }
    let store = legacy_store_on_new_table("castore-legacy").await;
    put(
        &store,
        item([
            ("aggregateId", s("sku-1")),
            ("version", n(1)),
            ("type", s("Restocked")),
            ("timestamp", s(T1)),
            ("payload", m([("amount", n(4))])),
            ("isInitialEvent", n(1)),
        ]),
    )
    .await;
    put(
        &store,
        item([
            ("aggregateId", s("sku-1")),
            ("version", n(2)),
            ("type", s("Reserved")),
            ("timestamp", s(T2)),
            ("payload", m([("cart_id", s("c1")), ("quantity", n(1))])),
            ("metadata", m([("causationId", s("cause-1"))])),
        ]),
    )
    .await;
    let mut product = Product::load(&store, "sku-1").await.expect("load");
    assert_eq!((product.version(), product.on_hand), (2, 3));
    product
        .commit(Restocked { amount: 2 })
        .await
        .expect("es appends after castore");
    let third = get(&store, "sku-1", 3).await.expect("version 3");
    assert_eq!(
        names(&third),
        ["aggregateId", "payload", "timestamp", "type", "version"],
        "the bare id is the key"
    );
    assert_eq!(
        store
            .list_ids("Product", None, None)
            .await
            .expect("list_ids")
            .items,
        ["sku-1"]
    );
}

#[tokio::test]
async fn the_legacy_layout_commits_loads_and_lists_on_a_legacy_table() {
    if skip_without_dynamodb() {
        return;
    }
    let store = legacy_store_on_new_table("legacy").await;
    for (n, id) in ["a#1", "b:2", "c 3"].iter().enumerate() {
        let mut product = Product::load(&store, *id).await.expect("load");
        product
            .commit(Restocked { amount: 5 })
            .await
            .expect("commit");
        product
            .commit_all([
                Restocked { amount: 1 },
                Restocked {
                    amount: n as u32 + 1,
                },
            ])
            .await
            .expect("commit_all");
    }
    let first = get(&store, "a#1", 1).await.expect("version 1");
    assert_eq!(
        names(&first),
        [
            "aggregateId",
            "isInitialEvent",
            "payload",
            "timestamp",
            "type",
            "version"
        ]
    );
    assert_eq!(first["isInitialEvent"], n(1));
    let second = get(&store, "a#1", 2).await.expect("version 2");
    assert!(!second.contains_key("isInitialEvent"));

    let loaded = Product::load(&store, "c 3").await.expect("load");
    assert_eq!((loaded.version(), loaded.on_hand), (3, 9));

    let mut listed = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list_ids("Product", Some(2), cursor)
            .await
            .expect("list_ids");
        listed.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(listed, ["a#1", "b:2", "c 3"]);
    let all: Vec<Root<Product, _>> = Product::find_all(&store)
        .try_collect()
        .await
        .expect("find_all");
    assert_eq!(all.len(), 3);

    // A stale commit conflicts here too.
    let mut stale = Root::<Product, _>::new(&store, "a#1");
    let err = stale
        .commit(Restocked { amount: 1 })
        .await
        .expect_err("stale");
    assert!(
        matches!(
            err,
            Error::Conflict {
                expected: 0,
                actual: 3,
                ..
            }
        ),
        "got {err:?}"
    );
}

#[tokio::test]
async fn ensure_table_names_a_layout_mismatch() {
    if skip_without_dynamodb() {
        return;
    }
    let legacy = legacy_store_on_new_table("mismatch").await;
    legacy
        .ensure_table()
        .await
        .expect("the legacy table fits the legacy layout");
    let single = es_dynamo::DynamoStore::new(legacy.client().clone(), legacy.table());
    let err = single
        .ensure_table()
        .await
        .expect_err("a single-table store on a legacy table");
    let text = err.to_string();
    assert!(
        text.contains("isInitialEvent") && text.contains("eventStoreId"),
        "the error names both index keys: {text}"
    );
}

/// castore types its metadata ids as strings, but stores whatever a service
/// passes: a `correlationId` that is a number loads, is kept with its type,
/// and is written back as a number by a commit with the same metadata.
#[tokio::test]
async fn castore_numeric_correlation_id_loads() {
    if skip_without_dynamodb() {
        return;
    }
    let store = store_on_new_table("castore-meta").await;
    let metadata = m([
        ("correlationId", n(42)),
        (
            "causationId",
            aws_sdk_dynamodb::types::AttributeValue::Bool(true),
        ),
        ("commandId", s("cmd-1")),
    ]);
    put(
        &store,
        item([
            ("aggregateId", s("Product#sku-1")),
            ("version", n(1)),
            ("type", s("Restocked")),
            ("timestamp", s(T1)),
            ("payload", m([("amount", n(10))])),
            ("metadata", metadata.clone()),
            ("eventStoreId", s("Product")),
        ]),
    )
    .await;

    let product = Product::load(&store, "sku-1").await.expect("load");
    assert_eq!((product.version(), product.on_hand), (1, 10));
    let history: Vec<_> = product.history().try_collect().await.expect("history");
    let loaded = history[0].metadata.clone();
    assert_eq!(loaded.correlation_id, None, "not a string: kept in extra");
    assert_eq!(
        loaded.extra.get("correlationId"),
        Some(&serde_json::json!(42))
    );
    assert_eq!(
        loaded.extra.get("causationId"),
        Some(&serde_json::json!(true))
    );
    assert_eq!(loaded.command_id.as_deref(), Some("cmd-1"));

    let mut product = product.with_metadata(loaded);
    product
        .commit(Restocked { amount: 1 })
        .await
        .expect("commit with the same metadata");
    let written = get(&store, "Product#sku-1", 2).await.expect("version 2");
    assert_eq!(
        written.get("metadata"),
        Some(&metadata),
        "the values keep their DynamoDB types"
    );
}
