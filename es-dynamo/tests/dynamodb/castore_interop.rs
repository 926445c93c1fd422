//! castore itself, the TypeScript library, shares tables with es: each reads
//! what the other wrote, lists the other's aggregates, and a version one of
//! them took is a conflict for the other. `castore.rs` checks the same layout
//! against items written by hand; this runs castore's own adapters
//! (`interop/castore/castore.mjs`, in Node) on the tables these tests make.
//!
//! `scripts/test.sh` installs castore (`npm ci` in `interop/castore`) and sets
//! `ES_CASTORE=1`, which makes a missing install a failure, not a skip.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use es_core::conformance::model::*;
use es_core::{AggregateExt, Error, EventSet, EventStore, Metadata, Root};
use es_dynamo::testing::{legacy_store_on_new_table, skip_without_dynamodb, store_on_new_table};
use es_dynamo::{DynamoStore, Layout};
use futures::TryStreamExt;
use serde_json::{json, Value};

fn driver() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop/castore")
}

/// Whether castore can run here; when it cannot, says why on stderr, or
/// fails when `ES_CASTORE=1` says it must.
fn skip_without_castore() -> bool {
    if skip_without_dynamodb() {
        return true;
    }
    let installed = driver().join("node_modules/@castore/core").is_dir();
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if installed && node {
        return false;
    }
    let why = if node {
        "castore is not installed: run `npm ci` in interop/castore (scripts/test.sh does)"
    } else {
        "Node.js is not installed (castore runs on it)"
    };
    if std::env::var("ES_CASTORE").is_ok_and(|v| v == "1") {
        panic!("ES_CASTORE=1 requires castore, but {why}");
    }
    let _ = writeln!(std::io::stderr(), "skipped: castore interop: {why}");
    true
}

/// Runs one request through castore on `store`'s table, as castore's
/// `Product` event store, and returns its answer: `Ok` with castore's
/// result, or `Err` with castore's error (`name`, `code`, `message`).
fn castore(store: &DynamoStore, mut request: Value) -> Result<Value, Value> {
    request["table"] = json!(store.table());
    if request.get("eventStoreId").is_none() {
        request["eventStoreId"] = json!("Product");
    }
    request["layout"] = json!(match store.layout() {
        Layout::SingleTable => "single",
        Layout::TablePerAggregate => "legacy",
        other => panic!("castore has no adapter for {other:?}"),
    });
    let mut child = Command::new("node")
        .arg("castore.mjs")
        .current_dir(driver())
        // The AWS SDK for JavaScript warns on every start about Node versions
        // it will drop in future releases; the pinned one runs on this Node.
        .env("NODE_NO_WARNINGS", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start node");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(request.to_string().as_bytes())
        .expect("write the request");
    let out = child.wait_with_output().expect("run node");
    assert!(out.status.success(), "castore.mjs failed on {request}");
    let mut answer: Value = serde_json::from_slice(&out.stdout).expect("a JSON answer");
    match answer.get_mut("ok") {
        Some(ok) => Ok(ok.take()),
        None => Err(answer["error"].take()),
    }
}

fn push(store: &DynamoStore, events: Value) -> Result<Value, Value> {
    castore(store, json!({ "op": "push", "events": events }))
}

/// castore's `getAggregate`: its own reducer's state, and the events.
fn castore_get(store: &DynamoStore, id: &str) -> (Value, Vec<Value>) {
    let mut answer = castore(store, json!({ "op": "get", "aggregateId": id }))
        .unwrap_or_else(|e| panic!("castore getAggregate({id}): {e}"));
    let events = answer["events"].as_array().cloned().expect("events");
    (answer["aggregate"].take(), events)
}

/// castore's `listAggregateIds`, one id a page, through every page.
fn castore_ids(store: &DynamoStore) -> Vec<String> {
    let ids = castore(store, json!({ "op": "list", "limit": 1 })).expect("listAggregateIds");
    serde_json::from_value(ids).expect("ids")
}

async fn es_ids(store: &DynamoStore) -> Vec<String> {
    Product::ids(store).try_collect().await.expect("list_ids")
}

/// es writes single events, a batch, an event without a payload and
/// metadata; castore folds the same state from them and lists the id.
async fn castore_reads_what_es_wrote(store: DynamoStore) {
    let mut product = Root::<Product, _>::new(&store, "sku-1").with_metadata(Metadata {
        correlation_id: Some("corr-1".into()),
        ..Metadata::default()
    });
    product
        .commit(Restocked { amount: 10 })
        .await
        .expect("restock");
    Product::execute(&store, "sku-1", |p| p.reserve("c1", 3))
        .await
        .expect("reserve");
    let mut product = Product::load(&store, "sku-1").await.expect("load");
    product
        .commit_all(vec![
            ProductEvent::from(Noted {
                text: "é 🚀".into(),
            }),
            ProductEvent::from(Discontinued),
        ])
        .await
        .expect("a batch");

    let (aggregate, events) = castore_get(&store, "sku-1");
    assert_eq!(
        aggregate,
        json!({ "aggregateId": "sku-1", "version": 4, "on_hand": 7, "notes": 1, "discontinued": true })
    );
    let es_history: Vec<_> = product.history().try_collect().await.expect("history");
    let seen: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e["version"].clone(),
                e["type"].clone(),
                e["timestamp"].clone(),
            )
        })
        .collect();
    let written: Vec<_> = es_history
        .iter()
        .map(|r| (json!(r.version), json!(r.event.name()), json!(r.timestamp)))
        .collect();
    assert_eq!(
        seen, written,
        "castore sees es's versions, types and timestamps"
    );
    assert_eq!(
        events[0]["aggregateId"], "sku-1",
        "castore strips its own prefix"
    );
    assert_eq!(events[0]["payload"], json!({ "amount": 10 }));
    assert_eq!(events[0]["metadata"], json!({ "correlationId": "corr-1" }));
    assert_eq!(
        events[1]["payload"],
        json!({ "cart_id": "c1", "quantity": 3 })
    );
    assert_eq!(events[2]["payload"], json!({ "text": "é 🚀" }));
    assert_eq!(
        events[3].get("payload"),
        None,
        "no payload, as castore writes one"
    );

    Product::load(&store, "sku-2")
        .await
        .expect("load")
        .commit(Restocked { amount: 1 })
        .await
        .expect("a second product");
    assert_eq!(
        castore_ids(&store),
        ["sku-1", "sku-2"],
        "castore pages through es's ids"
    );
}

