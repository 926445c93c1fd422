//! The HTTP API over a real loopback socket, on both stores.

use es::prelude::*;
use serde_json::{json, Value};
use shop_service::shop::{Cart, Product, ProductError, ProductRestocked};

use crate::client::{serve, shipping, Http, Reply, SHIPPING};

/// Defines the HTTP tests against one store.
macro_rules! http_tests {
    ($store:expr, run_if = $cond:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn http_buyers_never_oversell() {
            if $cond {
                super::buyers_never_oversell($store.await).await
            }
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn http_idempotency_key_applies_once() {
            if $cond {
                super::idempotency_key_applies_once($store.await).await
            }
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn http_bad_input_is_a_clear_4xx() {
            if $cond {
                super::bad_input_is_a_clear_4xx($store.await).await
            }
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn http_events_carry_request_and_trace_ids() {
            if $cond {
                super::events_carry_request_and_trace_ids($store.await).await
            }
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn http_checkout_reserves_every_line_at_once() {
            if $cond {
                super::checkout_reserves_every_line_at_once($store.await).await
            }
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn http_products_page_with_a_cursor() {
            if $cond {
                super::products_page_with_a_cursor($store.await).await
            }
        }
    };
}

mod memory {
    http_tests!(async { es::MemoryStore::new() }, run_if = true);
}

mod dynamo {
    http_tests!(
        es::dynamo::testing::store_on_new_table("shop-http"),
        // Says on stderr when it skips: no endpoint is set.
        run_if = !es::dynamo::testing::skip_without_dynamodb()
    );
}

/// The versions of an aggregate's stored events, and their metadata.
async fn history<A: Aggregate, S: EventStore>(store: &S, id: &str) -> Vec<(u64, es::Metadata)> {
    let root = A::load(store, id).await.expect("load");
    let events: Vec<_> = root.history().try_collect().await.expect("history");
    events
        .into_iter()
        .map(|e| (e.version, e.metadata))
        .collect()
}

fn versions(history: &[(u64, es::Metadata)]) -> Vec<u64> {
    history.iter().map(|(v, _)| *v).collect()
}

#[track_caller]
fn assert_ok(reply: &Reply, version: u64, duplicate: bool) {
    assert_eq!(
        (
            reply.status,
            &reply.body["version"],
            &reply.body["duplicate"]
        ),
        (200, &json!(version), &json!(duplicate)),
        "{reply:?}"
    );
    assert_eq!(reply.header("content-type"), Some("application/json"));
}

async fn buyers_never_oversell<S: EventStore>(store: S) {
    let server = serve(shop_service::router(store.clone())).await;
    let http = Http::new(&server);
    let restocked = http
        .post("/products/mug/restock", json!({"amount": 10}))
        .await;
    assert_ok(&restocked, 1, false);

    let buyers = (0..64).map(|i| {
        let http = http.clone();
        tokio::spawn(async move {
            http.post(
                "/products/mug/buy",
                json!({"cart_id": format!("cart-{i}"), "quantity": 1}),
            )
            .await
        })
    });
    let replies: Vec<Reply> = futures::future::join_all(buyers)
        .await
        .into_iter()
        .map(|r| r.expect("a buyer task"))
        .collect();

    let mut sold: Vec<u64> = Vec::new();
    let mut sold_out = 0;
    for reply in &replies {
        match reply.status {
            200 => sold.push(reply.body["version"].as_u64().expect("a version")),
            409 => {
                reply.assert_problem(409, "sold-out");
                assert_eq!(reply.body["available"], 0, "{reply:?}");
                sold_out += 1;
            }
            _ => panic!("neither sold nor sold out: {reply:?}"),
        }
    }
    sold.sort_unstable();
    assert_eq!(
        sold,
        (2..=11).collect::<Vec<u64>>(),
        "each sale its own version"
    );
    assert_eq!(sold_out, 54);

    let stored = history::<Product, S>(&store, "mug").await;
    assert_eq!(versions(&stored), (1..=11).collect::<Vec<u64>>());
    let product = http.get("/products/mug").await;
    assert_eq!(product.status, 200);
    assert_eq!(
        (&product.body["version"], &product.body["on_hand"]),
        (&json!(11), &json!(0))
    );
    let reserved = product.body["reserved"].as_object().expect("reserved");
    assert_eq!(reserved.len(), 10);
    assert!(reserved.values().all(|n| *n == 1), "{reserved:?}");
}

async fn idempotency_key_applies_once<S: EventStore>(store: S) {
    let server = serve(shop_service::router(store.clone())).await;
    let http = Http::new(&server);
    let key = |k: &'static str| [("idempotency-key", k)];

    // A restock, delivered twice: written once, answered alike.
    let first = http
        .post_with(
            "/products/mug/restock",
            &key("restock-1"),
            json!({"amount": 5}),
        )
        .await;
    assert_ok(&first, 1, false);
    let again = http
        .post_with(
            "/products/mug/restock",
            &key("restock-1"),
            json!({"amount": 5}),
        )
        .await;
    assert_ok(&again, 1, true);
    assert_eq!(again.body["product"]["on_hand"], 5);

    // A buy of the last units, delivered twice: the repeat's decision would
    // now be sold out, but it is the first delivery that answers.
    let bought = http
        .post_with(
            "/products/mug/buy",
            &key("buy-1"),
            json!({"cart_id": "c1", "quantity": 5}),
        )
        .await;
    assert_ok(&bought, 2, false);
    let again = http
        .post_with(
            "/products/mug/buy",
            &key("buy-1"),
            json!({"cart_id": "c1", "quantity": 5}),
        )
        .await;
    assert_ok(&again, 2, true);
    assert_eq!(again.body["product"]["on_hand"], 0);
    // The same buy without the key is a new command, and finds nothing left.
    http.post("/products/mug/buy", json!({"cart_id": "c1", "quantity": 5}))
        .await
        .assert_problem(409, "sold-out");

    let stored = history::<Product, S>(&store, "mug").await;
    assert_eq!(versions(&stored), [1, 2]);
    let keys: Vec<Option<&str>> = stored
        .iter()
        .map(|(_, m)| m.command_id.as_deref())
        .collect();
    assert_eq!(keys, [Some("restock-1"), Some("buy-1")]);

    // A key names one command: on another product it is refused.
    assert_ok(
        &http
            .post("/products/lamp/restock", json!({"amount": 3}))
            .await,
        1,
        false,
    );
    http.post_with(
        "/products/lamp/buy",
        &key("buy-1"),
        json!({"cart_id": "c1", "quantity": 1}),
    )
    .await
    .assert_problem(422, "idempotency-key-reused");

    // A checkout, delivered twice: one transaction, the same answer.
    let line = http
        .post_with(
            "/carts/c9/items",
            &key("line-1"),
            json!({"sku": "lamp", "quantity": 2}),
        )
        .await;
    assert_ok(&line, 1, false);
    let line = http
        .post_with(
            "/carts/c9/items",
            &key("line-1"),
            json!({"sku": "lamp", "quantity": 2}),
        )
        .await;
    assert_ok(&line, 1, true);
    let first = http
        .post_with("/carts/c9/checkout", &key("checkout-1"), shipping())
        .await;
    assert_ok(&first, 2, false);
    let again = http
        .post_with("/carts/c9/checkout", &key("checkout-1"), shipping())
        .await;
    assert_ok(&again, 2, true);
    assert_eq!(first.body["cart"], again.body["cart"]);
    // Without the key (or with another), it is a second checkout, refused.
    http.post_with("/carts/c9/checkout", &key("checkout-2"), shipping())
        .await
        .assert_problem(409, "cart-checked-out");

    assert_eq!(versions(&history::<Cart, S>(&store, "c9").await), [1, 2]);
    let lamp = history::<Product, S>(&store, "lamp").await;
    assert_eq!(versions(&lamp), [1, 2]);
    assert_eq!(lamp[1].1.command_id.as_deref(), Some("checkout-1"));
    let lamp = http.get("/products/lamp").await;
    assert_eq!(
        (&lamp.body["on_hand"], &lamp.body["reserved"]),
        (&json!(1), &json!({"c9": 2}))
    );
}

/// A bad request and its answer: method, path, headers, body, then the
/// status, the rule, and a word the detail must name.
type Case<'a> = (
    &'a str,
    String,
    &'a [(&'a str, &'a str)],
    Option<String>,
    u16,
    &'a str,
    &'a str,
);

async fn bad_input_is_a_clear_4xx<S: EventStore>(store: S) {
    let server = serve(shop_service::router(store.clone())).await;
    let http = Http::new(&server);
    assert_ok(
        &http
            .post("/products/mug/restock", json!({"amount": 10}))
            .await,
        1,
        false,
    );
    let long_id = "x".repeat(1025);
    let longest_id = "x".repeat(1024);
    let long_key = "k".repeat(1025);
    let big_body = format!(r#"{{"cart_id": "{}", "quantity": 1}}"#, "c".repeat(20_000));
    let buy = "/products/mug/buy";
    let json = [("content-type", "application/json")];
    let long_key_headers = [
        ("content-type", "application/json"),
        ("idempotency-key", long_key.as_str()),
    ];
    let empty_key_headers = [
        ("content-type", "application/json"),
        ("idempotency-key", ""),
    ];
    let cases: Vec<Case> = vec![
        (
            "POST",
            buy.into(),
            &json,
            Some(r#"{"cart_id": "c1", "quantity": 1"#.into()),
            400,
            "malformed-json",
            "EOF",
        ),
        (
            "POST",
            buy.into(),
            &json,
            Some("not json".into()),
            400,
            "malformed-json",
            "JSON",
        ),
        (
            "POST",
            buy.into(),
            &json,
            Some(r#"{"cart_id": "c1"}"#.into()),
            400,
            "invalid-body",
            "quantity",
        ),
        (
            "POST",
            buy.into(),
            &json,
            Some(r#"{"quantity": 1}"#.into()),
            400,
            "invalid-body",
            "cart_id",
        ),
        (
            "POST",
            buy.into(),
            &json,
            Some("[]".into()),
            400,
            "invalid-body",
            "deserialize",
        ),
        (
            "POST",
            buy.into(),
            &json,
            Some(r#"{"cart_id": "c1", "quantity": "2"}"#.into()),
            400,
            "invalid-body",
            "quantity",
        ),
        (
            "POST",
            buy.into(),
            &json,
            Some(r#"{"cart_id": 7, "quantity": 2}"#.into()),
            400,
            "invalid-body",
            "cart_id",
        ),
        (
            "POST",
            buy.into(),
            &json,
            Some(r#"{"cart_id": "c1", "quantity": 0}"#.into()),
            400,
            "quantity-out-of-range",
            "quantity",
        ),
        (
            "POST",
            buy.into(),
            &json,
            Some(r#"{"cart_id": "c1", "quantity": -1}"#.into()),
            400,
            "quantity-out-of-range",
            "-1",
        ),
        (
            "POST",
            buy.into(),
            &json,
            Some(r#"{"cart_id": "c1", "quantity": 1000001}"#.into()),
            400,
            "quantity-out-of-range",
            "1000001",
        ),
        (
            "POST",
            buy.into(),
            &json,
            Some(r#"{"cart_id": "c1", "quantity": 4294967296}"#.into()),
            400,
            "quantity-out-of-range",
            "4294967296",
        ),
        (
            "POST",
            buy.into(),
            &json,
            Some(r#"{"cart_id": "c1", "quantity": 18446744073709551616}"#.into()),
            400,
            "quantity-out-of-range",
            "quantity",
        ),
        (
            "POST",
            buy.into(),
            &json,
            Some(r#"{"cart_id": "c1", "quantity": 1e30}"#.into()),
            400,
            "quantity-out-of-range",
            "quantity",
        ),
        (
            "POST",
            buy.into(),
            &json,
            Some(r#"{"cart_id": "c1", "quantity": 2.5}"#.into()),
            400,
            "quantity-out-of-range",
            "2.5",
        ),
        (
            "POST",
            "/products/mug/restock".into(),
            &json,
            Some(r#"{"amount": 0}"#.into()),
            400,
            "quantity-out-of-range",
            "amount",
        ),
        (
            "POST",
            "/products/mug/restock".into(),
            &json,
            Some(r#"{"amount": -5}"#.into()),
            400,
            "quantity-out-of-range",
            "amount",
        ),
        (
            "POST",
            buy.into(),
            &json,
            Some(r#"{"cart_id": "", "quantity": 1}"#.into()),
            400,
            "invalid-id",
            "empty",
        ),
        (
            "POST",
            buy.into(),
            &json,
            Some(format!(r#"{{"cart_id": "{long_id}", "quantity": 1}}"#)),
            400,
            "invalid-id",
            "1024 bytes",
        ),
        (
            "POST",
            format!("/products/{long_id}/buy"),
            &json,
            Some(r#"{"cart_id": "c1", "quantity": 1}"#.into()),
            400,
            "invalid-id",
            "1024 bytes",
        ),
        (
            "POST",
            format!("/products/{long_id}/restock"),
            &json,
            Some(r#"{"amount": 1}"#.into()),
            400,
            "invalid-id",
            "1024 bytes",
        ),
        (
            "GET",
            format!("/products/{long_id}"),
            &[],
            None,
            400,
            "invalid-id",
            "1024 bytes",
        ),
        (
            "GET",
            format!("/products/{longest_id}"),
            &[],
            None,
            404,
            "product-not-found",
            "no events",
        ),
        (
            "POST",
            format!("/carts/{long_id}/checkout"),
            &[],
            None,
            400,
            "invalid-id",
            "1024 bytes",
        ),
        (
            "POST",
            "/products/%FF/buy".into(),
            &json,
            Some(r#"{"cart_id": "c1", "quantity": 1}"#.into()),
            400,
            "invalid-path",
            "UTF-8",
        ),
        (
            "POST",
            buy.into(),
            &[],
            Some(r#"{"cart_id": "c1", "quantity": 1}"#.into()),
            415,
            "unsupported-media-type",
            "Content-Type",
        ),
        (
            "POST",
            buy.into(),
            &[("content-type", "text/plain")],
            Some(r#"{"cart_id": "c1", "quantity": 1}"#.into()),
            415,
            "unsupported-media-type",
            "Content-Type",
        ),
        (
            "POST",
            buy.into(),
            &json,
            Some(big_body),
            413,
            "body-too-large",
            "length limit",
        ),
        (
            "POST",
            buy.into(),
            &long_key_headers,
            Some(r#"{"cart_id": "c1", "quantity": 1}"#.into()),
            400,
            "invalid-idempotency-key",
            "1024 bytes",
        ),
        (
            "POST",
            buy.into(),
            &empty_key_headers,
            Some(r#"{"cart_id": "c1", "quantity": 1}"#.into()),
            400,
            "invalid-idempotency-key",
            "empty",
        ),
        (
            "GET",
            "/products/nope".into(),
            &[],
            None,
            404,
            "product-not-found",
            "nope",
        ),
        (
            "GET",
            "/carts/nope".into(),
            &[],
            None,
            404,
            "cart-not-found",
            "nope",
        ),
        (
            "POST",
            "/carts/nope/checkout".into(),
            &json,
            Some(SHIPPING.into()),
            404,
            "cart-not-found",
            "nope",
        ),
        (
            "POST",
            "/carts/c1/checkout".into(),
            &json,
            Some(r#"{"customer": "", "email": "a@b.c", "address": {"line1": "1", "city": "x", "country": "US"}}"#.into()),
            422,
            "shipping-invalid",
            "customer",
        ),
        (
            "POST",
            "/carts/c1/checkout".into(),
            &json,
            Some(r#"{"customer": "c", "email": "not an email", "address": {"line1": "1", "city": "x", "country": "US"}}"#.into()),
            422,
            "shipping-invalid",
            "email",
        ),
        (
            "DELETE",
            "/customers/%20".into(),
            &[],
            None,
            400,
            "invalid-id",
            "customer id",
        ),
        (
            "POST",
            "/carts/c1/items".into(),
            &json,
            Some(r#"{"sku": "nope", "quantity": 1}"#.into()),
            404,
            "product-not-found",
            "nope",
        ),
        (
            "GET",
            "/nope".into(),
            &[],
            None,
            404,
            "no-such-route",
            "/nope",
        ),
        (
            "GET",
            "/products/mug/buy/now".into(),
            &[],
            None,
            404,
            "no-such-route",
            "/products/mug/buy/now",
        ),
        (
            "DELETE",
            "/products".into(),
            &json,
            Some("{}".into()),
            405,
            "method-not-allowed",
            "DELETE",
        ),
        (
            "POST",
            "/products".into(),
            &json,
            Some("{}".into()),
            400,
            "invalid-body",
            "amount",
        ),
        (
            "POST",
            "/carts".into(),
            &json,
            Some(r#"{"sku": "mug", "quantity": 0}"#.into()),
            400,
            "quantity-out-of-range",
            "quantity",
        ),
        (
            "GET",
            buy.into(),
            &[],
            None,
            405,
            "method-not-allowed",
            "GET",
        ),
        (
            "DELETE",
            "/products/mug".into(),
            &[],
            None,
            405,
            "method-not-allowed",
            "DELETE",
        ),
        (
            "GET",
            "/products?limit=0".into(),
            &[],
            None,
            400,
            "invalid-query",
            "limit",
        ),
        (
            "GET",
            "/products?limit=101".into(),
            &[],
            None,
            400,
            "invalid-query",
            "limit",
        ),
        (
            "GET",
            "/products?limit=ten".into(),
            &[],
            None,
            400,
            "invalid-query",
            "limit",
        ),
        (
            "GET",
            "/products?cursor=zz".into(),
            &[],
            None,
            400,
            "invalid-cursor",
            "cursor",
        ),
        (
            "GET",
            "/products?cursor=6e6f".into(),
            &[],
            None,
            400,
            "invalid-cursor",
            "cursor",
        ),
    ];
    for (method, path, headers, body, status, rule, named) in cases {
        let reply = http.send(method, &path, headers, body.as_deref()).await;
        let detail = reply.assert_problem(status, rule);
        assert!(
            detail.contains(named),
            "{method} {}: {detail:?} should name {named:?}",
            &path[..path.len().min(80)]
        );
    }
    // Nothing above wrote anything.
    let ids: Vec<String> = Product::ids(&store).try_collect().await.expect("ids");
    assert_eq!(ids, ["mug"]);
    assert_eq!(versions(&history::<Product, S>(&store, "mug").await), [1]);
    let carts: Vec<String> = Cart::ids(&store).try_collect().await.expect("ids");
    assert!(carts.is_empty(), "{carts:?}");
}

async fn events_carry_request_and_trace_ids<S: EventStore>(store: S) {
    let server = serve(shop_service::router(store.clone())).await;
    let http = Http::new(&server);
    let trace = "Root=1-67891233-abcdef012345678912345678;Parent=463ac35c9f6413ad;Sampled=1";
    let traced = http
        .post_with(
            "/products/mug/restock",
            &[("x-amzn-trace-id", trace)],
            json!({"amount": 3}),
        )
        .await;
    assert_ok(&traced, 1, false);
    let untraced = http
        .post_with(
            "/products/mug/buy",
            &[("idempotency-key", "buy-7")],
            json!({"cart_id": "c1", "quantity": 1}),
        )
        .await;
    assert_ok(&untraced, 2, false);
    let request_id = |r: &Reply| r.header("x-request-id").expect("x-request-id").to_owned();
    let (first, second) = (request_id(&traced), request_id(&untraced));
    assert_ne!(first, second);

    let stored = history::<Product, S>(&store, "mug").await;
    let metadata: Vec<&es::Metadata> = stored.iter().map(|(_, m)| m).collect();
    assert_eq!(
        metadata[0],
        &es::Metadata {
            correlation_id: Some("1-67891233-abcdef012345678912345678".into()),
            causation_id: Some(first),
            ..es::Metadata::default()
        }
    );
    // No trace: the request is its own flow. A keyed request's events
    // also carry its fingerprint (tests/service/idempotency.rs).
    let mut keyed = metadata[1].clone();
    let fingerprint = keyed.extra.remove("requestFingerprint");
    assert!(
        fingerprint
            .as_ref()
            .and_then(|f| f.as_str())
            .is_some_and(|f| f.starts_with("fnv1a128:")),
        "{fingerprint:?}"
    );
    assert_eq!(
        keyed,
        es::Metadata {
            correlation_id: Some(second.clone()),
            causation_id: Some(second),
            command_id: Some("buy-7".into()),
            ..es::Metadata::default()
        }
    );
}

async fn checkout_reserves_every_line_at_once<S: EventStore>(store: S) {
    let server = serve(shop_service::router(store.clone())).await;
    let http = Http::new(&server);
    for (sku, amount) in [("mug", 2), ("lamp", 1)] {
        assert_ok(
            &http
                .post(
                    &format!("/products/{sku}/restock"),
                    json!({"amount": amount}),
                )
                .await,
            1,
            false,
        );
    }
    let add = |cart: &'static str, sku: &'static str, quantity: u32| {
        let http = http.clone();
        async move {
            http.post(
                &format!("/carts/{cart}/items"),
                json!({"sku": sku, "quantity": quantity}),
            )
            .await
        }
    };
    assert_ok(&add("alice", "mug", 1).await, 1, false);
    assert_ok(&add("alice", "lamp", 1).await, 2, false);
    assert_ok(&add("bob", "mug", 1).await, 1, false);
    assert_ok(&add("bob", "lamp", 1).await, 2, false);

    http.post("/carts/nobody/checkout", shipping())
        .await
        .assert_problem(404, "cart-not-found");
    let alice = http.post("/carts/alice/checkout", shipping()).await;
    assert_ok(&alice, 3, false);
    assert_eq!(
        alice.body["cart"],
        json!({"id": "alice", "version": 3, "lines": {"lamp": 1, "mug": 1}, "checked_out": true})
    );
    // Bob's lamp is gone: his checkout reserves nothing, not even the mug.
    let bob = http.post("/carts/bob/checkout", shipping()).await;
    bob.assert_problem(409, "sold-out");
    let mug = http.get("/products/mug").await;
    assert_eq!(
        mug.body,
        json!({"id": "mug", "version": 2, "on_hand": 1, "reserved": {"alice": 1}})
    );
    let bob = http.get("/carts/bob").await;
    assert_eq!(bob.body["checked_out"], false);
    add("alice", "mug", 1)
        .await
        .assert_problem(409, "cart-checked-out");
}

async fn products_page_with_a_cursor<S: EventStore>(store: S) {
    let server = serve(shop_service::router(store.clone())).await;
    let http = Http::new(&server);
    let empty = http.get("/products").await;
    assert_eq!(
        (empty.status, &empty.body),
        (200, &json!({"items": [], "next": null}))
    );
    // Ids that need escaping in a URL and in a cursor.
    let skus = ["a", "b/c", "d e", "ü#1", "f"];
    for sku in skus {
        let path = format!("/products/{}/restock", percent_encode(sku));
        assert_ok(&http.post(&path, json!({"amount": 1})).await, 1, false);
    }
    let mut seen: Vec<String> = Vec::new();
    let mut path = "/products?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let page = http.get(&path).await;
        assert_eq!(page.status, 200, "{page:?}");
        pages += 1;
        let items = page.body["items"].as_array().expect("items").clone();
        assert!(items.len() <= 2, "{page:?}");
        for item in &items {
            assert_eq!((&item["version"], &item["on_hand"]), (&json!(1), &json!(1)));
            seen.push(item["id"].as_str().expect("id").to_owned());
        }
        match &page.body["next"] {
            Value::Null => break,
            Value::String(cursor) => path = format!("/products?limit=2&cursor={cursor}"),
            other => panic!("next: {other:?}"),
        }
        assert!(pages < 10, "pages never end");
    }
    let mut expected: Vec<String> = skus.iter().map(|s| s.to_string()).collect();
    seen.sort();
    expected.sort();
    assert_eq!(seen, expected);
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Counts refuse to pass `u32::MAX` rather than wrap or panic, however many
/// requests add to them (each is at most a million).
#[test]
fn counts_never_wrap() {
    Product::given([ProductRestocked { amount: u32::MAX }])
        .when(ProductRestocked { amount: 1 })
        .then_error(ProductError::TooManyUnits);
}
