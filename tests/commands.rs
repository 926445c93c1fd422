//! Commands that never oversell, on both stores: conflict retries, idempotent
//! commands and atomic checkout across aggregates. `store_failures` checks
//! how checkout handles the store failures only DynamoDB produces, injected
//! into a `MemoryStore`.

#[path = "../examples/shopping/shop.rs"]
#[allow(dead_code)]
mod shop;
#[path = "commands/store_failures.rs"]
mod store_failures;

use es::prelude::*;
use es::StatsSnapshot;
use shop::*;

/// Defines the command tests against one store.
macro_rules! command_tests {
    ($store:expr, run_if = $cond:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn concurrent_buyers_never_oversell() {
            if $cond {
                super::concurrent_buyers_never_oversell(&$store.await).await
            }
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn duplicate_command_applies_once() {
            if $cond {
                super::duplicate_command_applies_once(&$store.await).await
            }
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn checkout_is_all_or_nothing() {
            if $cond {
                super::checkout_is_all_or_nothing(&$store.await).await
            }
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn conflict_retry_reads_only_new_events() {
            if $cond {
                let store = $store.await;
                let elsewhere = store.as_another_process();
                super::conflict_retry_reads_only_new_events(&store, &elsewhere).await
            }
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn oversized_transactions_write_nothing() {
            if $cond {
                super::oversized_transactions_write_nothing(&$store.await).await
            }
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn rejections_are_not_retried() {
            if $cond {
                super::rejections_are_not_retried(&$store.await).await
            }
        }
    };
}

mod memory {
    command_tests!(async { es::MemoryStore::new() }, run_if = true);
}

mod dynamo {
    command_tests!(
        es_dynamo::testing::store_on_new_table("commands"),
        // Says on stderr when it skips: no endpoint is set.
        run_if = !es_dynamo::testing::skip_without_dynamodb()
    );
}

async fn restocked<S: EventStore>(store: &S, sku: &str, amount: u32) -> Root<Product, S> {
    let mut product = Product::load(store, sku).await.expect("load");
    product
        .commit(ProductRestocked { amount })
        .await
        .expect("restock");
    product
}

/// Fills the open cart "cart" with `lines` of (sku, quantity), in one commit.
async fn cart_of<S: EventStore>(store: &S, lines: impl IntoIterator<Item = (&str, u32)>) {
    let mut cart = Cart::load(store, "cart").await.expect("load");
    let added: Vec<ItemAdded> = lines
        .into_iter()
        .map(|(sku, quantity)| ItemAdded {
            sku: sku.to_owned(),
            quantity,
        })
        .collect();
    cart.commit_all(added).await.expect("fill the cart");
}

fn cost<S: EventStore>(store: &S, before: StatsSnapshot) -> StatsSnapshot {
    store.stats().snapshot() - before
}

async fn concurrent_buyers_never_oversell<S: EventStore>(store: &S) {
    restocked(store, "lamp", 10).await;
    let buyers: Vec<_> = (0..64)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let cart = format!("cart-{n}");
                Product::execute(&store, "lamp", |p| p.reserve(&cart, 1))
                    .await
                    .map(|done| (cart, done.version))
            })
        })
        .collect();
    let (mut sold, mut sold_out) = (Vec::new(), 0);
    for buyer in buyers {
        match buyer.await.expect("buyer task") {
            Ok(sale) => sold.push(sale),
            Err(Error::Rejected(ProductError::SoldOut {
                available: 0,
                requested: 1,
            })) => sold_out += 1,
            Err(other) => panic!("a buyer must succeed or be told it is sold out, got {other:?}"),
        }
    }
    assert_eq!(
        (sold.len(), sold_out),
        (10, 54),
        "exactly 10 sales and 54 sold-out answers"
    );

    let product = Product::get(store, "lamp").await.expect("load");
    assert_eq!((product.on_hand, product.version()), (0, 11));
    let history: Vec<_> = product.history().try_collect().await.expect("history");
    let versions: Vec<u64> = history.iter().map(|r| r.version).collect();
    assert_eq!(
        versions,
        (1..=11).collect::<Vec<_>>(),
        "versions 1..=11, no gaps, no duplicates"
    );
    let mut recorded: Vec<(String, u64)> = history[1..]
        .iter()
        .map(|r| match &r.event {
            ProductEvent::ProductReserved(e) => (e.cart_id.clone(), r.version),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    recorded.sort();
    sold.sort();
    assert_eq!(
        recorded, sold,
        "each buyer told it won holds exactly the version it was told"
    );
}

async fn duplicate_command_applies_once<S: EventStore>(store: &S) {
    restocked(store, "tea", 5).await;
    let reserve = |key: &str, cart: &'static str| {
        Product::command(store, "tea")
            .idempotency_key(key)
            .execute(move |p| p.reserve(cart, 1))
    };

    // One after the other.
    let first = reserve("order-1", "cart-a").await.expect("first delivery");
    let second = reserve("order-1", "cart-a").await.expect("second delivery");
    assert_eq!((first.version, first.duplicate), (2, false));
    assert_eq!(
        (second.version, second.duplicate),
        (2, true),
        "the second delivery returns the first's outcome"
    );
    assert_eq!(second.root.version(), 2, "and writes nothing");

    // At the same time.
    let deliveries: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                Product::command(&store, "tea")
                    .idempotency_key("order-2")
                    .execute(|p| p.reserve("cart-b", 1))
                    .await
                    .map(|done| (done.version, done.duplicate))
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for d in deliveries {
        outcomes.push(d.await.expect("task").expect("every delivery succeeds"));
    }
    let written: Vec<_> = outcomes
        .iter()
        .filter(|(_, duplicate)| !duplicate)
        .collect();
    assert_eq!(
        written.len(),
        1,
        "exactly one concurrent delivery writes: {outcomes:?}"
    );
    assert!(
        outcomes.iter().all(|(v, _)| *v == 3),
        "all report the one write's version: {outcomes:?}"
    );

    let product = Product::get(store, "tea").await.expect("load");
    assert_eq!(
        (product.version(), product.on_hand),
        (3, 3),
        "two keys, two events"
    );
    assert_eq!(product.reserved.get("cart-a"), Some(&1));
    assert_eq!(product.reserved.get("cart-b"), Some(&1));
}

async fn checkout_is_all_or_nothing<S: EventStore>(store: &S) {
    restocked(store, "a", 5).await;
    restocked(store, "b", 5).await;
    restocked(store, "c", 1).await;
    cart_of(store, [("a", 2), ("b", 2), ("c", 3)]).await;

    let before = store.stats().snapshot();
    let err = checkout(
        store,
        "cart",
        &Shipping::example("cust-1"),
        es::Retry::attempts(3),
    )
    .await
    .expect_err("line c is sold out");
    assert_eq!(
        err.sold_out(),
        Some(&ProductError::SoldOut {
            available: 1,
            requested: 3
        }),
        "got {err:?}"
    );
    assert_eq!(
        cost(store, before).writes,
        0,
        "a rejected checkout sends no write"
    );
    for sku in ["a", "b", "c"] {
        let p = Product::get(store, sku).await.expect("load");
        assert_eq!(
            (p.version(), p.reserved.len()),
            (1, 0),
            "{sku} is unchanged"
        );
    }
    let cart = Cart::get(store, "cart").await.expect("load");
    assert_eq!(
        (cart.version(), cart.checked_out),
        (3, false),
        "the cart is unchanged"
    );

    // Once c has stock, the same checkout commits every line in one write.
    restocked(store, "c", 2).await;
    let before = store.stats().snapshot();
    assert_eq!(
        checkout(
            store,
            "cart",
            &Shipping::example("cust-1"),
            es::Retry::attempts(3)
        )
        .await
        .expect("checkout"),
        1
    );
    assert_eq!(
        cost(store, before).writes,
        1,
        "one atomic write for four aggregates"
    );
    let on_hand: Vec<u32> =
        futures::future::try_join_all(["a", "b", "c"].map(|sku| Product::get(store, sku)))
            .await
            .expect("load")
            .iter()
            .map(|p| p.on_hand)
            .collect();
    assert_eq!(on_hand, vec![3, 3, 0]);
    assert!(Cart::get(store, "cart").await.expect("load").checked_out);
}

/// `elsewhere` is another process on the same data: what it writes, `store`
/// only learns from a conflict.
async fn conflict_retry_reads_only_new_events<S: EventStore>(store: &S, elsewhere: &S) {
    let mut product = restocked(store, "mug", 100).await;
    for _ in 0..19 {
        product
            .commit(ProductRestocked { amount: 1 })
            .await
            .expect("commit");
    }
    let stale = Product::load(store, "mug").await.expect("load");
    let mut other = Product::load(elsewhere, "mug").await.expect("load");
    other
        .commit_all([
            ProductRestocked { amount: 1 },
            ProductRestocked { amount: 1 },
        ])
        .await
        .expect("commit");

    let before = store.stats().snapshot();
    let done = Product::command(store, "mug")
        .on(stale)
        .execute(|p| p.reserve("c", 1))
        .await
        .expect("execute");
    let cost = cost(store, before);
    assert_eq!(
        (done.attempts, done.version),
        (2, 23),
        "one conflict, then success at version 23"
    );
    // The retry's only read is the catch-up: one request for the 2 events
    // written meanwhile, never the 20 before, and no lookup of the version.
    assert_eq!(
        (cost.reads, cost.items_read),
        (1, 2),
        "the retry should read the 2 new events in one request"
    );
    assert_eq!(cost.writes, 2, "the conflicted write and the retried one");
    assert_eq!(done.root.on_hand, 120);
}

async fn oversized_transactions_write_nothing<S: EventStore>(store: &S) {
    let mut a = Product::load(store, "a").await.expect("load");
    let mut b = Product::load(store, "b").await.expect("load");
    let restocks = |n: usize| {
        (0..n)
            .map(|_| ProductRestocked { amount: 1 })
            .collect::<Vec<_>>()
    };
    let before = store.stats().snapshot();
    let mut tx = es::Transaction::new(store);
    tx.append(&mut a, restocks(60)).expect("stage a");
    tx.append(&mut b, restocks(41)).expect("stage b");
    assert_eq!(tx.len(), 101);
    let err = tx.commit().await.expect_err("101 items in one transaction");
    assert!(
        matches!(
            err,
            Error::TooLarge {
                limit: es::Limit::TransactionItems,
                actual: 101,
                max: 100,
                ..
            }
        ),
        "got {err:?}"
    );
    assert_eq!(cost(store, before).writes, 0, "nothing was sent");
    assert_eq!(
        (a.version(), b.version()),
        (0, 0),
        "the handles are unchanged"
    );
    assert!(Product::find_one(store, "a").await.expect("load").is_none());
    assert!(Product::find_one(store, "b").await.expect("load").is_none());
}

async fn rejections_are_not_retried<S: EventStore>(store: &S) {
    restocked(store, "pen", 1).await;
    let before = store.stats().snapshot();
    let err = Product::execute(store, "pen", |p| p.reserve("c", 2))
        .await
        .expect_err("sold out");
    assert!(
        matches!(
            err,
            Error::Rejected(ProductError::SoldOut {
                available: 1,
                requested: 2
            })
        ),
        "got {err:?}"
    );
    let cost = cost(store, before);
    assert_eq!(
        (cost.reads, cost.writes),
        (1, 0),
        "one load, no write, no retry"
    );
}

#[tokio::test]
async fn a_command_without_retries_returns_the_first_conflict() {
    let store = es::MemoryStore::new();
    // Writes of another process, which this one only learns of from a
    // conflict.
    let elsewhere = store.as_another_process();
    restocked(&store, "ink", 5).await;
    let stale = Product::load(&store, "ink").await.expect("load");
    restocked(&elsewhere, "ink", 1).await;
    let err = Product::command(&store, "ink")
        .on(stale)
        .retry(es::Retry::never())
        .execute(|p| p.reserve("c", 1))
        .await
        .expect_err("stale");
    assert!(
        matches!(
            err,
            Error::Conflict {
                expected: 1,
                actual: 2,
                ..
            }
        ),
        "got {err:?}"
    );
    let limited = es::Retry {
        max_attempts: 2,
        ..es::Retry::default()
    };
    let stale = Product::load(&store, "ink").await.expect("load");
    restocked(&elsewhere, "ink", 1).await;
    let done = Product::command(&store, "ink")
        .on(stale)
        .retry(limited)
        .execute(|p| p.reserve("c", 1))
        .await
        .expect("second attempt");
    assert_eq!((done.attempts, done.version), (2, 4));
}
