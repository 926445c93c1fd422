//! How fast a projection rebuilds from history on DynamoDB Local, against a
//! raw parallel Scan of the same table, in one run. Prints a Markdown report.
//!
//! ```text
//! scripts/dynamodb-local.sh run -- cargo bench --bench rebuild
//! ES_BENCH_AGGREGATES=500 scripts/dynamodb-local.sh run -- cargo bench --bench rebuild
//! ```
//!
//! The table holds `ES_BENCH_AGGREGATES` products (default 2,000) of 10
//! events each. Three contenders read all of it, interleaved round by round
//! (rebuild, views, scan, rebuild, …), five rounds:
//!
//! - `es::rebuild` of a projection that only counts its events: what the
//!   rebuild's reads cost (ids page by page from the `initialEvents` index,
//!   then one consistent Query per aggregate, 16 aggregates at a time), with
//!   every event decoded and routed;
//! - the same at 64 aggregates at once;
//! - `es::rebuild` of a stock view kept in memory (`Views` over
//!   `MemoryViews`): the same, plus a read-model update per event;
//! - a parallel Scan of the whole table (8 segments at once), which decodes
//!   nothing and keeps no order: the fastest way to read every item, and the
//!   floor a rebuild could reach if order did not matter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use es::prelude::*;
use es_dynamo::DynamoStore;
use futures::future::join_all;

#[path = "support/stock.rs"]
mod stock;
use stock::*;

/// Counts what it is given, and nothing else.
#[derive(Default)]
struct Counter(AtomicU64);

