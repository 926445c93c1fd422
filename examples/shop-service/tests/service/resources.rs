//! Created resources get server-made ids, and an `Idempotency-Key`
//! remembers the request it came with: on both stores.

use es::prelude::*;
use serde_json::json;
use shop_service::shop::{Cart, Product};

use crate::client::{serve, Http, Reply, SHIPPING};

macro_rules! resource_tests {
    ($store:expr, run_if = $cond:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn post_creates_a_product_with_a_uuid() {
            if $cond {
                super::post_creates_a_product_with_a_uuid($store.await).await
            }
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn idempotency_key_with_another_body_is_422() {
            if $cond {
                super::idempotency_key_with_another_body_is_422($store.await).await
            }
        }
    };
}

mod memory {
    resource_tests!(async { es::MemoryStore::new() }, run_if = true);
}

mod dynamo {
    resource_tests!(
        es::dynamo::testing::store_on_new_table("shop-ids"),
        run_if = !es::dynamo::testing::skip_without_dynamodb()
    );
}

/// The id in a 201's `Location`, checked to be a UUID v4 and the body's `id`.
#[track_caller]
fn created_id(reply: &Reply, kind: &str) -> String {
    assert_eq!(reply.status, 201, "{reply:?}");
    let location = reply.header("location").expect("a Location header");
    let id = location
        .strip_prefix(&format!("/{kind}s/"))
        .unwrap_or_else(|| panic!("Location {location:?} is not under /{kind}s/"));
    let uuid = uuid::Uuid::parse_str(id).expect("a UUID");
    assert_eq!(uuid.get_version_num(), 4, "a random (v4) UUID: {id}");
    assert_eq!(uuid.to_string(), id, "in its hyphenated lower-case form");
    assert_eq!(reply.body["id"], id, "{reply:?}");
    id.to_owned()
}

async fn post_creates_a_product_with_a_uuid<S: EventStore>(store: S) {
    let server = serve(shop_service::router(store.clone())).await;
    let http = Http::new(&server);

    // Two creates without a key: two products, two ids.
    let first = http.post("/products", json!({"amount": 5})).await;
    let a = created_id(&first, "product");
    assert_eq!(first.body["version"], 1, "{first:?}");
    assert_eq!(first.body["duplicate"], false, "{first:?}");
    assert_eq!(first.body["product"]["on_hand"], 5, "{first:?}");
    let second = http.post("/products", json!({"amount": 5})).await;
    let b = created_id(&second, "product");
    assert_ne!(a, b);
    // The Location names the resource.
    let got = http.get(&format!("/products/{a}")).await;
    assert_eq!(
        (got.status, &got.body["on_hand"]),
        (200, &json!(5)),
        "{got:?}"
    );

    // With a key, a repeat creates nothing and answers with the same id.
    let key = [("idempotency-key", "create-1")];
    let keyed = http
        .post_with("/products", &key, json!({"amount": 3}))
        .await;
    let c = created_id(&keyed, "product");
    let repeat = http
        .post_with("/products", &key, json!({"amount": 3}))
        .await;
    assert_eq!(created_id(&repeat, "product"), c);
    assert_eq!(repeat.body["duplicate"], true, "{repeat:?}");
    assert_eq!(repeat.body["version"], 1, "{repeat:?}");
    let ids: Vec<String> = Product::ids(&store).try_collect().await.expect("ids");
    assert_eq!(ids.len(), 3, "three products, not four: {ids:?}");
    let product = Product::load(&store, c.as_str()).await.expect("load");
    assert_eq!((product.version(), product.on_hand), (1, 3));

    // A cart too, with its first line.
    let cart = http
        .post_with(
            "/carts",
            &[("idempotency-key", "cart-1")],
            json!({"sku": a, "quantity": 2}),
        )
        .await;
    let cart_id = created_id(&cart, "cart");
    assert_eq!(cart.body["cart"]["lines"][&a], 2, "{cart:?}");
    let repeat = http
        .post_with(
            "/carts",
            &[("idempotency-key", "cart-1")],
            json!({"quantity": 2, "sku": a}),
        )
        .await;
    assert_eq!(
        created_id(&repeat, "cart"),
        cart_id,
        "key order is no new request"
    );
    assert_eq!(repeat.body["duplicate"], true, "{repeat:?}");
    let carts: Vec<String> = Cart::ids(&store).try_collect().await.expect("ids");
    assert_eq!(carts, std::slice::from_ref(&cart_id));
    // A cart for a product that does not exist: 404, and no cart.
    http.post("/carts", json!({"sku": "nope", "quantity": 1}))
        .await
        .assert_problem(404, "product-not-found");
    // Bad bodies are 4xx.
    http.post("/products", json!({"amount": -1}))
        .await
        .assert_problem(400, "quantity-out-of-range");
    http.post("/products", json!({"amount": "1"}))
        .await
        .assert_problem(400, "invalid-body");
    http.send("POST", "/products", &[], Some("{\"amount\": 1}"))
        .await
        .assert_problem(415, "unsupported-media-type");
    // A key first used to create a product may not create a cart.
    http.post_with(
        "/carts",
        &[("idempotency-key", "create-1")],
        json!({"sku": a, "quantity": 1}),
    )
    .await
    .assert_problem(422, "idempotency-key-reused");
}

async fn idempotency_key_with_another_body_is_422<S: EventStore>(store: S) {
    let server = serve(shop_service::router(store.clone())).await;
    let http = Http::new(&server);
    let key = |k: &'static str| [("idempotency-key", k)];
    http.post("/products/mug/restock", json!({"amount": 10}))
        .await;

    // A buy, then the same key with another body: 422, nothing written.
    let first = http
        .post_with(
            "/products/mug/buy",
            &key("buy-1"),
            json!({"cart_id": "alice", "quantity": 2}),
        )
        .await;
    assert_eq!(
        (first.status, &first.body["version"]),
        (200, &json!(2)),
        "{first:?}"
    );
    let other = http
        .post_with(
            "/products/mug/buy",
            &key("buy-1"),
            json!({"cart_id": "alice", "quantity": 3}),
        )
        .await;
    let detail = other.assert_problem(422, "idempotency-key-reused");
    assert!(detail.contains("buy-1"), "{detail}");
    // Another path (a restock of the same product), another method: 422.
    http.post_with("/products/mug/restock", &key("buy-1"), json!({"amount": 2}))
        .await
        .assert_problem(422, "idempotency-key-reused");
    http.post_with(
        "/products/cup/buy",
        &key("buy-1"),
        json!({"cart_id": "alice", "quantity": 2}),
    )
    .await
    .assert_problem(422, "idempotency-key-reused");
    // The identical repeat, even with its JSON spelled otherwise, still
    // gets the first answer.
    let repeat = http
        .send(
            "POST",
            "/products/mug/buy",
            &[
                ("content-type", "application/json"),
                ("idempotency-key", "buy-1"),
            ],
            Some(r#"{ "quantity":2, "cart_id":"alice" }"#),
        )
        .await;
    assert_eq!(
        (
            repeat.status,
            &repeat.body["version"],
            &repeat.body["duplicate"]
        ),
        (200, &json!(2), &json!(true)),
        "{repeat:?}"
    );
    let product = Product::load(&store, "mug").await.expect("load");
    assert_eq!((product.version(), product.on_hand), (2, 8), "one buy only");

    // A cart line, then the same key with another quantity.
    let line = http
        .post_with(
            "/carts/bob/items",
            &key("line-1"),
            json!({"sku": "mug", "quantity": 1}),
        )
        .await;
    assert_eq!(line.status, 200, "{line:?}");
    http.post_with(
        "/carts/bob/items",
        &key("line-1"),
        json!({"sku": "mug", "quantity": 4}),
    )
    .await
    .assert_problem(422, "idempotency-key-reused");

    // A checkout: its key with a body is another request; without, the
    // same one, answered as before.
    let checkout = |body: &'static str| {
        let http = http.clone();
        async move {
            let headers = [
                ("idempotency-key", "pay-1"),
                ("content-type", "application/json"),
            ];
            http.send("POST", "/carts/bob/checkout", &headers, Some(body))
                .await
        }
    };
    let paid = checkout(SHIPPING).await;
    assert_eq!(
        (paid.status, &paid.body["duplicate"]),
        (200, &json!(false)),
        "{paid:?}"
    );
    checkout(r#"{"customer": "cust-2", "email": "b@example.com", "address": {"line1": "2 Elm St", "city": "Shelbyville", "country": "US"}}"#)
        .await
        .assert_problem(422, "idempotency-key-reused");
    let again = checkout(SHIPPING).await;
    assert_eq!(
        (again.status, &again.body["duplicate"]),
        (200, &json!(true)),
        "{again:?}"
    );
    let cart = Cart::load(&store, "bob").await.expect("load");
    assert_eq!(cart.version(), 2, "one line, one checkout");
}
