//! A hot product over HTTP: its stock split over bucket aggregates, and the
//! same API as any product's, on both stores.

use serde_json::json;
use shop_service::App;

use crate::client::{serve, shipping, Http};

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

/// Each bucket's units on hand, by number: where a reservation took from
/// and where a release gave back.
async fn bucket_stock<S: es::EventStore>(store: &S, sku: &str, count: u32) -> Vec<u32> {
    let buckets =
        es::buckets::Buckets::<shop_service::hot::ProductBucket>::new(sku, count).expect("buckets");
    let stock = buckets.stock(store).await.expect("read the buckets");
    stock.buckets.iter().map(|b| b.on_hand).collect()
}

/// A cart with a hot line and a plain one checks out in one atomic commit:
/// the hot line from the buckets (several of them when none alone holds
/// enough), the plain one from its product; and a checkout one of whose
/// lines is sold out writes nothing at all, on either kind of product.
async fn hot_lines_check_out_atomically<S: es::EventStore>(store: S) {
    let app = App::new(store.clone()).with_hot_product("mug", 4);
    let server = serve(app.router()).await;
    let http = Http::new(&server);
    for (sku, amount) in [("mug", 10), ("tea", 5)] {
        let restocked = http
            .post(
                &format!("/products/{sku}/restock"),
                json!({"amount": amount}),
            )
            .await;
        assert_eq!(restocked.status, 200, "{restocked:?}");
    }
    assert_eq!(bucket_stock(&store, "mug", 4).await, vec![3, 3, 2, 2]);

    // Seven mugs: more than any one bucket holds.
    for (sku, quantity) in [("mug", 7), ("tea", 2)] {
        let added = http
            .post(
                "/carts/alice/items",
                json!({"sku": sku, "quantity": quantity}),
            )
            .await;
        assert_eq!(added.status, 200, "{added:?}");
    }
    let done = http.post("/carts/alice/checkout", shipping()).await;
    assert_eq!(done.status, 200, "{done:?}");
    assert_eq!(done.body["cart"]["checked_out"], true, "{done:?}");
    let mug = http.get("/products/mug").await;
    assert_eq!(
        (&mug.body["on_hand"], &mug.body["reserved"]),
        (&json!(3), &json!({"alice": 7})),
        "{mug:?}"
    );
    let on_hand: Vec<u32> = bucket_stock(&store, "mug", 4).await;
    assert_eq!(on_hand.iter().sum::<u32>(), 3, "{on_hand:?}");

    // Bob wants 4 mugs of the 3 left, and a tea: refused, and nothing is
    // written, not even the tea.
    for (sku, quantity) in [("mug", 4), ("tea", 1)] {
        let added = http
            .post(
                "/carts/bob/items",
                json!({"sku": sku, "quantity": quantity}),
            )
            .await;
        assert_eq!(added.status, 200, "{added:?}");
    }
    let refused = http.post("/carts/bob/checkout", shipping()).await;
    refused.assert_problem(409, "sold-out");
    let tea = http.get("/products/tea").await;
    assert_eq!(
        (&tea.body["on_hand"], &tea.body["reserved"]),
        (&json!(3), &json!({"alice": 2})),
        "{tea:?}"
    );
    assert_eq!(http.get("/products/mug").await.body["on_hand"], 3);
    assert_eq!(http.get("/carts/bob").await.body["checked_out"], false);

    // Three mugs, from whichever buckets hold them: served.
    let carol = http
        .post("/carts/carol/items", json!({"sku": "mug", "quantity": 3}))
        .await;
    assert_eq!(carol.status, 200, "{carol:?}");
    let done = http.post("/carts/carol/checkout", shipping()).await;
    assert_eq!(done.status, 200, "{done:?}");
    assert_eq!(bucket_stock(&store, "mug", 4).await, vec![0, 0, 0, 0]);

    // The listing shows the hot product as its buckets add up, once.
    let listed = http.get("/products").await;
    assert_eq!(listed.status, 200, "{listed:?}");
    let items = listed.body["items"].as_array().expect("items");
    let ids: Vec<&str> = items.iter().filter_map(|p| p["id"].as_str()).collect();
    assert_eq!(ids, vec!["tea", "mug"], "{listed:?}");
    assert_eq!(items[1]["on_hand"], 0);
    assert_eq!(items[1]["reserved"], json!({"alice": 7, "carol": 3}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hot_checkout_memory() {
    hot_lines_check_out_atomically(es::MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hot_checkout_dynamo() {
    if es::dynamo::testing::skip_without_dynamodb() {
        return;
    }
    hot_lines_check_out_atomically(es::dynamo::testing::store_on_new_table("shop-hot-co").await)
        .await;
}

/// A buy of a hot product holds the units for the cart, as any buy does;
/// when the hold runs out, its timer gives them back to the buckets that
/// gave them, and the cart can no longer check them out.
async fn hot_holds_expire_into_their_buckets<S: es::EventStore>(store: S) {
    let clock = es::ManualClock::at_millis(1_800_000_000_000);
    let app = App::new(store.clone())
        .with_hot_product("mug", 4)
        .with_clock(clock.clone());
    let server = serve(app.clone().router()).await;
    let http = Http::new(&server);
    let restocked = http
        .post("/products/mug/restock", json!({"amount": 10}))
        .await;
    assert_eq!(restocked.status, 200, "{restocked:?}");

    // Five: more than any one bucket holds, so from two of them.
    let bought = http
        .post(
            "/products/mug/buy",
            json!({"cart_id": "alice", "quantity": 5}),
        )
        .await;
    assert_eq!(bought.status, 200, "{bought:?}");
    let until = bought.body["hold"]["until_millis"]
        .as_u64()
        .expect("a hold, as any product's buy answers");
    assert_eq!(bought.body["hold"]["quantity"], 5, "{bought:?}");
    assert_eq!(bought.body["product"]["on_hand"], 5, "{bought:?}");
    let cart = http.get("/carts/alice").await;
    assert_eq!(cart.body["holds"]["mug"]["quantity"], 5, "{cart:?}");
    let after_buy = bucket_stock(&store, "mug", 4).await;
    assert_eq!(after_buy.iter().sum::<u32>(), 5, "{after_buy:?}");

    // A plain bucket-level sale meanwhile: the units given back must go to
    // the buckets that hold Alice's, not elsewhere.
    clock.advance(std::time::Duration::from_secs(16 * 60));
    let timer = es::Timer::new(
        shop_service::shop::hold_timer_id("alice", "mug", until),
        until,
        shop_service::shop::EXPIRE_HOLD,
        &shop_service::shop::ExpireHold {
            cart_id: "alice".into(),
            sku: "mug".into(),
        },
    )
    .expect("a timer");
    let timers = shop_service::shop::ShopTimers {
        store: store.clone(),
        shelves: app.shelves(),
    };
    es::FireTimer::fire(&timers, &timer).await.expect("expired");
    // Fired twice (a timer may be): nothing more given back.
    es::FireTimer::fire(&timers, &timer).await.expect("again");

    assert_eq!(bucket_stock(&store, "mug", 4).await, vec![3, 3, 2, 2]);
    let mug = http.get("/products/mug").await;
    assert_eq!(
        (&mug.body["on_hand"], &mug.body["reserved"]),
        (&json!(10), &json!({})),
        "{mug:?}"
    );
    let cart = http.get("/carts/alice").await;
    assert_eq!(cart.body["lapsed"]["mug"], until, "{cart:?}");
    http.post("/carts/alice/checkout", shipping())
        .await
        .assert_problem(409, "hold-expired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hot_hold_expiry_memory() {
    hot_holds_expire_into_their_buckets(es::MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hot_hold_expiry_dynamo() {
    if es::dynamo::testing::skip_without_dynamodb() {
        return;
    }
    hot_holds_expire_into_their_buckets(
        es::dynamo::testing::store_on_new_table("shop-hot-hold").await,
    )
    .await;
}

/// The read side's views of a hot product: its stock view sums its
/// buckets' events, and a cart's view shows what they hold for it, under
/// the product's id; the same as a replay of the aggregates.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hot_product_views_sum_its_buckets() {
    let store = es::MemoryStore::new();
    let app = App::new(store.clone())
        .with_hot_product("mug", 4)
        .with_views(shop_service::read_side::ReadSide::memory(&store));
    let server = serve(app.router()).await;
    let http = Http::new(&server);
    let restocked = http
        .post("/products/mug/restock", json!({"amount": 10}))
        .await;
    assert_eq!(restocked.status, 200, "{restocked:?}");
    for (cart, quantity) in [("alice", 5), ("bob", 1)] {
        let bought = http
            .post(
                "/products/mug/buy",
                json!({"cart_id": cart, "quantity": quantity}),
            )
            .await;
        assert_eq!(bought.status, 200, "{bought:?}");
    }
    // Quota moved between buckets changes no total.
    es::buckets::Buckets::<shop_service::hot::ProductBucket>::new("mug", 4)
        .expect("buckets")
        .rebalance(&store, 3, 0, 1)
        .await
        .expect("rebalanced");
    let stock = http.get("/products/mug/stock").await;
    assert_eq!(
        (stock.status, &stock.body),
        (200, &json!({"on_hand": 4, "reserved": 6})),
        "{stock:?}"
    );
    let alice = http.get("/carts/alice/view").await;
    assert_eq!(alice.body["reserved"], json!({"mug": 5}), "{alice:?}");
    assert_eq!(alice.body["holds"]["mug"]["quantity"], 5, "{alice:?}");
}
