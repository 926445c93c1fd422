//! Bucketed stock (`es::buckets`), on the shop's hot products
//! (`examples/shopping/hot.rs`): many independent writers never oversell,
//! "sold out" is never said while the buckets together hold enough, and
//! rebalancing conserves the stock. Each test runs on both stores; the
//! DynamoDB ones on DynamoDB Local (`scripts/test.sh`).

#[path = "../examples/shopping/hot.rs"]
#[allow(dead_code)]
mod hot;
#[path = "../examples/shopping/shop.rs"]
#[allow(dead_code)]
mod shop;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use es::buckets::Buckets;
use es::prelude::*;
use hot::*;
use shop::ProductError;

/// Runs `$body` as a test on each store: `memory::$name` and `dynamo::$name`.
/// `$store` is a fresh store of each kind, with a cache.
macro_rules! on_both_stores {
    ($name:ident, |$store:ident| $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn memory() {
                let $store = MemoryStore::new().with_cache(1_000);
                $body
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn dynamo() {
                if es_dynamo::testing::skip_without_dynamodb() {
                    return;
                }
                // Long deadlines: 64 writers on a shared machine can stall
                // the emulator past the default 5 s an attempt.
                let $store = es_dynamo::testing::store_on_new_table(stringify!($name))
                    .await
                    .with_cache(1_000)
                    .with_timeouts(
                        Some(std::time::Duration::from_secs(60)),
                        Some(std::time::Duration::from_secs(30)),
                    );
                $body
            }
        }
    };
}

/// What every bucket holds, on hand and by cart, read at one instant.
async fn totals<S: EventStore>(store: &S, buckets: &Buckets<ProductBucket>) -> HotProduct {
    hot_product(store, buckets).await.expect("read the buckets")
}

/// What one writer did: units acknowledged by cart, sold-out answers, and
/// for each answer its start and end on a shared logical clock.
#[derive(Default)]
struct Tally {
    acked: BTreeMap<String, u32>,
    /// Units of writes whose outcome is unknown (a timeout after sending).
    unsure: BTreeMap<String, u32>,
    sold_out: Vec<(u64, u64)>,
    served: Vec<(u64, u64)>,
    failed: u32,
}

/// `writers` independent writers (each a store of its own, as separate
/// processes), each buying `1..=max` units at a time for carts of its own
/// until it is told the product is sold out.
async fn flash_sale<S: EventStore>(
    store: &S,
    buckets: &Buckets<ProductBucket>,
    writers: usize,
    max: u32,
    another: impl Fn(&S) -> S,
) -> Vec<Tally> {
    let clock = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let (store, buckets, clock) = (another(store), buckets.clone(), clock.clone());
            tokio::spawn(async move {
                let mut tally = Tally::default();
                let mut rng = fastrand::Rng::with_seed(w as u64);
                // Half the writers keep a home bucket, as the bench's do.
                let home = (w % 2 == 0).then(es::buckets::Home::new);
                for n in 0.. {
                    let cart = format!("w{w}-c{}", n % 3);
                    let quantity = rng.u32(1..=max);
                    let started = clock.fetch_add(1, Ordering::SeqCst);
                    let result = match &home {
                        Some(home) => {
                            reserve_hot_from(&store, &buckets, home, &cart, quantity).await
                        }
                        None => reserve_hot(&store, &buckets, &cart, quantity).await,
                    };
                    let ended = clock.fetch_add(1, Ordering::SeqCst);
                    match result {
                        Ok(done) => {
                            assert_eq!(done.units(), u64::from(quantity));
                            *tally.acked.entry(cart).or_insert(0) += quantity;
                            tally.served.push((started, ended));
                        }
                        Err(es::Error::Rejected(ProductError::SoldOut { .. })) if quantity == 1 => {
                            tally.sold_out.push((started, ended));
                            break;
                        }
                        // A larger request may be refused while a smaller
                        // one still fits: ask for one unit next.
                        Err(es::Error::Rejected(ProductError::SoldOut { available, .. })) => {
                            assert!(
                                available < quantity,
                                "sold out with {available} for {quantity}"
                            );
                            tally.sold_out.push((started, ended));
                            if available == 0 {
                                break;
                            }
                        }
                        Err(e) if e.is_indeterminate() => {
                            *tally.unsure.entry(cart).or_insert(0) += quantity;
                        }
                        Err(e) if e.is_retryable() => tally.failed += 1,
                        Err(e) => panic!("writer {w}: {e}"),
                    }
                }
                tally
            })
        })
        .collect();
    let mut tallies = Vec::new();
    for task in tasks {
        tallies.push(task.await.expect("writer"));
    }
    tallies
}

