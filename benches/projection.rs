//! What a projection costs on DynamoDB Local, per event, with per-aggregate
//! positions: stream batches as Lambda hands them to the function, through
//! `es::dynamo::batch::project_batch` (what `lambda::handle` runs), into a
//! stock view in a `DynamoViews` table. Prints a Markdown report and a
//! headline JSON line.
//!
//! ```text
//! scripts/dynamodb-local.sh run -- cargo bench --bench projection
//! ```
//!
//! 1. **A steady stream of single-event commits**: one-record batches, one
//!    restock each, over 100 products, as a Lambda function on a quiet
//!    table gets them. Warm (the function knows its positions, as a warm
//!    container does) and cold (it reads each one), beside the handler's
//!    update written at once, which is what a projection without positions
//!    costs (a `GetItem` and a `PutItem` per event).
//! 2. **A batch of 100 events of one aggregate into one row**, cold: a
//!    position read, the row's read, one commit; beside 100 updates written
//!    at once.
//! 3. **Lazy backfill**: a table with history and a projection that never
//!    saw it; one new event per aggregate, in batches of 100 records, each
//!    aggregate's history read from the events table first. Beside it,
//!    `es::rebuild` of the same history into a fresh table.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use es::prelude::*;
use es_dynamo::batch::{project_batch, StreamRecord};
use es_dynamo::{DynamoStore, DynamoViews};
use futures::future::join_all;

#[path = "support/stock.rs"]
mod stock;
use stock::*;

const PRODUCTS: usize = 100;
const STEADY_EVENTS: usize = 300;
const BACKFILL_AGGREGATES: usize = 400;
const BACKFILL_HISTORY: usize = 10;

#[tokio::main]
async fn main() {
    if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_none() {
        eprintln!("projection bench: no AWS_ENDPOINT_URL_DYNAMODB; run it under scripts/dynamodb-local.sh run --");
        return;
    }
    println!("## Projections with per-aggregate positions, on DynamoDB Local\n");

    // 1. A steady stream of single-event commits.
    let store = es_dynamo::testing::store_on_new_table("bench-projection").await;
    let ids: Vec<String> = (0..PRODUCTS).map(|n| format!("sku-{n:03}")).collect();
    let mut steady = Vec::with_capacity(STEADY_EVENTS);
    for n in 0..STEADY_EVENTS {
        let id = &ids[n % PRODUCTS];
        let version = restock(&store, id).await;
        steady.push(record(&store, id, version).await);
    }
    let warm = Contender::new(&store, "bench-projection-warm").await;
    let cold = Contender::new(&store, "bench-projection-cold").await;
    let direct = es_dynamo::testing::views_on_new_table("bench-projection-direct").await;
    let direct_view = StockView {
        views: Views::new(direct.clone(), "stock"),
    };
    let (mut warm_times, mut cold_times, mut direct_times) = (Vec::new(), Vec::new(), Vec::new());
    // The warm function has seen each product once before it is timed.
    for record in &steady[..PRODUCTS] {
        warm.project(vec![record.clone()]).await;
    }
    let warm_before = warm.requests();
    for record in &steady[PRODUCTS..] {
        warm_times.push(warm.project(vec![record.clone()]).await);
        cold.projector.forget_positions();
        cold_times.push(cold.project(vec![record.clone()]).await);
        let raw = raw_event(record);
        let started = Instant::now();
        es::Projection::project(&direct_view, &store, raw)
            .await
            .expect("direct");
        direct_times.push(started.elapsed());
    }
    let timed = (STEADY_EVENTS - PRODUCTS) as f64;
    let warm_per_event = (warm.requests() - warm_before) as f64 / timed;
    let cold_total = cold.requests();
    // The cold contender also projected each product's earlier events: its
    // first batch of a product filled them from the store.
    let cold_per_event = cold_total as f64 / timed;
    let direct_per_event = direct.stats().snapshot().requests as f64 / timed;
    println!(
        "### 1. A steady stream of single-event commits\n\n\
         {} one-record batches, each a restock of one of {PRODUCTS} products, after one batch \
         per product to warm up.\n\n\
         | contender | requests per event | median per batch |\n|---|---|---|\n\
         | warm projector (positions known) | {warm_per_event:.2} | {} |\n\
         | cold projector (a position read per batch) | {cold_per_event:.2} | {} |\n\
         | handler writing at once, no positions | {direct_per_event:.2} | {} |\n",
        STEADY_EVENTS - PRODUCTS,
        ms(median(&warm_times)),
        ms(median(&cold_times)),
        ms(median(&direct_times)),
    );

    // 2. A batch of 100 events of one aggregate into one row.
    let mut hundred = Vec::with_capacity(100);
    for _ in 0..100 {
        let version = restock(&store, "sku-batch").await;
        hundred.push(record(&store, "sku-batch", version).await);
    }
    let batch = Contender::new(&store, "bench-projection-batch").await;
    let store_before = store.stats().snapshot();
    let batch_time = batch.project(hundred.clone()).await;
    let batch_requests = batch.requests();
    let batch_store = (store.stats().snapshot() - store_before).requests;
    let direct = es_dynamo::testing::views_on_new_table("bench-projection-batch-direct").await;
    let direct_view = StockView {
        views: Views::new(direct.clone(), "stock"),
    };
    let started = Instant::now();
    for record in &hundred {
        es::Projection::project(&direct_view, &store, raw_event(record))
            .await
            .expect("direct");
    }
    let direct_batch_time = started.elapsed();
    let direct_batch_requests = direct.stats().snapshot().requests;
    println!(
        "### 2. A batch of 100 events of one aggregate into one row\n\n\
         | contender | view-table requests | events-table requests | time |\n|---|---|---|---|\n\
         | cold projector | {batch_requests} | {batch_store} | {} |\n\
         | handler writing at once, no positions | {direct_batch_requests} | 0 | {} |\n",
        ms(batch_time),
        ms(direct_batch_time),
    );

    // 3. Lazy backfill beside a rebuild.
    let history = es_dynamo::testing::store_on_new_table("bench-projection-history").await;
    let names: Vec<String> = (0..BACKFILL_AGGREGATES)
        .map(|n| format!("sku-{n:04}"))
        .collect();
    for chunk in names.chunks(32) {
        join_all(chunk.iter().map(|id| {
            let history = &history;
            async move {
                let mut product = Product::load(history, id.clone()).await.expect("load");
                let events: Vec<ProductEvent> = (0..BACKFILL_HISTORY)
                    .map(|_| ProductRestocked { amount: 1 }.into())
                    .collect();
                product.commit_all(events).await.expect("commit");
            }
        }))
        .await;
    }
    let mut next = Vec::with_capacity(BACKFILL_AGGREGATES);
    for id in &names {
        let version = restock(&history, id).await;
        next.push(record(&history, id, version).await);
    }
    let lazy = Contender::new(&history, "bench-projection-lazy").await;
    let started = Instant::now();
    let mut filled = 0;
    let mut applied = 0;
    for chunk in next.chunks(100) {
        let report = project_batch(&lazy.projector, chunk.to_vec()).await;
        assert!(report.failures.is_empty(), "{:?}", report.failures);
        filled += report.filled;
        applied += report.applied;
    }
    let lazy_time = started.elapsed();
    assert_eq!(applied, BACKFILL_AGGREGATES * (BACKFILL_HISTORY + 1));
    let rebuild = Contender::new(&history, "bench-projection-rebuild").await;
    let started = Instant::now();
    let report = es::rebuild(&rebuild.projector)
        .concurrency(16)
        .run()
        .await
        .expect("rebuild");
    let rebuild_time = started.elapsed();
    assert_eq!(report.applied as usize, applied);
    let per_second = |events: usize, d: Duration| events as f64 / d.as_secs_f64();
    let (lazy_rate, rebuild_rate) = (
        per_second(applied, lazy_time),
        per_second(applied, rebuild_time),
    );
    println!(
        "### 3. Lazy backfill beside a rebuild\n\n\
         {BACKFILL_AGGREGATES} products of {BACKFILL_HISTORY} events the projection never saw, \
         then one new event each, in batches of 100 records ({filled} events filled from the \
         events table).\n\n\
         | contender | events | time | events/s | view-table requests |\n|---|---|---|---|---|\n\
         | lazy backfill by the stream's next events | {applied} | {} | {lazy_rate:.0} | {} |\n\
         | `es::rebuild`, 16 at once | {} | {} | {rebuild_rate:.0} | {} |\n",
        ms(lazy_time),
        lazy.requests(),
        report.applied,
        ms(rebuild_time),
        rebuild.requests(),
    );

    println!("Headline figures, as one JSON line:\n");
    println!(
        "{{\"projection_requests_per_event\":{warm_per_event:.2},\
         \"projection_requests_per_event_cold\":{cold_per_event:.2},\
         \"projection_requests_per_event_without_positions\":{direct_per_event:.2},\
         \"projection_batch100_requests\":{batch_requests},\
         \"projection_batch100_requests_without_positions\":{direct_batch_requests},\
         \"backfill_events_per_second\":{lazy_rate:.0},\
         \"rebuild_events_per_second\":{rebuild_rate:.0}}}"
    );
}

