//! The Lambda entry point, on events in the JSON shape AWS documents for
//! DynamoDB Streams, parsed with `aws_lambda_events` as a function gets them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use aws_lambda_events::event::dynamodb::Event;
use es::dynamo::{lambda, Layout};
use es::prelude::*;

use crate::common::*;
use crate::shop::*;
use crate::views::{ShopViews, Shown};

/// Records what reached it, with the envelope, as one line per event.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Recorder {
    fn push(&self, at: &Envelope, what: String) {
        let meta = &at.metadata;
        self.0.lock().expect("lock").push(format!(
            "{} {} v{} at {} {what} (correlation {:?}, causation {:?})",
            at.aggregate, at.id, at.version, at.timestamp, meta.correlation_id, meta.causation_id
        ));
    }
}

#[es::projection]
impl Recorder {
    #[on(ProductRestocked)]
    async fn restocked(&self, e: &ProductRestocked, at: &Envelope) {
        self.push(at, format!("{e:?}"));
    }
    #[on(ProductReserved)]
    async fn reserved(&self, e: &ProductReserved, at: &Envelope) {
        self.push(at, format!("{e:?}"));
    }
    #[on(ItemAdded)]
    async fn added(&self, e: &ItemAdded, at: &Envelope) {
        self.push(at, format!("{e:?}"));
    }
    #[on(CartCheckedOut)]
    async fn checked_out(&self, e: &CartCheckedOut, at: &Envelope) {
        self.push(at, format!("{e:?}"));
    }
}

fn fixture() -> Event {
    serde_json::from_str(include_str!("fixtures/stream-event.json")).expect("the AWS event shape")
}

#[tokio::test]
async fn lambda_event_in_aws_shape_decodes() {
    let event = fixture();
    assert_eq!(event.records.len(), 8);
    let recorder = offline(Layout::SingleTable, Recorder::default());
    let report = lambda::project(&recorder, event).await;
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    // In order per aggregate; two aggregates may be projected at once.
    let lines = recorder.projection().0.lock().unwrap().clone();
    let of = |aggregate: &str| -> Vec<&String> {
        lines.iter().filter(|l| l.starts_with(aggregate)).collect()
    };
    assert_eq!(
        of("Product "),
        [
            "Product sku-1 v1 at 2026-12-02T07:00:00.000Z ProductRestocked { amount: 10 } \
             (correlation None, causation None)",
            "Product sku-1 v2 at 2026-12-02T07:00:02.000Z ProductReserved { cart_id: \"c-1\", quantity: 2 } \
             (correlation Some(\"req-42\"), causation Some(\"trace-7\"))",
        ]
    );
    assert_eq!(
        of("Cart "),
        [
            "Cart c-1 v1 at 2026-12-02T07:00:01.000Z ItemAdded { sku: \"sku-1\", quantity: 2 } \
             (correlation None, causation None)",
            // A checkout recorded before it took the shipping: its fields
            // read as their defaults.
            "Cart c-1 v2 at 2026-12-02T07:00:06.000Z CartCheckedOut { customer: \"\", \
             email: \"\", address: Address { line1: \"\", line2: \"\", city: \"\", \
             postcode: \"\", country: \"\" } } (correlation None, causation None)",
        ]
    );
    assert_eq!(lines.len(), 4);
    // Skipped by rule: the idempotency record's INSERT, the Warehouse's
    // event that shares a name with a Product event, a MODIFY, and the TTL
    // REMOVE of an idempotency record.
    assert_eq!((report.applied, report.skipped, report.deferred), (4, 4, 0));
    let response = lambda::response(&report).expect("a response");
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(
        serde_json::to_string(&response).unwrap(),
        r#"{"batchItemFailures":[]}"#
    );
}

