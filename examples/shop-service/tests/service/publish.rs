//! The shop's integration events: their JSON against the committed
//! contract, and a checkout through the API, the publisher and EventBridge
//! (moto) to a subscriber's queue.

use std::collections::BTreeMap;

use es::dynamo::publish::{Document, MemoryTarget};
use es::dynamo::StreamRunner;
use es::prelude::*;
use serde_json::{json, Value};
use shop_service::publisher::{
    projector, OrderLine, OrderPlaced, ShopEvents, StockDepleted, SOURCE,
};
use shop_service::shop::*;
use shop_service::App;

use crate::client::{serve, shipping, Http};

/// The contract: every document the shop publishes for the story below,
/// with each `time` replaced by `<time>`. `ES_UPDATE_CONTRACT=1` rewrites
/// it; a change to it is a change of the public contract.
const CONTRACT: &str = "tests/fixtures/contract.json";

fn normalized(body: &str) -> Value {
    let mut doc: Value = serde_json::from_str(body).expect("a JSON document");
    let time = doc["time"].as_str().unwrap_or_default().to_owned();
    assert!(es::dynamo::testing::is_timestamp(&time), "{doc}");
    doc["time"] = json!("<time>");
    doc
}

#[tokio::test]
async fn published_messages_match_the_contract() {
    let store = MemoryStore::new();
    let metadata = |causation: &str| es::Metadata {
        correlation_id: Some("flow-1".into()),
        causation_id: Some(causation.into()),
        ..Default::default()
    };
    let mut mug = Product::load(&store, "mug")
        .await
        .unwrap()
        .with_metadata(metadata("req-1"));
    mug.commit(ProductRestocked { amount: 3 }).await.unwrap();
    let mut cart = Cart::load(&store, "alice")
        .await
        .unwrap()
        .with_metadata(metadata("req-2"));
    cart.commit(ItemAdded {
        sku: "mug".into(),
        quantity: 3,
    })
    .await
    .unwrap();
    cart.commit(ItemAdded {
        sku: "tea".into(),
        quantity: 1,
    })
    .await
    .unwrap();
    cart.commit(ItemRemoved { sku: "tea".into() })
        .await
        .unwrap();
    checkout_with(
        &store,
        "alice",
        &Shipping::example("cust-1"),
        es::Retry::default(),
        metadata("req-3"),
    )
    .await
    .unwrap();

    let table = MemoryViews::new();
    let target = MemoryTarget::new();
    let projector = Projector::new(
        store.clone(),
        table.clone(),
        es::dynamo::publish::Publisher::new(ShopEvents::new(table), target.clone()),
    );
    let mut position = 0;
    store.catch_up(&projector, &mut position).await.unwrap();

    let documents: Vec<Value> = target
        .messages()
        .iter()
        .map(|m| normalized(&m.body))
        .collect();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(CONTRACT);
    if std::env::var("ES_UPDATE_CONTRACT").is_ok_and(|v| v == "1") {
        let text = serde_json::to_string_pretty(&documents).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
    }
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap();
    assert_eq!(
        Value::Array(documents),
        committed,
        "the published JSON left the contract"
    );

    // And the documents read back as the types.
    let messages = target.messages();
    let placed: Document<OrderPlaced> = messages[1].document().unwrap();
    assert_eq!(
        placed.data.lines,
        [OrderLine {
            sku: "mug".into(),
            quantity: 3
        }]
    );
    let depleted: Document<StockDepleted> = messages[0].document().unwrap();
    assert_eq!(depleted.data.sku, "mug");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checkout_publishes_order_placed() {
    if es::dynamo::testing::skip_without_dynamodb() {
        return;
    }
    let moto = std::env::var_os("AWS_ENDPOINT_URL_EVENTBRIDGE").is_some_and(|v| !v.is_empty());
    if !moto {
        assert!(
            !std::env::var("ES_MOTO").is_ok_and(|v| v == "1"),
            "ES_MOTO=1 requires moto, but AWS_ENDPOINT_URL_EVENTBRIDGE is not set: run scripts/test.sh"
        );
        eprintln!("skipped: checkout_publishes_order_placed: no moto endpoint; scripts/moto.sh starts one");
        return;
    }
    let config = aws_config::load_from_env().await;
    let store = es::dynamo::testing::store_on_new_table("shop-pub").await;
    let views = es::dynamo::testing::views_on_new_table("shop-pub-views").await;

    // The bus, and a subscriber: a rule for the shop's orders, to a queue.
    let events = aws_sdk_eventbridge::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let bus = es::dynamo::testing::unique_table_name("shop-bus");
    events.create_event_bus().name(&bus).send().await.unwrap();
    let queue = sqs
        .create_queue()
        .queue_name(es::dynamo::testing::unique_table_name("shipping"))
        .send()
        .await
        .unwrap();
    let url = queue.queue_url().unwrap().to_owned();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .unwrap();
    // The template's sample rule: the shop's orders and sell-outs.
    events
        .put_rule()
        .name("shipping")
        .event_bus_name(&bus)
        .event_pattern(
            json!({"source": [SOURCE], "detail-type": ["OrderPlaced", "StockDepleted"]})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule("shipping")
        .event_bus_name(&bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("shipping")
                .arn(arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    // The API on DynamoDB Local: stock 2 mugs, and bob buys both.
    let server = serve(App::new(store.clone()).router()).await;
    let http = Http::new(&server);
    assert_eq!(
        http.post("/products/mug/restock", json!({"amount": 2}))
            .await
            .status,
        200
    );
    assert_eq!(
        http.post("/carts/bob/items", json!({"sku": "mug", "quantity": 2}))
            .await
            .status,
        200
    );
    let checkout = http.post("/carts/bob/checkout", shipping()).await;
    assert_eq!(checkout.status, 200, "{checkout:?}");
    let request_id = checkout.header("x-request-id").map(str::to_owned);

    // The publisher, as the stream's function would run it, reading the
    // table's stream; twice, as a redelivery would.
    let bus_target = es::dynamo::publish::EventBridge::new(
        aws_sdk_eventbridge::Client::new(&config),
        bus.clone(),
        SOURCE,
    );
    let vault = es::EventStore::vault(&store).cloned().unwrap_or_default();
    let publisher = projector(store.table(), views.table(), bus_target, vault).await;
    let runner = StreamRunner::new(publisher).await;
    runner.catch_up().await.expect("published");
    runner.projector().forget_positions();
    runner.catch_up().await.expect("nothing more");

    // What the subscriber gets.
    let mut received = Vec::new();
    for _ in 0..20 {
        let got = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        for m in got.messages() {
            received.push(serde_json::from_str::<Value>(m.body().unwrap_or_default()).unwrap());
        }
        if received.len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let by_type: BTreeMap<String, Value> = received
        .into_iter()
        .map(|e| (e["detail-type"].as_str().unwrap_or_default().to_owned(), e))
        .collect();
    assert_eq!(by_type.len(), 2, "{by_type:?}");
    let order = &by_type["OrderPlaced"];
    assert_eq!(order["source"], SOURCE);
    let detail: Document<OrderPlaced> = serde_json::from_value(order["detail"].clone()).unwrap();
    assert_eq!(
        detail.data,
        OrderPlaced {
            order_id: "bob".into(),
            lines: vec![OrderLine {
                sku: "mug".into(),
                quantity: 2
            }],
        }
    );
    assert_eq!(
        (detail.aggregate.as_str(), detail.aggregate_version),
        ("Cart", 2)
    );
    assert_eq!(detail.id, "Cart#bob#2");
    assert!(detail.correlation_id.is_some());
    if let Some(request_id) = request_id {
        assert_eq!(detail.causation_id.as_deref(), Some(request_id.as_str()));
    }
    let sold_out: Document<StockDepleted> =
        serde_json::from_value(by_type["StockDepleted"]["detail"].clone()).unwrap();
    assert_eq!(
        (sold_out.data.sku.as_str(), sold_out.id.as_str()),
        ("mug", "Product#mug#2")
    );
}