#[es::projection]
impl Counter {
    #[on(ProductRestocked)]
    async fn restocked(&self, _: &ProductRestocked) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    #[on(ProductReserved)]
    async fn reserved(&self, _: &ProductReserved) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

const EVENTS_PER_AGGREGATE: u64 = 10;
const ROUNDS: usize = 5;
const SEGMENTS: i32 = 8;

#[tokio::main]
async fn main() {
    if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_none() {
        eprintln!("rebuild bench: no AWS_ENDPOINT_URL_DYNAMODB; run it under scripts/dynamodb-local.sh run --");
        return;
    }
    let aggregates: u64 = std::env::var("ES_BENCH_AGGREGATES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000);
    let store = es_dynamo::testing::store_on_new_table("bench-rebuild").await;
    let loading = Instant::now();
    let ids: Vec<String> = (0..aggregates).map(|n| format!("sku-{n:05}")).collect();
    for chunk in ids.chunks(32) {
        join_all(chunk.iter().map(|id| {
            let store = &store;
            async move {
                let mut product = Product::load(store, id.clone()).await.expect("load");
                let events: Vec<ProductEvent> = (0..EVENTS_PER_AGGREGATE)
                    .map(|n| match n {
                        0 => ProductRestocked { amount: 100 }.into(),
                        n => ProductReserved {
                            cart_id: format!("cart-{n}"),
                            quantity: 1,
                        }
                        .into(),
                    })
                    .collect();
                product.commit_all(events).await.expect("commit");
            }
        }))
        .await;
    }
    let events = aggregates * EVENTS_PER_AGGREGATE;
    let bytes = table_bytes(&store).await;
    println!(
        "## Rebuild from history against a parallel Scan\n\n\
         {aggregates} aggregates of {EVENTS_PER_AGGREGATE} events ({events} items, {:.1} MB \
         as DynamoDB sizes them), loaded in {:.1} s. {ROUNDS} rounds, interleaved.\n",
        bytes as f64 / 1e6,
        loading.elapsed().as_secs_f64()
    );

    let mut wide_times = Vec::new();
    let mut rebuild_times = Vec::new();
    let mut view_times = Vec::new();
    let mut dynamo_view_times = Vec::new();
    let mut view_requests = 0;
    let mut scan_times = Vec::new();
    let mut requests = (0, 0);
    for _ in 0..ROUNDS {
        // Positions in memory: what the rebuild costs on the events table.
        let counter = Projector::new(store.clone(), MemoryViews::new(), Counter::default());
        let before = store.stats().snapshot();
        let started = Instant::now();
        let report = es::rebuild(&counter)
            .concurrency(16)
            .run()
            .await
            .expect("rebuild");
        rebuild_times.push(started.elapsed());
        requests.0 = (store.stats().snapshot() - before).reads;
        assert_eq!(
            (
                report.events,
                counter.projection().0.load(Ordering::Relaxed)
            ),
            (events, events)
        );

        let counter = Projector::new(store.clone(), MemoryViews::new(), Counter::default());
        let started = Instant::now();
        es::rebuild(&counter)
            .concurrency(64)
            .run()
            .await
            .expect("rebuild");
        wide_times.push(started.elapsed());
        assert_eq!(counter.projection().0.load(Ordering::Relaxed), events);

        let table = MemoryViews::new();
        let view = StockView {
            views: Views::new(table.clone(), "stock"),
        };
        let view = Projector::new(store.clone(), table, view);
        let started = Instant::now();
        let report = es::rebuild(&view)
            .concurrency(16)
            .run()
            .await
            .expect("rebuild");
        view_times.push(started.elapsed());
        assert_eq!(report.applied, events);

        let table = es_dynamo::testing::views_on_new_table("bench-rebuild-views").await;
        let view = StockView {
            views: Views::new(table.clone(), "stock"),
        };
        let view = Projector::new(store.clone(), table.clone(), view);
        let started = Instant::now();
        let report = es::rebuild(&view)
            .concurrency(16)
            .run()
            .await
            .expect("rebuild");
        dynamo_view_times.push(started.elapsed());
        view_requests = table.stats().snapshot().requests;
        assert_eq!(report.applied, events);

        let started = Instant::now();
        let (items, calls) = parallel_scan(&store).await;
        scan_times.push(started.elapsed());
        requests.1 = calls;
        assert_eq!(items, events);
    }
    let per_second = |d: Duration| events as f64 / d.as_secs_f64();
    let (rebuild, view, scan) = (
        median(&rebuild_times),
        median(&view_times),
        median(&scan_times),
    );
    let wide = median(&wide_times);
    let dynamo_view = median(&dynamo_view_times);
    println!("| contender | median time | events/s | requests | vs Scan |");
    println!("|---|---|---|---|---|");
    println!(
        "| `es::rebuild`, counting projection (16 at once) | {:.2} s | {:.0} | {} | {:.2} × the time |",
        rebuild.as_secs_f64(),
        per_second(rebuild),
        requests.0,
        rebuild.as_secs_f64() / scan.as_secs_f64()
    );
    println!(
        "| `es::rebuild`, counting projection (64 at once) | {:.2} s | {:.0} | {} | {:.2} × the time |",
        wide.as_secs_f64(),
        per_second(wide),
        requests.0,
        wide.as_secs_f64() / scan.as_secs_f64()
    );
    println!(
        "| `es::rebuild`, stock view in `MemoryViews` (16 at once) | {:.2} s | {:.0} | {} | {:.2} × the time |",
        view.as_secs_f64(),
        per_second(view),
        requests.0,
        view.as_secs_f64() / scan.as_secs_f64()
    );
    println!(
        "| `es::rebuild`, stock view in `DynamoViews` (16 at once) | {:.2} s | {:.0} | {} + {} on the view table | {:.2} × the time |",
        dynamo_view.as_secs_f64(),
        per_second(dynamo_view),
        requests.0,
        view_requests,
        dynamo_view.as_secs_f64() / scan.as_secs_f64()
    );
    println!(
        "| parallel Scan, {SEGMENTS} segments, no decoding | {:.2} s | {:.0} | {} | 1.00 |",
        scan.as_secs_f64(),
        per_second(scan),
        requests.1
    );
    let spread = |times: &[Duration]| {
        let secs: Vec<f64> = times.iter().map(Duration::as_secs_f64).collect();
        let (lo, hi) = secs
            .iter()
            .fold((f64::MAX, 0f64), |(lo, hi), &s| (lo.min(s), hi.max(s)));
        format!("{lo:.2}–{hi:.2} s")
    };
    println!(
        "\nSpread over the rounds: rebuild {}, at 64 {}, view {}, DynamoDB view {}, scan {}.",
        spread(&rebuild_times),
        spread(&wide_times),
        spread(&view_times),
        spread(&dynamo_view_times),
        spread(&scan_times)
    );
}

fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

/// Reads every item with `SEGMENTS` Scans at once, following each one's
/// pages; returns the items and the requests it took.
async fn parallel_scan(store: &DynamoStore) -> (u64, u64) {
    let segments = (0..SEGMENTS).map(|segment| async move {
        let mut items = 0u64;
        let mut calls = 0u64;
        let mut pages = store
            .client()
            .scan()
            .table_name(store.table())
            .segment(segment)
            .total_segments(SEGMENTS)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.expect("Scan");
            calls += 1;
            items += page.items.map_or(0, |i| i.len() as u64);
        }
        (items, calls)
    });
    join_all(segments)
        .await
        .into_iter()
        .fold((0, 0), |(a, b), (c, d)| (a + c, b + d))
}

async fn table_bytes(store: &DynamoStore) -> i64 {
    store
        .client()
        .describe_table()
        .table_name(store.table())
        .send()
        .await
        .ok()
        .and_then(|t| t.table)
        .and_then(|t| t.table_size_bytes)
        .unwrap_or(0)
}