on_both_stores!(bucketed_stock_never_oversells, |store| {
    let buckets = Buckets::<ProductBucket>::new("flash", 8).expect("buckets");
    buckets.restock(&store, 300).await.expect("restock");
    let tallies = flash_sale(&store, &buckets, 64, 3, |s| s.as_another_process()).await;
    let mut acked: BTreeMap<String, u32> = BTreeMap::new();
    for tally in &tallies {
        for (cart, units) in &tally.acked {
            *acked.entry(cart.clone()).or_insert(0) += units;
        }
    }
    let after = totals(&store, &buckets).await;
    // Every acknowledged unit is reserved once, and no more were.
    assert_eq!(
        after.reserved, acked,
        "reserved by cart against acknowledged"
    );
    let reserved: u32 = after.reserved.values().sum();
    assert_eq!(after.on_hand + reserved, 300, "stock conserved");
    // Every writer stopped on "sold out", so nothing is left.
    assert_eq!(
        after.on_hand, 0,
        "stock left after every writer heard sold out"
    );
});

on_both_stores!(no_false_sold_out_while_any_bucket_has_stock, |store| {
    // All the stock in one bucket of four: buyers whose own bucket is
    // empty are served from it.
    let one = Buckets::<ProductBucket>::new("one", 4).expect("buckets");
    one.restock(&store, 8).await.expect("restock"); // 2, 2, 2, 2
    for from in 0..3 {
        one.rebalance(&store, from, 3, 2).await.expect("rebalance");
    }
    let mut carts = (0..).map(|n| format!("cart-{n}"));
    for _ in 0..8 {
        let cart = carts
            .by_ref()
            .find(|c| one.bucket_of(c) != 3)
            .expect("a cart of another bucket");
        reserve_hot(&store, &one, &cart, 1).await.expect("served");
    }
    let refused = reserve_hot(&store, &one, "late", 1).await.unwrap_err();
    assert!(
        matches!(
            refused,
            es::Error::Rejected(ProductError::SoldOut {
                available: 0,
                requested: 1
            })
        ),
        "{refused:?}"
    );

    // No bucket alone holds 5, two together do: the units come from both,
    // in one commit. Then 2 of the 1 left is sold out, and 1 is not.
    let split = Buckets::<ProductBucket>::new("split", 4).expect("buckets");
    split.restock(&store, 6).await.expect("restock"); // 2, 2, 1, 1
    let done = reserve_hot(&store, &split, "big", 5).await.expect("5 of 6");
    assert!(done.parts.len() > 1, "{done:?}");
    assert_eq!(done.units(), 5);
    let refused = reserve_hot(&store, &split, "two", 2).await.unwrap_err();
    assert!(
        matches!(
            refused,
            es::Error::Rejected(ProductError::SoldOut {
                available: 1,
                requested: 2
            })
        ),
        "{refused:?}"
    );
    reserve_hot(&store, &split, "one", 1)
        .await
        .expect("the last unit");
    assert_eq!(totals(&store, &split).await.on_hand, 0);

    // Under load: 64 writers of one unit each. Stock only goes down, so an
    // answer "sold out" is false exactly when a reservation that started
    // after that answer ended was served.
    let rush = Buckets::<ProductBucket>::new("rush", 8).expect("buckets");
    rush.restock(&store, 200).await.expect("restock");
    let tallies = flash_sale(&store, &rush, 64, 1, |s| s.as_another_process()).await;
    let last_served_start = tallies
        .iter()
        .flat_map(|t| t.served.iter().map(|&(start, _)| start))
        .max()
        .expect("some served");
    let false_sold_outs = tallies
        .iter()
        .flat_map(|t| &t.sold_out)
        .filter(|&&(_, end)| end < last_served_start)
        .count();
    assert_eq!(false_sold_outs, 0, "sold out said while stock remained");
    let served: usize = tallies.iter().map(|t| t.served.len()).sum();
    let unsure: u32 = tallies.iter().flat_map(|t| t.unsure.values()).sum();
    assert!(
        (200 - unsure as usize..=200).contains(&served),
        "{served} served, {unsure} unsure"
    );
    assert_eq!(totals(&store, &rush).await.on_hand, 0);
});

