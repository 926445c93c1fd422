//! Hot aggregates: commands on one aggregate in one process take turns, a
//! cached aggregate costs one request per command, and several processes
//! writing one aggregate through caches stay correct. Each test runs on both
//! stores; the DynamoDB ones on DynamoDB Local (`scripts/test.sh`).

#[path = "../examples/shopping/rush.rs"]
#[allow(dead_code)]
mod rush;
#[path = "../examples/shopping/shop.rs"]
#[allow(dead_code)]
mod shop;

use es::prelude::*;
use shop::*;

/// Runs `$body` as a test on each store: `memory::$name` and `dynamo::$name`.
/// `$store` is a fresh store of each kind, with no cache.
macro_rules! on_both_stores {
    ($name:ident, |$store:ident| $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn memory() {
                let $store = MemoryStore::new();
                $body
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn dynamo() {
                if es_dynamo::testing::skip_without_dynamodb() {
                    return;
                }
                let $store = es_dynamo::testing::store_on_new_table(stringify!($name)).await;
                $body
            }
        }
    };
}

async fn restocked<S: EventStore>(store: &S, sku: &str, amount: u32) -> es::Executed<Product, S> {
    Product::execute(store, sku, |_| Ok(ProductRestocked { amount }))
        .await
        .expect("restock")
}

on_both_stores!(same_process_commands_never_conflict, |store| {
    restocked(&store, "sku-hot", 1_000).await;
    let shared = Product::load(&store, "sku-hot").await.expect("load");
    let before = store.stats().snapshot();
    // 64 buyers at once: half through `execute`, half from a handle they
    // all share, loaded before any of them wrote.
    let buyers: Vec<_> = (0..64)
        .map(|n| {
            let (store, shared) = (store.clone(), shared.clone());
            tokio::spawn(async move {
                let cart = format!("cart-{n}");
                let command = Product::command(&store, "sku-hot");
                let command = if n % 2 == 0 {
                    command.on(shared)
                } else {
                    command
                };
                command.execute(|p| p.reserve(&cart, 1)).await
            })
        })
        .collect();
    for buyer in buyers {
        let done = buyer.await.expect("task").expect("reserve");
        assert_eq!(
            done.attempts, 1,
            "a command conflicted with one of its own process"
        );
    }
    let cost = store.stats().snapshot() - before;
    assert_eq!(
        (cost.writes, cost.items_written),
        (64, 64),
        "no write failed its condition: {cost:?}"
    );
    let product = Product::load(&store, "sku-hot").await.expect("load");
    assert_eq!(
        (product.version(), product.on_hand, product.reserved.len()),
        (65, 936, 64)
    );
});

on_both_stores!(cached_command_costs_one_request, |store| {
    let store = store.with_cache(100);
    // The first command reads; the ones after decide on the cached state.
    let before = store.stats().snapshot();
    restocked(&store, "sku-warm", 10).await;
    let cold = store.stats().snapshot() - before;
    assert_eq!((cold.reads, cold.writes), (1, 1), "{cold:?}");
    for n in 0..10 {
        let before = store.stats().snapshot();
        let done = Product::execute(&store, "sku-warm", |p| p.reserve(&format!("cart-{n}"), 1))
            .await
            .expect("reserve");
        let warm = store.stats().snapshot() - before;
        assert_eq!(
            (warm.requests, warm.writes, warm.reads),
            (1, 1, 0),
            "a command on a cached aggregate is its conditional write alone: {warm:?}"
        );
        assert_eq!((done.version, done.root.on_hand), (n + 2, 9 - n as u32));
    }
    // A refusal decided on a cached state is checked with one read first:
    // a refusal is only ever given on the latest state.
    let before = store.stats().snapshot();
    let refused = Product::execute(&store, "sku-warm", |p| p.reserve("cart-x", 1)).await;
    let cost = store.stats().snapshot() - before;
    assert!(
        matches!(
            refused,
            Err(es::Error::Rejected(ProductError::SoldOut { .. }))
        ),
        "{refused:?}"
    );
    assert_eq!(
        (cost.requests, cost.reads, cost.writes),
        (1, 1, 0),
        "{cost:?}"
    );
    // A fresh load agrees with what the cache held.
    let loaded = Product::load(&store, "sku-warm").await.expect("load");
    assert_eq!((loaded.version(), loaded.on_hand), (11, 0));
});

