//! The read side: the views the projection keeps, read through the API.
//!
//! - In memory, the service keeps its views itself, from the store's change
//!   feed, and the view routes follow every write.
//! - On DynamoDB, the `shop-projection` function's handler is fed a DynamoDB
//!   Streams event in the JSON shape AWS documents, made of items es wrote,
//!   and the API reads the view table it wrote, over a loopback socket.

use std::collections::HashMap;

use aws_lambda_events::event::dynamodb::Event;
use aws_sdk_dynamodb::types::AttributeValue;
use es::dynamo::attributes::{AGGREGATE_ID, VERSION};
use es::dynamo::{DynamoStore, DynamoViews};
use es::ViewTable as _;
use serde_json::{json, Value};
use shop_service::projection::stream_projector;
use shop_service::read_side::ReadSide;
use shop_service::App;

use crate::client::{serve, shipping, Http, Reply};

/// A DynamoDB Streams event for Lambda, in the shape AWS documents: one
/// INSERT record of a `ProductRestocked`, with its keys and new image in
/// DynamoDB's JSON.
const STREAM_EVENT: &str = include_str!("../fixtures/dynamodb-stream-insert.json");

#[track_caller]
fn assert_view(reply: &Reply, view: Value) {
    assert_eq!((reply.status, &reply.body), (200, &view), "{reply:?}");
    assert_eq!(reply.header("content-type"), Some("application/json"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_stock_view_follows_buys() {
    let store = es::MemoryStore::new();
    let app = App::new(store.clone()).with_views(ReadSide::memory(&store));
    let server = serve(app.router()).await;
    let http = Http::new(&server);

    // Nothing projected: no view, and a 404 that says why.
    let none = http.get("/products/mug/stock").await;
    none.assert_problem(404, "view-not-found");
    assert_eq!(none.body["view"], "stock", "{none:?}");
    http.get("/carts/alice/view")
        .await
        .assert_problem(404, "view-not-found");

    assert_eq!(
        http.post("/products/mug/restock", json!({"amount": 10}))
            .await
            .status,
        200
    );
    assert_view(
        &http.get("/products/mug/stock").await,
        json!({"on_hand": 10, "reserved": 0}),
    );

    // Buys, each followed by a read that sees it.
    for (i, (cart, quantity)) in [("alice", 3), ("bob", 2), ("alice", 1)].iter().enumerate() {
        let bought = http
            .post(
                "/products/mug/buy",
                json!({"cart_id": cart, "quantity": quantity}),
            )
            .await;
        assert_eq!(bought.status, 200, "buy {i}: {bought:?}");
    }
    assert_view(
        &http.get("/products/mug/stock").await,
        json!({"on_hand": 4, "reserved": 6}),
    );
    // Alice's two buys hold 4 mugs until the second one's deadline, 15
    // minutes after it.
    let alice = http.get("/carts/alice/view").await;
    let until = alice.body["holds"]["mug"]["until_millis"]
        .as_u64()
        .expect("a deadline");
    let now = es::Clock::now_millis(&es::SystemClock);
    assert!(
        until > now + 14 * 60_000 && until <= now + 15 * 60_000,
        "{alice:?}"
    );
    assert_view(
        &alice,
        json!({"lines": {}, "reserved": {"mug": 4}, "checked_out": false,
               "holds": {"mug": {"quantity": 4, "until_millis": until}}}),
    );

    // A cart's line and its checkout, and a buy refused as sold out.
    let added = http
        .post("/carts/carol/items", json!({"sku": "mug", "quantity": 1}))
        .await;
    assert_eq!(added.status, 200, "{added:?}");
    assert_eq!(
        http.post("/carts/carol/checkout", shipping()).await.status,
        200
    );
    let sold_out = http
        .post(
            "/products/mug/buy",
            json!({"cart_id": "dan", "quantity": 4}),
        )
        .await;
    sold_out.assert_problem(409, "sold-out");
    assert_view(
        &http.get("/products/mug/stock").await,
        json!({"on_hand": 3, "reserved": 7}),
    );
    assert_view(
        &http.get("/carts/carol/view").await,
        json!({"lines": {"mug": 1}, "reserved": {"mug": 1}, "checked_out": true}),
    );
    http.get("/carts/dan/view")
        .await
        .assert_problem(404, "view-not-found");

    // Concurrent buyers and readers: the last 3 sell exactly once each, and
    // the view ends where the product is.
    let buyers = (0..16).map(|i| {
        let http = http.clone();
        tokio::spawn(async move {
            let path = if i % 2 == 0 {
                "/products/mug/buy"
            } else {
                "/products/mug/stock"
            };
            if i % 2 == 0 {
                http.post(path, json!({"cart_id": format!("rush-{i}"), "quantity": 1}))
                    .await
            } else {
                http.get(path).await
            }
        })
    });
    let mut sold = 0;
    for reply in futures::future::join_all(buyers).await {
        let reply = reply.expect("a task");
        match (reply.status, reply.body.get("duplicate")) {
            (200, Some(_)) => sold += 1,
            (200, None) => assert!(reply.body["on_hand"].as_u64() <= Some(3), "{reply:?}"),
            _ => {
                reply.assert_problem(409, "sold-out");
            }
        }
    }
    assert_eq!(sold, 3);
    assert_view(
        &http.get("/products/mug/stock").await,
        json!({"on_hand": 0, "reserved": 10}),
    );
    let product = http.get("/products/mug").await;
    assert_eq!(product.body["on_hand"], 0, "{product:?}");

    // Ids are checked as everywhere else.
    let long = "x".repeat(1025);
    http.get(&format!("/products/{long}/stock"))
        .await
        .assert_problem(400, "invalid-id");
    http.get(&format!("/carts/{long}/view"))
        .await
        .assert_problem(400, "invalid-id");

    // A router built without views does not serve the view routes.
    let bare = serve(shop_service::router(store)).await;
    Http::new(&bare)
        .get("/products/mug/stock")
        .await
        .assert_problem(404, "no-such-route");
}

/// The item es stored at `version` of `key`, by a consistent GetItem.
async fn stored_item(
    store: &DynamoStore,
    key: &str,
    version: u64,
) -> HashMap<String, AttributeValue> {
    store
        .client()
        .get_item()
        .table_name(store.table())
        .key(AGGREGATE_ID, AttributeValue::S(key.to_owned()))
        .key(VERSION, AttributeValue::N(version.to_string()))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem")
        .item
        .unwrap_or_else(|| panic!("no item {key} version {version}"))
}

/// The fixture's record, carrying `item` as a stream would: its keys and
/// its new image in DynamoDB's JSON, under `sequence`.
fn stream_record(item: &HashMap<String, AttributeValue>, sequence: u64) -> Value {
    let fixture: Value = serde_json::from_str(STREAM_EVENT).expect("the fixture is JSON");
    let mut record = fixture["Records"][0].clone();
    let keys: HashMap<String, AttributeValue> = [AGGREGATE_ID, VERSION]
        .into_iter()
        .map(|k| (k.to_owned(), item[k].clone()))
        .collect();
    let change = &mut record["dynamodb"];
    change["Keys"] = json!(serde_dynamo::Item::from(keys));
    change["NewImage"] = json!(serde_dynamo::Item::from(item.clone()));
    change["SequenceNumber"] = json!(format!("44215845000000000{sequence:011}"));
    change["SizeBytes"] = json!(es::dynamo::item_size(item));
    record["eventID"] = json!(format!("{sequence:032x}"));
    record
}

/// A Lambda event of these records, through its JSON text, parsed as the
/// Lambda runtime parses it.
fn stream_event(records: &[&Value]) -> Event {
    let text = json!({ "Records": records }).to_string();
    serde_json::from_str(&text).expect("a DynamoDB Streams event")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lambda_stream_records_update_the_view_the_api_reads() {
    if es::dynamo::testing::skip_without_dynamodb() {
        return;
    }
    // The fixture, as AWS documents the event, parses.
    let documented: Event = serde_json::from_str(STREAM_EVENT).expect("the fixture parses");
    assert_eq!(documented.records.len(), 1);

    let store = es::dynamo::testing::store_on_new_table("shop-projection").await;
    let view_table = es::dynamo::testing::unique_table_name("shop-views");
    // The projector the binary runs on Lambda.
    let vault = es::EventStore::vault(&store).cloned().unwrap_or_default();
    let projector = stream_projector(store.table(), view_table.clone(), vault).await;
    let projection = projector.projection();
    projection
        .stock
        .table()
        .ensure_table()
        .await
        .expect("the view table");
    let views = ReadSide::dynamo(&store, DynamoViews::from_env(view_table).await);
    let server = serve(App::new(store.clone()).with_views(views).router()).await;
    let http = Http::new(&server);

    // Events, written through the API: a restock, a buy, a cart's line.
    for (path, body) in [
        ("/products/mug/restock", json!({"amount": 10})),
        (
            "/products/mug/buy",
            json!({"cart_id": "alice", "quantity": 3}),
        ),
        ("/carts/carol/items", json!({"sku": "mug", "quantity": 1})),
    ] {
        let reply = http.post(path, body).await;
        assert_eq!(reply.status, 200, "{path}: {reply:?}");
    }
    // Nothing has projected them: no view yet.
    http.get("/products/mug/stock")
        .await
        .assert_problem(404, "view-not-found");

    let restocked = stream_record(&stored_item(&store, "Product#mug", 1).await, 1);
    let reserved = stream_record(&stored_item(&store, "Product#mug", 2).await, 2);
    let added = stream_record(&stored_item(&store, "Cart#carol", 1).await, 3);

    let answer =
        es::dynamo::lambda::handle(&projector, stream_event(&[&restocked, &reserved, &added]))
            .await
            .expect("the batch is handled");
    assert!(
        answer.batch_item_failures.is_empty(),
        "no record to retry: {answer:?}"
    );

    let expected = [
        ("/products/mug/stock", json!({"on_hand": 7, "reserved": 3})),
        (
            "/carts/alice/view",
            json!({"lines": {}, "reserved": {"mug": 3}, "checked_out": false}),
        ),
        (
            "/carts/carol/view",
            json!({"lines": {"mug": 1}, "reserved": {}, "checked_out": false}),
        ),
    ];
    for (path, view) in &expected {
        assert_view(&http.get(path).await, view.clone());
    }
    let row = |id: &'static str| {
        let stock = projection.stock.clone();
        async move { stock.row(id).await.expect("read the row") }
    };
    let before = row("mug").await.expect("a stock row");
    let table = projection.stock.table();
    let used = table.stats().snapshot();

    // Lambda delivers at least once: the buy and the cart's line again, as
    // a retried batch would bring them, with the same sequence numbers.
    let answer =
        es::dynamo::lambda::handle(&projector, stream_event(&[&reserved, &added, &reserved]))
            .await
            .expect("the batch is handled");
    assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
    for (path, view) in &expected {
        assert_view(&http.get(path).await, view.clone());
    }
    // The warm function knows its positions: the redelivered records are
    // at or below them, so no handler runs, and nothing is read or written.
    let now = table.stats().snapshot();
    assert_eq!(
        (now.reads - used.reads, now.writes - used.writes),
        (0, 0),
        "reads and writes of the redelivery"
    );
    // A cold function reads the batch's positions, in one request, and
    // nothing more.
    projector.forget_positions();
    let answer = es::dynamo::lambda::handle(&projector, stream_event(&[&reserved, &added]))
        .await
        .expect("the batch is handled");
    assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
    let cold = table.stats().snapshot();
    assert_eq!(
        (cold.reads - now.reads, cold.writes - now.writes),
        (1, 0),
        "reads and writes of a cold redelivery"
    );
    assert_eq!(row("mug").await, Some(before));
}

/// The projection binary, run locally as a worker would run it, follows the
/// stream, and a SIGTERM (what ECS or Kubernetes sends before killing a
/// task) stops it cleanly: exit status 0, the batch in hand checkpointed, and
/// its shard leases released so that its successor starts at once.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shop_projection_stops_cleanly_on_sigterm() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use es::prelude::*;

    if es::dynamo::testing::skip_without_dynamodb() {
        return;
    }
    let store = es::dynamo::testing::store_on_new_table("shop-sigterm").await;
    let view_table = es::dynamo::testing::unique_table_name("shop-sigterm-views");
    let mut product = shop_service::shop::Product::load(&store, "lamp")
        .await
        .expect("load");
    product
        .commit(shop_service::shop::ProductRestocked { amount: 7 })
        .await
        .expect("restock");

    let mut child = Command::new(env!("CARGO_BIN_EXE_shop-projection"))
        .arg("--dynamodb")
        .env("ES_TABLE", store.table())
        .env(
            shop_service::keys::MASTER_KEY_VAR,
            crate::runtime::master_key(),
        )
        .env("ES_VIEW_TABLE", &view_table)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("shop-projection starts");

    // It creates the view table, then follows the stream into it.
    let views = DynamoViews::from_env(view_table.clone()).await;
    let stock: Views<shop_service::views::Stock, _> = Views::new(views.clone(), "stock");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(seen)) = stock.get("lamp").await {
            assert_eq!(seen.on_hand, 7);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the view never showed the restock"
        );
        assert!(
            child.try_wait().expect("wait").is_none(),
            "shop-projection exited early"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = child.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "shop-projection did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    assert!(exit.success(), "{exit:?}: {stderr}");
    assert!(stderr.contains("1 events applied"), "{stderr}");

    // Its shard checkpoints hold the last record, and no owner.
    let items = views
        .client()
        .scan()
        .table_name(&view_table)
        .consistent_read(true)
        .send()
        .await
        .expect("scan")
        .items
        .unwrap_or_default();
    let shards: Vec<_> = items
        .iter()
        .filter(|i| matches!(i.get("id"), Some(AttributeValue::S(id)) if id.starts_with("$shard#ShopViews#")))
        .collect();
    assert!(!shards.is_empty(), "a checkpoint per shard read: {items:?}");
    for shard in shards {
        assert!(shard.contains_key("sequence"), "{shard:?}");
        assert!(
            !shard.contains_key("owner"),
            "the lease was released: {shard:?}"
        );
    }
}

/// `shop-projection --reapply` catches aggregates up from the events table,
/// into views that never saw them: what a batch that left the stream needs.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shop_projection_reapplies_aggregates_by_id() {
    use es::prelude::*;

    if es::dynamo::testing::skip_without_dynamodb() {
        return;
    }
    let store = es::dynamo::testing::store_on_new_table("shop-reapply").await;
    let view_table = es::dynamo::testing::unique_table_name("shop-reapply-views");
    for amount in [4, 5] {
        shop_service::shop::Product::load(&store, "lamp")
            .await
            .expect("load")
            .commit(shop_service::shop::ProductRestocked { amount })
            .await
            .expect("restock");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shop-projection"))
        .args([
            "--dynamodb",
            "--table",
            store.table(),
            "--view-table",
            &view_table,
        ])
        .args(["--reapply", "Product#lamp"])
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env(
            shop_service::keys::MASTER_KEY_VAR,
            crate::runtime::master_key(),
        )
        .output()
        .expect("run shop-projection");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("1 aggregates caught up, 2 events applied"),
        "{stderr}"
    );
    let views = es::dynamo::DynamoViews::from_env(view_table).await;
    let stock: es::Views<shop_service::views::Stock, _> = es::Views::new(views, "stock");
    assert_eq!(
        stock.get("lamp").await.expect("read"),
        Some(shop_service::views::Stock {
            on_hand: 9,
            reserved: 0
        })
    );
}