/// A projector of the stock view into a view table of its own.
struct Contender {
    projector: Projector<DynamoStore, DynamoViews, StockView<DynamoViews>>,
}

impl Contender {
    async fn new(store: &DynamoStore, table: &str) -> Self {
        let views = es_dynamo::testing::views_on_new_table(table).await;
        let view = StockView {
            views: Views::new(views.clone(), "stock"),
        };
        Contender {
            projector: Projector::new(store.clone(), views, view),
        }
    }

    /// Projects one batch; returns how long it took.
    async fn project(&self, records: Vec<StreamRecord>) -> Duration {
        let started = Instant::now();
        let report = project_batch(&self.projector, records).await;
        assert!(report.failures.is_empty(), "{:?}", report.failures);
        started.elapsed()
    }

    /// Requests on its view table so far.
    fn requests(&self) -> u64 {
        self.projector.table().stats().snapshot().requests
    }
}

/// Restocks one unit; returns the new version.
async fn restock(store: &DynamoStore, id: &str) -> u64 {
    let mut product = Product::load(store, id.to_owned()).await.expect("load");
    product
        .commit(ProductRestocked { amount: 1 })
        .await
        .expect("commit");
    product.version()
}

/// The stream record of an event, as the stream carries it: an `INSERT`
/// whose new image is the item.
async fn record(store: &DynamoStore, id: &str, version: u64) -> StreamRecord {
    let item = store
        .client()
        .get_item()
        .table_name(store.table())
        .key("aggregateId", AttributeValue::S(format!("Product#{id}")))
        .key("version", AttributeValue::N(version.to_string()))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem")
        .item
        .expect("the event");
    StreamRecord {
        sequence_number: Some(format!("{:021}{version:05}", id.len())),
        event_name: "INSERT".to_owned(),
        new_image: item,
    }
}

/// The event a record carries, outside any driver.
fn raw_event(record: &StreamRecord) -> es::RawEvent<AttributeValue> {
    es_dynamo::records::raw_event(
        "INSERT",
        record.new_image.clone(),
        es_dynamo::Layout::SingleTable,
        &["Product"],
    )
    .expect("an event")
    .expect("of Product")
}

fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}