/// castore pushes events, one at a time and as a group across aggregates; es
/// folds the same state, lists the ids, and appends after castore.
async fn es_reads_what_castore_wrote(store: DynamoStore) {
    push(
        &store,
        json!([
            { "aggregateId": "sku-1", "version": 1, "type": "Restocked", "payload": { "amount": 10 },
              "metadata": { "correlationId": "corr-1", "attempt": 2 } },
            { "aggregateId": "sku-1", "version": 2, "type": "Reserved",
              "payload": { "cart_id": "c1", "quantity": 4 } },
            { "aggregateId": "sku-1", "version": 3, "type": "Noted", "payload": { "text": "🚀" } },
        ]),
    )
    .expect("castore pushEvent");
    castore(
        &store,
        json!({ "op": "pushGroup", "events": [
            { "aggregateId": "sku-2", "version": 1, "type": "Restocked", "payload": { "amount": 2 } },
            { "aggregateId": "sku-3", "version": 1, "type": "Discontinued" },
        ]}),
    )
    .expect("castore pushEventGroup");

    let mut product = Product::load(&store, "sku-1").await.expect("load");
    assert_eq!(product.version(), 3);
    assert_eq!(
        *product,
        Product {
            on_hand: 6,
            notes: 1,
            discontinued: false
        }
    );
    let history: Vec<_> = product.history().try_collect().await.expect("history");
    assert_eq!(
        history[0].metadata.correlation_id.as_deref(),
        Some("corr-1"),
        "castore's metadata"
    );
    assert_eq!(history[0].metadata.extra["attempt"], json!(2));
    assert!(
        Product::load(&store, "sku-3")
            .await
            .expect("load")
            .discontinued
    );
    // sku-2 and sku-3 were pushed in one group, and may share a timestamp,
    // the index's sort key: their order is not defined.
    let mut ids = es_ids(&store).await;
    ids.sort();
    assert_eq!(ids, ["sku-1", "sku-2", "sku-3"]);

    product
        .commit(Reserved {
            cart_id: "c2".into(),
            quantity: 1,
        })
        .await
        .expect("es appends");
    let (aggregate, events) = castore_get(&store, "sku-1");
    assert_eq!(aggregate["on_hand"], 5);
    assert_eq!(aggregate["version"], 4);
    assert_eq!(events.len(), 4);
}