on_both_stores!(rebalance_conserves_stock, |store| {
    let buckets = Buckets::<ProductBucket>::new("moving", 4).expect("buckets");
    buckets.restock(&store, 100).await.expect("restock");
    // A move of more than the bucket holds is refused by its handler, and
    // changes nothing.
    let refused = buckets.rebalance(&store, 0, 1, 26).await.unwrap_err();
    assert!(
        matches!(
            refused,
            es::Error::Rejected(ProductError::SoldOut {
                available: 25,
                requested: 26
            })
        ),
        "{refused:?}"
    );
    let before = totals(&store, &buckets).await;
    assert_eq!(before.on_hand, 100);
    // Movers and buyers at once, each its own process.
    let movers: Vec<_> = (0..8u64)
        .map(|m| {
            let (store, buckets) = (store.as_another_process(), buckets.clone());
            tokio::spawn(async move {
                let mut rng = fastrand::Rng::with_seed(m);
                let mut moved = 0;
                for _ in 0..10 {
                    let (from, to) = (rng.u32(0..4), rng.u32(0..4));
                    match buckets.rebalance(&store, from, to, rng.u32(1..=5)).await {
                        Ok(()) => moved += 1,
                        Err(es::Error::Rejected(ProductError::SoldOut { .. })) => {}
                        // A move is one atomic commit: whether or not an
                        // unsure one landed, the total is the same.
                        Err(e) if e.is_retryable() || e.is_indeterminate() => {}
                        Err(e) => panic!("mover {m}: {e}"),
                    }
                }
                moved
            })
        })
        .collect();
    let buyers: Vec<_> = (0..8u32)
        .map(|b| {
            let (store, buckets) = (store.as_another_process(), buckets.clone());
            tokio::spawn(async move {
                let (mut bought, mut unsure) = (0, 0);
                for n in 0..5 {
                    match reserve_hot(&store, &buckets, &format!("b{b}-{n}"), 1).await {
                        Ok(_) => bought += 1,
                        Err(e) if e.is_indeterminate() => unsure += 1,
                        Err(e) if e.is_retryable() => {}
                        Err(e) => panic!("buyer {b}: {e}"),
                    }
                }
                (bought, unsure)
            })
        })
        .collect();
    let mut moved = 0;
    for mover in movers {
        moved += mover.await.expect("mover");
    }
    let (mut bought, mut unsure) = (0, 0);
    for buyer in buyers {
        let (b, u) = buyer.await.expect("buyer");
        bought += b;
        unsure += u;
    }
    assert!(moved > 0, "no rebalance went through");
    let after = totals(&store, &buckets).await;
    let reserved: u32 = after.reserved.values().sum();
    assert!(
        (bought..=bought + unsure).contains(&reserved),
        "{reserved} reserved, {bought} acknowledged, {unsure} unsure"
    );
    assert_eq!(after.on_hand + reserved, 100, "stock conserved");
});

on_both_stores!(
    a_home_keeps_a_writer_on_its_bucket_until_it_runs_short,
    |store| {
        let buckets = Buckets::<ProductBucket>::new("homed", 4).expect("buckets");
        buckets.restock(&store, 8).await.expect("restock"); // 2, 2, 2, 2
        let home = es::buckets::Home::new();
        assert_eq!(home.bucket(), None);
        let first = reserve_hot_from(&store, &buckets, &home, "a", 1)
            .await
            .expect("served");
        let at = first.parts[0].bucket;
        assert_eq!(home.bucket(), Some(at));
        // Wherever the cart id points, the next purchase is made at home, in
        // one write from the state this writer keeps: no read.
        let before = store.stats().snapshot();
        let second = reserve_hot_from(&store, &buckets, &home, "b", 1)
            .await
            .expect("served");
        let cost = store.stats().snapshot() - before;
        assert_eq!((second.parts[0].bucket, second.attempts), (at, 1));
        assert_eq!(
            (cost.requests, cost.reads, cost.writes),
            (1, 0, 1),
            "{cost:?}"
        );
        // Home is empty now: the next purchase moves, and home with it.
        let third = reserve_hot_from(&store, &buckets, &home, "c", 1)
            .await
            .expect("served");
        assert_ne!(third.parts[0].bucket, at);
        assert_eq!(home.bucket(), Some(third.parts[0].bucket));
        let stock = buckets.stock(&store).await.expect("read");
        assert_eq!(stock.buckets[at as usize].on_hand, 0);
        assert_eq!(stock.available(), 5);
    }
);