#[tokio::test]
async fn lambda_batch_reports_the_failed_record() {
    // A Product event whose payload does not decode, in the middle of the
    // batch: it is reported, the later event of its product waits for the
    // retry, and the cart's events go through.
    let mut event = fixture();
    let mut bad = event.records[3].clone();
    bad.change.new_image.insert(
        "payload".to_owned(),
        serde_dynamo::AttributeValue::M(
            [
                (
                    "cart_id".to_owned(),
                    serde_dynamo::AttributeValue::S("c-1".into()),
                ),
                (
                    "quantity".to_owned(),
                    serde_dynamo::AttributeValue::S("many".into()),
                ),
            ]
            .into(),
        ),
    );
    let mut later = event.records[3].clone();
    later.change.sequence_number = Some("111000000000000000000009".into());
    later.change.new_image.insert(
        "version".into(),
        serde_dynamo::AttributeValue::N("3".into()),
    );
    event.records[3] = bad;
    event.records.push(later);

    let recorder = offline(Layout::SingleTable, Recorder::default());
    let report = lambda::project(&recorder, event).await;
    assert_eq!((report.applied, report.deferred), (3, 1));
    assert_eq!(report.failures.len(), 1);
    let failure = &report.failures[0];
    assert_eq!(
        failure.sequence_number.as_deref(),
        Some("111000000000000000000004")
    );
    assert_eq!(failure.event, Some(("Product".into(), "sku-1".into(), 2)));
    let message = failure.to_string();
    assert!(
        message.starts_with(
            "stream record 111000000000000000000004 (Product \"sku-1\" version 2): Recorder: \
             Product \"sku-1\" at version 2 is corrupt: payload of ProductReserved: "
        ),
        "{message}"
    );
    let response = lambda::response(&report).expect("a response");
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        serde_json::json!({ "batchItemFailures": [{ "itemIdentifier": "111000000000000000000004" }] })
    );
    let lines = recorder.projection().0.lock().unwrap();
    assert!(
        lines.iter().all(|l| !l.contains("v3")),
        "sku-1 v3 waits for v2: {lines:?}"
    );
    assert!(lines.iter().any(|l| l.starts_with("Cart c-1 v2")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_record_is_retried_with_what_follows_it_and_nothing_is_lost() {
    if es::dynamo::testing::skip_without_dynamodb() {
        return;
    }
    let store = es::dynamo::testing::store_on_new_table("lambda-retry").await;
    workload(&store, 6, 12, 5).await;
    let records = stream_records(&store).await;
    // The first commit of sku-3's stock fails, as a throttled write would.
    let failed = AtomicBool::new(false);
    let table = FaultyViews::new(move |rows| {
        (rows.contains(&("stock", "sku-3")) && !failed.swap(true, Ordering::SeqCst))
            .then_some("throttled")
    });
    let view = Projector::new(store.clone(), table.clone(), ShopViews::new(table));

    let first = lambda::handle(&view, lambda_event(&records))
        .await
        .expect("a response");
    let failed: Vec<_> = first
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone().expect("a sequence number"))
        .collect();
    // sku-3's first event is the failed record.
    let position = records
        .iter()
        .position(|r| matches!(r.new_image.get("aggregateId"), Some(aws_sdk_dynamodb::types::AttributeValue::S(k)) if k == "Product#sku-3"))
        .expect("sku-3 has events");
    assert_eq!(
        failed,
        [records[position].sequence_number.clone().expect("a number")]
    );

    // Lambda retries the stream from that record on: the records before it
    // are not seen again, every one after it is, including those of other
    // aggregates that had passed.
    let retry = lambda::handle(&view, lambda_event(&records[position..]))
        .await
        .expect("a response");
    assert!(retry.batch_item_failures.is_empty());
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
async fn a_projection_over_several_aggregates_refuses_a_table_per_aggregate() {
    // castore's older layout keys items by the bare id: a table holds one
    // aggregate type, and nothing in a record says which. A projection over
    // two cannot tell them apart, and must say so rather than skip them.
    let view = offline(
        Layout::TablePerAggregate,
        ShopViews::new(MemoryViews::new()),
    );
    let report = lambda::project(&view, fixture()).await;
    assert_eq!((report.applied, report.skipped, report.deferred), (0, 0, 7));
    assert_eq!(report.failures.len(), 1);
    let failure = report.failures[0].to_string();
    assert!(
        failure.starts_with(
            "stream record 111000000000000000000001: ShopViews: project failed: \
             a table in the table-per-aggregate layout holds one aggregate type, and ShopViews \
             listens to Product, ProductBucket, Cart"
        ),
        "{failure}"
    );
    // One aggregate's projection reads such a table.
    let recorder = Recorder::default();
    let legacy: Event = serde_json::from_value(serde_json::json!({ "Records": [
        serde_json::to_value(&fixture().records[0]).unwrap()
    ]}))
    .unwrap();
    let mut legacy = legacy;
    legacy.records[0].change.new_image.insert(
        "aggregateId".into(),
        serde_dynamo::AttributeValue::S("sku-1".into()),
    );
    let products = offline(Layout::TablePerAggregate, ProductsOnly(recorder));
    let report = lambda::project(&products, legacy).await;
    assert_eq!((report.applied, report.failures.len()), (1, 0));
}

/// A projection of one aggregate, for a table of castore's older layout.
struct ProductsOnly(Recorder);

#[es::projection]
impl ProductsOnly {
    #[on(ProductRestocked)]
    async fn restocked(&self, e: &ProductRestocked, at: &Envelope) {
        self.0.push(at, format!("{e:?}"));
    }
}