on_both_stores!(cache_stays_correct_across_processes, |store| {
    let a = store.clone().with_cache(100);
    let b = a.as_another_process();
    restocked(&a, "sku-shared", 2).await;
    // `b` has not seen the product; it reads, then writes version 2.
    restocked(&b, "sku-shared", 3).await;
    // `a`'s cache is at version 1: its write fails its condition, and it
    // reads only the one event it missed before it decides again.
    let before = a.stats().snapshot();
    let done = Product::execute(&a, "sku-shared", |p| p.reserve("cart-a", 1))
        .await
        .expect("reserve");
    let cost = a.stats().snapshot() - before;
    assert_eq!((done.version, done.root.on_hand, done.attempts), (3, 4, 2));
    assert_eq!(
        (cost.writes, cost.reads, cost.items_read),
        (2, 1, 1),
        "{cost:?}"
    );
    restocked(&a, "sku-shared", 4).await;
    // `b`'s cache is at version 2, with 5 on hand; there are 8. A refusal
    // decided on a cached state is checked first: the latest state accepts.
    let done = Product::execute(&b, "sku-shared", |p| p.reserve("cart-b", 6))
        .await
        .expect("reserve: refused on the stale cache, accepted on the latest state");
    assert_eq!((done.version, done.root.on_hand, done.attempts), (5, 2, 1));
    // `a`'s cache is at version 4, with 8 on hand; there are 2. Its write
    // fails, and the latest state refuses.
    let refused = Product::execute(&a, "sku-shared", |p| p.reserve("cart-a", 3)).await;
    assert!(
        matches!(
            refused,
            Err(es::Error::Rejected(ProductError::SoldOut {
                available: 2,
                ..
            }))
        ),
        "{refused:?}"
    );
    // Both processes at once, 16 commands each, on caches that go stale
    // with every write of the other.
    let tasks: Vec<_> = (0..32)
        .map(|n| {
            let store = if n % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { restocked(&store, "sku-shared", 1).await.version })
        })
        .collect();
    let mut versions = Vec::new();
    for task in tasks {
        versions.push(task.await.expect("task"));
    }
    versions.sort_unstable();
    assert_eq!(
        versions,
        (6..=37).collect::<Vec<u64>>(),
        "each command wrote one version of its own"
    );
    let fresh = store.as_another_process();
    let product = Product::load(&fresh, "sku-shared").await.expect("load");
    assert_eq!((product.version(), product.on_hand), (37, 34));
    for process in [&a, &b] {
        let next = restocked(process, "sku-shared", 1).await;
        assert_eq!(
            next.root.on_hand,
            34 + u32::try_from(next.version - 37).expect("small")
        );
    }
});

on_both_stores!(rush_has_no_exhausted_commands, |store| {
    let plan = rush::Rush::default();
    let run = format!("-{}", std::process::id());
    let report = rush::run(&store, plan, &run).await;
    eprintln!(
        "rush: {} acknowledged, {} rejected, {} exhausted; {:.3} attempts per command",
        report.acknowledged,
        report.rejected,
        report.exhausted,
        report.attempts_per_command()
    );
    assert_eq!(
        report.exhausted, 0,
        "commands exhausted their retries: {:?}",
        report.failures
    );
    assert!(report.acknowledged > plan.commands / 3, "{report:?}");
    let problems = rush::check(&store, &plan, &run, &report).await;
    assert!(problems.is_empty(), "{problems:#?}");
});

on_both_stores!(
    a_handle_this_process_moved_past_catches_up_before_it_writes,
    |store| {
        restocked(&store, "sku-old", 5).await;
        let stale = Product::load(&store, "sku-old").await.expect("load");
        restocked(&store, "sku-old", 1).await;
        restocked(&store, "sku-old", 1).await;
        let before = store.stats().snapshot();
        let done = Product::command(&store, "sku-old")
            .on(stale)
            .execute(|p| p.reserve("cart", 7))
            .await
            .expect("reserve: the handle shows 5, the aggregate holds 7");
        let cost = store.stats().snapshot() - before;
        assert_eq!((done.version, done.attempts, done.root.on_hand), (4, 1, 0));
        assert_eq!(
            (cost.reads, cost.items_read, cost.writes),
            (1, 2, 1),
            "one read of the two events it had not seen, one write: {cost:?}"
        );
    }
);
