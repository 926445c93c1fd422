//! A hot product over HTTP: its stock split over bucket aggregates, and the
//! same API as any product's, on both stores.

use serde_json::json;
use shop_service::App;

use crate::client::{serve, Http};

async fn hot_product_answers_as_any_product<S: es::EventStore>(store: S) {
    let app = App::new(store).with_hot_product("mug", 4);
    let server = serve(app.router()).await;
    let http = Http::new(&server);
    http.get("/products/mug")
        .await
        .assert_problem(404, "product-not-found");

    let restocked = http
        .post("/products/mug/restock", json!({"amount": 10}))
        .await;
    assert_eq!(restocked.status, 200, "{restocked:?}");
    assert_eq!(restocked.body["product"]["on_hand"], 10);

    // Bought twice with one key: applied once, answered alike.
    let key = [("idempotency-key", "hot-buy-1")];
    let body = json!({"cart_id": "alice", "quantity": 3});
    let bought = http
        .post_with("/products/mug/buy", &key, body.clone())
        .await;
    assert_eq!(
        (bought.status, &bought.body["duplicate"]),
        (200, &json!(false)),
        "{bought:?}"
    );
    let again = http.post_with("/products/mug/buy", &key, body).await;
    assert_eq!(
        (again.status, &again.body["duplicate"]),
        (200, &json!(true)),
        "{again:?}"
    );

    // More than one bucket holds: served from several at once.
    let big = http
        .post(
            "/products/mug/buy",
            json!({"cart_id": "bob", "quantity": 6}),
        )
        .await;
    assert_eq!(big.status, 200, "{big:?}");
    let product = http.get("/products/mug").await;
    assert_eq!(product.body["on_hand"], 1, "{product:?}");
    assert_eq!(product.body["reserved"], json!({"alice": 3, "bob": 6}));
    assert_eq!(product.body["id"], "mug");

    // Sold out as any product is: a 409 naming what is left.
    http.post(
        "/products/mug/buy",
        json!({"cart_id": "carol", "quantity": 2}),
    )
    .await
    .assert_problem(409, "sold-out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hot_product_over_http_memory() {
    hot_product_answers_as_any_product(es::MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hot_product_over_http_dynamo() {
    if es::dynamo::testing::skip_without_dynamodb() {
        return;
    }
    hot_product_answers_as_any_product(es::dynamo::testing::store_on_new_table("shop-hot").await)
        .await;
}
