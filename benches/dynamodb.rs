//! Speed and cost of es on DynamoDB Local, against hand-written SDK calls, in
//! one run. Prints a Markdown report (medians, ratios, requests, capacity).
//!
//! ```text
//! scripts/dynamodb-local.sh run -- cargo bench --bench dynamodb
//! ```
//!
//! Each comparison interleaves its contenders op by op (A, B, A, B, …) so
//! that drift in the emulator's speed hits both alike, and reports each ratio
//! against the baseline timed in the same loop. DynamoDB Local's timings are
//! not DynamoDB's, and they drift during a run (JIT warm-up, garbage
//! collection, the host), but a ratio against a hand-written call of the same
//! item on the same emulator, at the same moment, shows es's own overhead.
//! Every comparison is also reported in blocks of consecutive operations, and
//! the commit comparison runs twice, so one run shows its own noise.

#[path = "support/restock.rs"]
mod restock;

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
use aws_sdk_dynamodb::Client;
use es::prelude::*;
use es_dynamo::DynamoStore;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ProductRestocked {
    pub amount: u32,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ProductReserved {
    pub cart_id: String,
    pub quantity: u32,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProductError {
    #[error("sold out")]
    SoldOut,
}

#[derive(Aggregate, Serialize, Deserialize, Clone, Debug, Default)]
#[aggregate(name = "Product", error = ProductError)]
pub struct Product {
    pub on_hand: u64,
}

#[es::handlers]
impl Product {
    #[on(ProductRestocked)]
    fn restocked(&mut self, e: &ProductRestocked) {
        self.on_hand += u64::from(e.amount);
    }

    #[on(ProductReserved)]
    fn reserved(&mut self, e: &ProductReserved) -> Result<(), ProductError> {
        self.on_hand = self
            .on_hand
            .checked_sub(u64::from(e.quantity))
            .ok_or(ProductError::SoldOut)?;
        Ok(())
    }
}

/// The same product, snapshotting every 100 versions.
#[derive(Aggregate, Serialize, Deserialize, Clone, Debug, Default)]
#[aggregate(name = "SnappedProduct", error = ProductError, snapshot_every = 100)]
pub struct SnappedProduct {
    pub on_hand: u64,
}

#[es::handlers]
impl SnappedProduct {
    #[on(ProductRestocked)]
    fn restocked(&mut self, e: &ProductRestocked) {
        self.on_hand += u64::from(e.amount);
    }
}

fn median(samples: &[Duration]) -> Duration {
    let mut samples = samples.to_vec();
    samples.sort();
    samples[samples.len() / 2]
}

/// How many consecutive blocks each interleaved comparison is also reported
/// in: the spread of the per-block ratios is the run's own noise, and the
/// per-block medians show any drift of the emulator's speed during the run.
const BLOCKS: usize = 3;

/// Prints, for each block of consecutive operations, the median of each
/// contender and the ratio of the first to `base`.
fn print_blocks(contenders: &[(&str, &[Duration])], base: usize) {
    let n = contenders[0].1.len();
    let size = n.div_ceil(BLOCKS);
    print!("| operations |");
    for (name, _) in contenders {
        print!(" {name} |");
    }
    println!(" ratio |");
    println!("|{}", "---|".repeat(contenders.len() + 2));
    for start in (0..n).step_by(size) {
        let end = (start + size).min(n);
        print!("| {}–{} |", start + 1, end);
        let medians: Vec<Duration> = contenders
            .iter()
            .map(|(_, samples)| median(&samples[start..end]))
            .collect();
        for m in &medians {
            print!(" {} |", ms(*m));
        }
        println!(
            " {:.3} |",
            medians[0].as_secs_f64() / medians[base].as_secs_f64()
        );
    }
    println!();
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

async fn raw_put(client: &Client, table: &str, key: &str, version: u64) -> f64 {
    let out = client
        .put_item()
        .table_name(table)
        .set_item(Some(restock::item(key, version)))
        .condition_expression("attribute_not_exists(#v)")
        .expression_attribute_names("#v", "version")
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .expect("PutItem");
    out.consumed_capacity()
        .and_then(|c| c.capacity_units())
        .unwrap_or(0.0)
}

/// A hand-rolled cold command: read the whole history with a consistent
/// Query (every page), fold it, then PutItem the next version.
async fn raw_cold_command(client: &Client, table: &str, key: &str) {
    let mut last = 0u64;
    let mut start = None;
    loop {
        let out = client
            .query()
            .table_name(table)
            .key_condition_expression("#id = :id")
            .expression_attribute_names("#id", "aggregateId")
            .expression_attribute_values(":id", AttributeValue::S(key.to_owned()))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("Query");
        for item in out.items() {
            if let Some(AttributeValue::N(v)) = item.get("version") {
                last = v.parse().expect("version");
            }
        }
        match out.last_evaluated_key() {
            Some(k) => start = Some(k.clone()),
            None => break,
        }
    }
    raw_put(client, table, key, last + 1).await;
}

fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn reset_hwm() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// A commit through es against a hand-written PutItem of the same item,
/// interleaved op by op, each appending to its own partition.
struct CommitComparison {
    product: Root<Product, DynamoStore>,
    raw_key: &'static str,
    /// The last version written to `raw_key`.
    raw_version: u64,
}

impl CommitComparison {
    /// Writes the next version of `raw_key` with a hand-written PutItem;
    /// returns the capacity DynamoDB reports for it.
    async fn put_next(&mut self, client: &Client, table: &str) -> f64 {
        self.raw_version += 1;
        raw_put(client, table, self.raw_key, self.raw_version).await
    }

    /// Times `iterations` of each, interleaved; prints the report and
    /// returns the ratio of the medians, es / PutItem.
    async fn run(
        &mut self,
        store: &DynamoStore,
        client: &Client,
        table: &str,
        iterations: usize,
    ) -> f64 {
        let (mut es_t, mut raw_t) = (Vec::new(), Vec::new());
        let mut raw_wcu = 0.0;
        let before = store.stats().snapshot();
        for _ in 0..iterations {
            let t = Instant::now();
            self.product
                .commit(ProductRestocked { amount: 1 })
                .await
                .expect("commit");
            es_t.push(t.elapsed());
            let t = Instant::now();
            raw_wcu += self.put_next(client, table).await;
            raw_t.push(t.elapsed());
        }
        let cost = store.stats().snapshot() - before;
        let (es_m, raw_m) = (median(&es_t), median(&raw_t));
        println!("| contender | median | requests per op | WCU per op |\n|---|---|---|---|");
        println!(
            "| hand-written PutItem | {} | 1 | {:.2} |",
            ms(raw_m),
            raw_wcu / iterations as f64
        );
        println!(
            "| es `commit` | {} | {:.2} | {:.2} |",
            ms(es_m),
            cost.requests as f64 / iterations as f64,
            cost.write_units / iterations as f64
        );
        let ratio = es_m.as_secs_f64() / raw_m.as_secs_f64();
        println!("\nRatio es / PutItem: **{ratio:.3}** (target ≤ 1.05)\n");
        println!("By blocks of consecutive operations:\n");
        print_blocks(&[("es `commit`", &es_t), ("PutItem", &raw_t)], 1);
        ratio
    }
}

#[tokio::main]
async fn main() {
    if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_none() {
        eprintln!("AWS_ENDPOINT_URL_DYNAMODB is not set: run `scripts/dynamodb-local.sh run -- cargo bench --bench dynamodb`");
        std::process::exit(2);
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let iterations = if quick { 40 } else { 300 };
    let warmup: u64 = if quick { 100 } else { 1_500 };
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = Client::new(&config);
    let table = format!("es-bench-{}", std::process::id());
    let store = DynamoStore::new(client.clone(), table.clone());
    store.create_table().await.expect("create table");

    println!("# es on DynamoDB Local: {iterations} iterations per contender, interleaved\n");

    // Warm up the emulator's JIT and the connection pool before timing. The
    // emulator keeps getting faster for a few thousand requests; timing
    // before it settles would measure its warm-up, not es.
    let warm_key = "Product#warm-up";
    let mut warm_t = Vec::new();
    for v in 1..=warmup {
        let t = Instant::now();
        raw_put(&client, &table, warm_key, v).await;
        warm_t.push(t.elapsed());
        let mut p = Product::load(&store, format!("warm-{v}"))
            .await
            .expect("load");
        p.commit(ProductRestocked { amount: 1 })
            .await
            .expect("warm up");
    }
    let tenth = (warm_t.len() / 10).max(1);
    println!(
        "Warm-up: {warmup} rounds of a PutItem, a load and a commit ({} requests). \
         Median PutItem in its first tenth: {}; in its last tenth: {}.\n",
        warmup * 3,
        ms(median(&warm_t[..tenth])),
        ms(median(&warm_t[warm_t.len() - tenth..]))
    );

    // 1. A commit on a loaded handle against a hand-written PutItem of the
    // same item: both append to a partition of their own, one version at a time.
    let mut commits = CommitComparison {
        product: Product::load(&store, "commit").await.expect("load"),
        raw_key: "Product#raw-commit",
        raw_version: 0,
    };
    // Version 1 of each is written untimed: an es initial event also writes
    // its index entry, which a later commit never does.
    commits
        .product
        .commit(ProductRestocked { amount: 1 })
        .await
        .expect("version 1");
    commits.put_next(&client, &table).await;
    println!("## Commit of one event on a loaded handle\n");
    let commit_ratio = commits.run(&store, &client, &table, iterations).await;

    // 2. A cold command (load + decide + commit) on an aggregate with 10
    // events, against a hand-written Query + PutItem of the same, and against
    // a PutItem alone (of the same item as in 1).
    for n in 0..iterations {
        let mut p = Product::load(&store, format!("cold-{n}"))
            .await
            .expect("load");
        p.commit_all(
            (0..10)
                .map(|_| ProductEvent::from(ProductRestocked { amount: 1 }))
                .collect::<Vec<_>>(),
        )
        .await
        .expect("seed");
        let key = format!("Product#raw-cold-{n}");
        for v in 1..=10 {
            raw_put(&client, &table, &key, v).await;
        }
    }
    let (mut es_t, mut raw_t, mut put_t) = (Vec::new(), Vec::new(), Vec::new());
    let before = store.stats().snapshot();
    for n in 0..iterations {
        let t = Instant::now();
        Product::execute(&store, format!("cold-{n}"), |_| {
            Ok::<_, ProductError>(ProductReserved {
                cart_id: "c".into(),
                quantity: 1,
            })
        })
        .await
        .expect("execute");
        es_t.push(t.elapsed());
        let t = Instant::now();
        raw_cold_command(&client, &table, &format!("Product#raw-cold-{n}")).await;
        raw_t.push(t.elapsed());
        let t = Instant::now();
        commits.put_next(&client, &table).await;
        put_t.push(t.elapsed());
    }
    let cost = store.stats().snapshot() - before;
    let (es_m, raw_m, put_m) = (median(&es_t), median(&raw_t), median(&put_t));
    println!("## Cold command on an aggregate of 10 events\n");
    println!("| contender | median | requests per op | RCU + WCU per op |\n|---|---|---|---|");
    println!("| hand-written PutItem alone | {} | 1 | 1 |", ms(put_m));
    println!("| hand-written Query + PutItem | {} | 2 | - |", ms(raw_m));
    println!(
        "| es `execute` | {} | {:.2} | {:.2} + {:.2} |",
        ms(es_m),
        cost.requests as f64 / iterations as f64,
        cost.read_units / iterations as f64,
        cost.write_units / iterations as f64
    );
    println!(
        "\nRatio es cold command / PutItem: **{:.3}** (target ≤ 2.2; benches/cqrs-es measures cqrs-es side by side). \
         Ratio es / hand-written Query + PutItem: **{:.3}**\n",
        es_m.as_secs_f64() / put_m.as_secs_f64(),
        es_m.as_secs_f64() / raw_m.as_secs_f64()
    );
    println!("By blocks of consecutive operations (ratio: es / PutItem alone):\n");
    print_blocks(
        &[
            ("es `execute`", &es_t),
            ("PutItem alone", &put_t),
            ("Query + PutItem", &raw_t),
        ],
        1,
    );

    // 1 again: the same comparison, later in the same run. The emulator's
    // absolute speed drifts; an interleaved ratio should not.
    println!("## Commit of one event on a loaded handle, again after the cold commands\n");
    let again = commits.run(&store, &client, &table, iterations).await;
    println!("The commit ratio measured twice in this run: {commit_ratio:.3}, then {again:.3}.\n");

    // 3. Bounded loads: 10,000 events with and without snapshots.
    let events = if quick { 2_000 } else { 10_000 };
    for (name, snap) in [("no snapshots", false), ("snapshot_every = 100", true)] {
        let id = "long";
        if snap {
            let mut p = SnappedProduct::load(&store, id).await.expect("load");
            for _ in 0..events / 100 {
                p.commit_all(
                    (0..100)
                        .map(|_| SnappedProductEvent::from(ProductRestocked { amount: 1 }))
                        .collect::<Vec<_>>(),
                )
                .await
                .expect("seed");
            }
        } else {
            let mut p = Product::load(&store, id).await.expect("load");
            for _ in 0..events / 100 {
                p.commit_all(
                    (0..100)
                        .map(|_| ProductEvent::from(ProductRestocked { amount: 1 }))
                        .collect::<Vec<_>>(),
                )
                .await
                .expect("seed");
            }
        }
        let mut times = Vec::new();
        let mut cost = None;
        for _ in 0..5 {
            let before = store.stats().snapshot();
            let t = Instant::now();
            let version = if snap {
                SnappedProduct::load(&store, id)
                    .await
                    .expect("load")
                    .version()
            } else {
                Product::load(&store, id).await.expect("load").version()
            };
            times.push(t.elapsed());
            assert_eq!(version, events as u64);
            cost = Some(store.stats().snapshot() - before);
        }
        let cost = cost.expect("ran");
        println!(
            "## Load of {events} events, {name}\n\nmedian {}, {} Query request(s), {} items read, {:.1} RCU\n",
            ms(median(&times)),
            cost.reads,
            cost.items_read,
            cost.read_units
        );
    }

    // 4. Peak memory of a load without snapshots stays O(page): a load of
    // 100,000 events must not grow the peak more than one of 10,000 does.
    if !quick {
        let id = "huge";
        let mut p = Product::load(&store, id).await.expect("load");
        for _ in 0..1000 {
            p.commit_all(
                (0..100)
                    .map(|_| ProductEvent::from(ProductRestocked { amount: 1 }))
                    .collect::<Vec<_>>(),
            )
            .await
            .expect("seed");
        }
        drop(p);
        println!(
            "## Peak memory of loads without snapshots
"
        );
        println!("| events | pages | peak RSS growth |\n|---|---|---|");
        for (id, events) in [("long", 10_000u64), (id, 100_000)] {
            if !reset_hwm() {
                println!("(cannot reset the peak RSS counter on this kernel)");
                break;
            }
            let base = vm_hwm_kib().unwrap_or(0);
            let before = store.stats().snapshot();
            let loaded = Product::load(&store, id).await.expect("load");
            let cost = store.stats().snapshot() - before;
            let peak = vm_hwm_kib().unwrap_or(0);
            assert_eq!(loaded.version(), events);
            println!(
                "| {events} | {} | {} KiB |",
                cost.reads,
                peak.saturating_sub(base)
            );
        }
        println!();
    }
}