/// A version either library took is taken for the other: es gets `Conflict`
/// with the actual version, castore its `EventAlreadyExistsError`.
async fn a_version_taken_by_one_conflicts_for_the_other(store: DynamoStore) {
    let mut product = Root::<Product, _>::new(&store, "sku-1");
    product
        .commit(Restocked { amount: 5 })
        .await
        .expect("restock");

    push(&store, json!([{ "aggregateId": "sku-1", "version": 2, "type": "Noted", "payload": { "text": "castore" } }]))
        .expect("castore appends at 2");
    match product.commit(Restocked { amount: 1 }).await {
        Err(Error::Conflict {
            actual, expected, ..
        }) => {
            assert_eq!((expected, actual), (1, 2));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    product.hydrate().await.expect("catch up");
    product
        .commit(Restocked { amount: 1 })
        .await
        .expect("es appends at 3");

    let error = push(
        &store,
        json!([{ "aggregateId": "sku-1", "version": 3, "type": "Noted", "payload": { "text": "late" } }]),
    )
    .expect_err("castore at a version es took");
    assert_eq!(error["code"], "EventAlreadyExistsError", "{error}");
    let (aggregate, _) = castore_get(&store, "sku-1");
    assert_eq!(aggregate["on_hand"], 6, "nothing was overwritten");
    assert_eq!(product.version(), 3);
}

/// A customer whose email is personal data, sealed in the table.
mod customer {
    use es::prelude::*;
    use serde::{Deserialize, Serialize};

    #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Registered {
        #[subject]
        pub customer: String,
        #[personal(placeholder = "[erased]")]
        pub email: String,
        pub plan: String,
    }

    #[derive(Aggregate, Serialize, Deserialize, Clone, Debug, Default)]
    #[aggregate(name = "Customer")]
    pub struct Customer {
        pub email: String,
        pub plan: String,
    }

    #[es::handlers]
    impl Customer {
        #[on(Registered)]
        fn registered(&mut self, e: &Registered) {
            self.email = e.email.clone();
            self.plan = e.plan.clone();
        }
    }
}

/// castore's own adapter loads an aggregate whose events es sealed: it
/// folds the personal field as the opaque string it is, and the other
/// fields as they are; forgetting the customer changes nothing for it (the
/// ciphertext stays), while es reads the placeholder.
async fn castore_reads_an_encrypted_event_as_opaque(store: DynamoStore) {
    use customer::*;
    // Test stores seal with an in-memory vault of their own.
    let mut root = Customer::load(&store, "cust-1").await.expect("load");
    root.commit(Registered {
        customer: "cust-1".into(),
        email: "ada@example.com".into(),
        plan: "pro".into(),
    })
    .await
    .expect("commit");

    let get = || {
        castore(
            &store,
            json!({ "op": "get", "aggregateId": "cust-1", "eventStoreId": "Customer" }),
        )
        .unwrap_or_else(|e| panic!("castore getAggregate: {e}"))
    };
    let answer = get();
    let aggregate = &answer["aggregate"];
    assert_eq!(aggregate["version"], 1, "{answer}");
    assert_eq!(aggregate["plan"], "pro", "{answer}");
    let email = aggregate["email"].as_str().expect("a string");
    assert!(
        email.starts_with("es1.") && !email.contains("example"),
        "{email}"
    );
    let payload = &answer["events"][0]["payload"];
    assert_eq!(payload["customer"], "cust-1", "{answer}");
    assert_eq!(payload["email"], email, "{answer}");

    store
        .vault()
        .expect("a vault")
        .forget("cust-1")
        .await
        .expect("forget");
    assert_eq!(get()["aggregate"]["email"], email, "castore still loads it");
    let customer = Customer::load(&store, "cust-1").await.expect("es loads it");
    assert_eq!(
        (customer.email.as_str(), customer.plan.as_str()),
        ("[erased]", "pro")
    );
}

/// Each check as a test in each layout: `single_table::check` and
/// `legacy::check`.
macro_rules! in_both_layouts {
    ($($check:ident),* $(,)?) => {
        in_both_layouts!(@layout single_table, store_on_new_table, $($check),*);
        in_both_layouts!(@layout legacy, legacy_store_on_new_table, $($check),*);
    };
    (@layout $layout:ident, $new_store:ident, $($check:ident),*) => {
        mod $layout {
            $(
                #[tokio::test]
                async fn $check() {
                    if super::skip_without_castore() {
                        return;
                    }
                    super::$check(super::$new_store("castore-js").await).await;
                }
            )*
        }
    };
}

in_both_layouts!(
    castore_reads_what_es_wrote,
    es_reads_what_castore_wrote,
    a_version_taken_by_one_conflicts_for_the_other,
    castore_reads_an_encrypted_event_as_opaque,
);
