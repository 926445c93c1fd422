//! Ids are values, never expression text: ids full of DynamoDB expression
//! syntax, quotes and emoji round-trip through every operation.

use es_core::conformance::model::*;
use es_core::{AggregateExt, Error, Root};
use es_dynamo::testing::{legacy_store_on_new_table, skip_without_dynamodb, store_on_new_table};
use es_dynamo::DynamoStore;
use futures::TryStreamExt;

const ODD: &[&str] = &[
    "a#b",
    "#",
    "x:y",
    ":after",
    ":k",
    "#v",
    "#k = :k",
    "attribute_not_exists(version)",
    ") OR (1 = 1",
    "it's",
    "say \"hi\"",
    "with space",
    " leading and trailing ",
    "🛒 cart ✓",
    "$command#x",
    "Product#nested",
    "tab\tand\nnewline",
    "\\backslash",
];

async fn every_odd_id_round_trips(store: &DynamoStore) {
    let long = "é".repeat(512);
    let ids: Vec<&str> = ODD.iter().copied().chain([long.as_str()]).collect();
    for id in &ids {
        let mut p = Product::load(store, *id)
            .await
            .expect("load a new aggregate");
        assert_eq!(p.version(), 0, "{id:?} starts empty");
        p.commit(Restocked { amount: 3 }).await.expect("commit");
        p.commit_all([Restocked { amount: 1 }, Restocked { amount: 1 }])
            .await
            .expect("commit_all");
        let loaded = Product::load(store, *id).await.expect("load");
        assert_eq!(
            (loaded.id(), loaded.version(), loaded.on_hand),
            (*id, 3, 5),
            "{id:?}"
        );
        let history: Vec<_> = loaded.history().try_collect().await.expect("history");
        assert_eq!(history.len(), 3, "{id:?}");
        // The conflict path queries the latest version by key, too.
        let err = Root::<Product, _>::new(store, *id)
            .commit(Restocked { amount: 1 })
            .await
            .expect_err("stale");
        assert!(
            matches!(err, Error::Conflict { actual: 3, .. }),
            "{id:?}: got {err:?}"
        );
    }
    let mut listed: Vec<String> = Product::ids(store).try_collect().await.expect("ids");
    listed.sort();
    let mut expected: Vec<String> = ids.iter().map(|id| (*id).to_owned()).collect();
    expected.sort();
    assert_eq!(listed, expected, "every id is listed exactly as written");
    assert_eq!(
        Product::load(store, "a").await.expect("load").version(),
        0,
        "no id is a prefix match"
    );
}

#[tokio::test]
async fn odd_ids_round_trip_in_the_single_table_layout() {
    if skip_without_dynamodb() {
        return;
    }
    every_odd_id_round_trips(&store_on_new_table("odd").await).await;
}

#[tokio::test]
async fn odd_ids_round_trip_in_the_legacy_layout() {
    if skip_without_dynamodb() {
        return;
    }
    every_odd_id_round_trips(&legacy_store_on_new_table("odd-legacy").await).await;
}

#[tokio::test]
async fn id_pages_resume_after_odd_ids() {
    if skip_without_dynamodb() {
        return;
    }
    let store = store_on_new_table("odd-pages").await;
    for id in ODD {
        Product::load(&store, *id)
            .await
            .expect("load")
            .commit(Restocked { amount: 1 })
            .await
            .expect("commit");
    }
    let mut listed = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = es_core::EventStore::list_ids(&store, "Product", Some(1), cursor)
            .await
            .expect("list_ids");
        pages += 1;
        listed.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert!(pages >= ODD.len(), "one id per page");
    assert_eq!(
        listed, ODD,
        "oldest first, each once, across cursors holding odd ids"
    );
}
