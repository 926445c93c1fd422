//! A flash sale on one SKU, on DynamoDB Local: 64 independent writers (each
//! with its own store and cache, as 64 Lambda containers would be) buy one
//! unit at a time of a product whose stock is split over K bucket
//! aggregates (`es::buckets`, the shop's `ProductBucket`), for K = 1, 2, 4,
//! 8, 16. Prints a Markdown report and, last, one JSON line of headline
//! figures; `docs/BENCHMARKS.md` quotes one run.
//!
//! ```text
//! scripts/dynamodb-local.sh run -- cargo bench --bench flash
//! scripts/dynamodb-local.sh run -- cargo bench --bench flash -- --quick   # smoke test
//! ```
//!
//! Two shapes per K:
//!
//! - **sell-out**: the writers buy until they hear "sold out", from 10,000
//!   units. Every unit must be sold, and no "sold out" may be said while a
//!   unit was left: stock only goes down, so an answer "sold out" is false
//!   exactly when a purchase that started after it ended was served (on a
//!   logical clock every purchase ticks at its start and its end).
//! - **ceiling**: DynamoDB caps one partition key at 1,000 write units a
//!   second; DynamoDB Local has no cap. The bench puts one in front of the
//!   store: a write waits until every partition key it writes has a free
//!   write unit, at `--ceiling` units a second per key (default 40; one
//!   event item is 1 WCU, and a failed condition is billed the same). The
//!   writers make a fixed number of purchases each.

#[path = "../examples/shopping/hot.rs"]
#[allow(dead_code)]
mod hot;
#[path = "../examples/shopping/shop.rs"]
#[allow(dead_code)]
mod shop;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use es::buckets::Buckets;
use es::dynamo::DynamoStore;
use es::prelude::*;
use es::store::{
    CodecError, CommandRecord, Commit, Committed, Cursor, Page, ReadRequest, StoredEvent, Writers,
};
use es::StatsSnapshot;
use hot::*;
use shop::ProductError;

const WRITERS: usize = 64;

fn quantile(samples: &[Duration], q: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let at = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[at]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// Each partition key's next free write unit, shared by every writer: the
/// simulated partitions of the table.
#[derive(Clone, Default)]
struct Ceiling {
    per_second: f64,
    next: Arc<Mutex<HashMap<String, Instant>>>,
}

impl Ceiling {
    /// Waits for `units` write units on each of `keys`.
    async fn admit(&self, keys: &[(String, u64)]) {
        let now = Instant::now();
        let mut at = now;
        {
            let mut next = self.next.lock().expect("ceiling");
            for (key, units) in keys {
                let free = next.get(key).copied().unwrap_or(now).max(now);
                at = at.max(free);
                let spent = Duration::from_secs_f64(*units as f64 / self.per_second);
                next.insert(key.clone(), free + spent);
            }
        }
        tokio::time::sleep_until(at.into()).await;
    }
}

/// A store whose writes pass through a [`Ceiling`].
#[derive(Clone)]
struct Capped {
    inner: DynamoStore,
    ceiling: Ceiling,
}

impl EventStore for Capped {
    type Payload = <DynamoStore as EventStore>::Payload;

    fn encode<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<Self::Payload, CodecError> {
        self.inner.encode(value)
    }

    fn decode<T, V>(&self, seed: T, payload: Self::Payload) -> Result<V, CodecError>
    where
        T: for<'de> serde::de::DeserializeSeed<'de, Value = V>,
    {
        self.inner.decode(seed, payload)
    }

    async fn read(
        &self,
        request: ReadRequest<'_>,
    ) -> Result<Page<StoredEvent<Self::Payload>>, es::Error> {
        self.inner.read(request).await
    }

    async fn commit(&self, commit: Commit<Self::Payload>) -> Result<Committed, es::Error> {
        let keys: Vec<(String, u64)> = commit
            .appends
            .iter()
            .map(|a| (format!("{}#{}", a.aggregate, a.id), a.events.len() as u64))
            .collect();
        self.ceiling.admit(&keys).await;
        self.inner.commit(commit).await
    }

    async fn list_ids(
        &self,
        aggregate: &'static str,
        limit: Option<usize>,
        cursor: Option<Cursor>,
    ) -> Result<Page<String>, es::Error> {
        self.inner.list_ids(aggregate, limit, cursor).await
    }

    async fn command(&self, key: &str) -> Result<Option<CommandRecord>, es::Error> {
        self.inner.command(key).await
    }

    fn stats(&self) -> &es::Stats {
        self.inner.stats()
    }

    fn writers(&self) -> &Arc<Writers> {
        self.inner.writers()
    }
}

/// What one shape did, summed over its writers.
#[derive(Default)]
struct Run {
    commits: u64,
    attempts: u64,
    exhausted: u64,
    sold_out: Vec<(u64, u64)>,
    served_starts: Vec<u64>,
    latencies: Vec<Duration>,
    elapsed: Duration,
    cost: StatsSnapshot,
    left: u64,
    /// Whether a writer heard "sold out" (else the time budget ended it).
    sold_out_reached: bool,
    /// The load average (1 minute) when the shape ended.
    load: String,
}

impl Run {
    /// Adds one writer's part of a shape to the whole.
    fn absorb(&mut self, part: Run) {
        self.commits += part.commits;
        self.attempts += part.attempts;
        self.exhausted += part.exhausted;
        self.sold_out_reached |= part.sold_out_reached;
        self.sold_out.extend(part.sold_out);
        self.served_starts.extend(part.served_starts);
        self.latencies.extend(part.latencies);
    }

    fn per_second(&self) -> f64 {
        self.commits as f64 / self.elapsed.as_secs_f64()
    }

    fn attempts_per_commit(&self) -> f64 {
        self.attempts as f64 / self.commits.max(1) as f64
    }

    fn requests_per_commit(&self) -> f64 {
        self.cost.requests as f64 / self.commits.max(1) as f64
    }

    /// Write requests per commit, from the stores' own counters: every
    /// conditional write sent, those of purchases that gave up included
    /// (which `attempts` cannot count: a purchase that gave up returns no
    /// reservation).
    fn writes_per_commit(&self) -> f64 {
        self.cost.writes as f64 / self.commits.max(1) as f64
    }

    fn false_sold_outs(&self) -> usize {
        let last = self.served_starts.iter().copied().max().unwrap_or(0);
        self.sold_out.iter().filter(|&&(_, end)| end < last).count()
    }

    fn row(&self, k: u32) {
        println!(
            "| {k} | {} | {:.1} s | {:.0} | {:.3} | {:.3} | {:.2} | {} | {} | {} | {} | {} | {} |",
            self.commits,
            self.elapsed.as_secs_f64(),
            self.per_second(),
            self.attempts_per_commit(),
            self.writes_per_commit(),
            self.requests_per_commit(),
            ms(quantile(&self.latencies, 0.5)),
            ms(quantile(&self.latencies, 0.99)),
            self.exhausted,
            self.false_sold_outs(),
            self.left,
            self.load,
        );
    }
}

fn header() {
    println!("| K | commits | time | commits/s | attempts/commit | writes/commit | requests/commit | p50 | p99 | exhausted | false sold-outs | units left | load average |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
}

/// `WRITERS` writers on `stores[n]`, each buying one unit at a time, up to
/// `each` purchases (or until sold out).
async fn sale<S: EventStore>(
    stores: &[S],
    buckets: &Buckets<ProductBucket>,
    each: Option<usize>,
    budget: Option<Duration>,
    homes: bool,
) -> Run {
    let before: StatsSnapshot = stores.iter().map(|s| s.stats().snapshot()).sum();
    let clock = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = stores
        .iter()
        .enumerate()
        .map(|(w, store)| {
            let (store, buckets, clock) = (store.clone(), buckets.clone(), clock.clone());
            tokio::spawn(async move {
                let mut run = Run::default();
                // This writer's own home bucket, as one process keeps one.
                let home = es::buckets::Home::new();
                for n in 0..each.unwrap_or(usize::MAX) {
                    if budget.is_some_and(|b| started.elapsed() >= b) {
                        break;
                    }
                    let cart = format!("w{w}-{n}");
                    let start = clock.fetch_add(1, Ordering::SeqCst);
                    let began = Instant::now();
                    let result = if homes {
                        reserve_hot_from(&store, &buckets, &home, &cart, 1).await
                    } else {
                        reserve_hot(&store, &buckets, &cart, 1).await
                    };
                    let end = clock.fetch_add(1, Ordering::SeqCst);
                    match result {
                        Ok(done) => {
                            run.commits += 1;
                            run.attempts += u64::from(done.attempts);
                            run.served_starts.push(start);
                            run.latencies.push(began.elapsed());
                        }
                        Err(es::Error::Rejected(ProductError::SoldOut { .. })) => {
                            run.sold_out.push((start, end));
                            run.sold_out_reached = true;
                            break;
                        }
                        Err(e) if e.is_retryable() => run.exhausted += 1,
                        Err(e) => panic!("writer {w}: {e}"),
                    }
                }
                run
            })
        })
        .collect();
    let mut run = Run::default();
    for task in tasks {
        run.absorb(task.await.expect("writer"));
    }
    run.elapsed = started.elapsed();
    let after: StatsSnapshot = stores.iter().map(|s| s.stats().snapshot()).sum();
    run.cost = after - before;
    run.load = load_average();
    run
}

/// `WRITERS` writers, writer `n` on `stores[n]` buying one unit at a time
/// of `items[n]` only, until it is sold out or `budget` has passed.
async fn solo_sale(
    stores: &[DynamoStore],
    items: &[Buckets<ProductBucket>],
    budget: Option<Duration>,
) -> Run {
    let before: StatsSnapshot = stores.iter().map(|s| s.stats().snapshot()).sum();
    let started = Instant::now();
    let tasks: Vec<_> = stores
        .iter()
        .zip(items)
        .enumerate()
        .map(|(w, (store, item))| {
            let (store, item) = (store.clone(), item.clone());
            tokio::spawn(async move {
                let mut run = Run::default();
                for n in 0.. {
                    if budget.is_some_and(|b| started.elapsed() >= b) {
                        break;
                    }
                    let began = Instant::now();
                    match reserve_hot(&store, &item, &format!("s{w}-{n}"), 1).await {
                        Ok(done) => {
                            run.commits += 1;
                            run.attempts += u64::from(done.attempts);
                            run.latencies.push(began.elapsed());
                        }
                        Err(es::Error::Rejected(ProductError::SoldOut { .. })) => break,
                        Err(e) if e.is_retryable() => run.exhausted += 1,
                        Err(e) => panic!("writer {w}: {e}"),
                    }
                }
                run
            })
        })
        .collect();
    let mut run = Run::default();
    for task in tasks {
        run.absorb(task.await.expect("writer"));
    }
    run.elapsed = started.elapsed();
    let after: StatsSnapshot = stores.iter().map(|s| s.stats().snapshot()).sum();
    run.cost = after - before;
    run.load = load_average();
    run
}

/// The 1-minute load average, from `/proc/loadavg` (Linux), or "?".
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// The value after `flag` on the command line, parsed.
fn flag<T: std::str::FromStr>(args: &[String], flag: &str) -> Option<T> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
}

#[tokio::main]
async fn main() {
    if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_none() {
        eprintln!("AWS_ENDPOINT_URL_DYNAMODB is not set: run `scripts/dynamodb-local.sh run -- cargo bench --bench flash`");
        std::process::exit(2);
    }
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let ceiling: f64 = flag(&args, "--ceiling").unwrap_or(40.0);
    let stock: u32 = flag(&args, "--stock").unwrap_or(if quick { 1_000 } else { 10_000 });
    let each = if quick { 2 } else { 5 };
    // A time budget per K for the sell-out: writers start no purchase
    // after it, and the rate is measured over the time the shape took.
    let budget: Option<Duration> = flag::<f64>(&args, "--seconds").map(Duration::from_secs_f64);
    // `--spread cart`: no home buckets, each purchase starts at the bucket
    // its cart id picks (the design before homes), for comparison.
    let homes = flag::<String>(&args, "--spread").as_deref() != Some("cart");
    let ks: Vec<u32> = flag::<String>(&args, "--k")
        .map(|list| list.split(',').filter_map(|k| k.parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2, 4, 8, 16]);
    let ks: &[u32] = &ks;
    // `--max-wait MS`: the ceiling of a reservation's wait after a lost
    // write (default: `es::buckets::DEFAULT_RETRY`'s).
    let retry = match flag::<u64>(&args, "--max-wait") {
        Some(ms) => es::Retry {
            max_delay: Duration::from_millis(ms),
            ..es::buckets::DEFAULT_RETRY
        },
        None => es::buckets::DEFAULT_RETRY,
    };
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = Client::new(&config);
    let pid = std::process::id();
    let table = format!("es-flash-{pid}");
    let base = DynamoStore::new(client.clone(), &table).with_cache(1_000);
    base.create_table().await.expect("create the table");

    println!("# A flash sale on DynamoDB Local\n");
    if quick {
        println!("**Quick mode: the timings are not meaningful.**\n");
    }
    if homes {
        println!("{WRITERS} independent writers, each with its own store and cache, buying one unit at a time; each writer keeps a home bucket (`es::buckets::Home`): a purchase starts where the writer's last one was made, else at the bucket its cart id picks.\n");
    } else {
        println!("{WRITERS} independent writers, each with its own store and cache, buying one unit at a time; a purchase starts at the bucket its cart id picks (`--spread cart`: no home buckets).\n");
    }
    println!(
        "Waits after a lost write: up to {} ms. Load average (1 minute) at the start: {}.\n",
        retry.max_delay.as_millis(),
        load_average()
    );

    match budget {
        Some(b) => println!(
            "## Sell-out: {stock} units, bought until sold out or for {:.0} s per K\n",
            b.as_secs_f64()
        ),
        None => println!("## Sell-out: {stock} units, bought until sold out\n"),
    }
    header();
    let mut sellouts = Vec::new();
    for &k in ks {
        let buckets = Buckets::<ProductBucket>::new(format!("sku-{k}-{pid}"), k)
            .expect("buckets")
            .with_retry(retry);
        buckets.restock(&base, stock).await.expect("restock");
        let stores: Vec<DynamoStore> = (0..WRITERS).map(|_| base.as_another_process()).collect();
        let mut run = sale(&stores, &buckets, None, budget, homes).await;
        run.left = hot_product(&base, &buckets)
            .await
            .expect("read")
            .on_hand
            .into();
        assert_eq!(
            run.commits + run.left,
            u64::from(stock),
            "K = {k}: units sold and left"
        );
        run.row(k);
        sellouts.push((k, run));
    }
    println!();

    println!("## Under a per-partition ceiling of {ceiling} WCU/s: {each} purchases per writer\n");
    println!("Every write waits for a free write unit on each partition key it writes (a bucket is one key); conflicts are billed too.\n");
    header();
    let mut capped_runs = Vec::new();
    // `--no-ceiling`: the sell-out only.
    let capped_ks: &[u32] = if args.iter().any(|a| a == "--no-ceiling") {
        &[]
    } else {
        ks
    };
    for &k in capped_ks {
        let buckets = Buckets::<ProductBucket>::new(format!("cap-{k}-{pid}"), k)
            .expect("buckets")
            .with_retry(retry);
        buckets.restock(&base, stock).await.expect("restock");
        let shared = Ceiling {
            per_second: ceiling,
            next: Arc::default(),
        };
        let stores: Vec<Capped> = (0..WRITERS)
            .map(|_| Capped {
                inner: base.as_another_process(),
                ceiling: shared.clone(),
            })
            .collect();
        let mut run = sale(&stores, &buckets, Some(each), None, homes).await;
        run.left = hot_product(&base, &buckets)
            .await
            .expect("read")
            .on_hand
            .into();
        assert_eq!(
            run.commits + run.left,
            u64::from(stock),
            "K = {k}: units sold and left"
        );
        run.row(k);
        capped_runs.push((k, run));
    }
    println!();

    // What this machine serves with no contention at all: the same 64
    // writers, each buying from an item of its own (one bucket), so that
    // no write ever loses. Scaling with K cannot pass this rate: once the
    // buckets stop being the limit, the emulator and the host are.
    let solo_units = (stock / WRITERS as u32).max(1);
    println!(
        "## Capacity: {WRITERS} writers, each on an item of its own ({solo_units} units each)\n"
    );
    header();
    let solo = {
        let items: Vec<Buckets<ProductBucket>> = (0..WRITERS)
            .map(|w| {
                Buckets::<ProductBucket>::new(format!("solo-{w}-{pid}"), 1)
                    .expect("buckets")
                    .with_retry(retry)
            })
            .collect();
        for item in &items {
            item.restock(&base, solo_units).await.expect("restock");
        }
        let stores: Vec<DynamoStore> = (0..WRITERS).map(|_| base.as_another_process()).collect();
        let mut run = solo_sale(&stores, &items, budget).await;
        for item in &items {
            run.left += u64::from(hot_product(&base, item).await.expect("read").on_hand);
        }
        run.row(1);
        run
    };
    println!();

    let rate = |runs: &[(u32, Run)], k: u32| {
        runs.iter()
            .find(|(n, _)| *n == k)
            .map_or(0.0, |(_, r)| r.per_second())
    };
    let attempts = |runs: &[(u32, Run)], k: u32| {
        runs.iter()
            .find(|(n, _)| *n == k)
            .map_or(0.0, |(_, r)| r.attempts_per_commit())
    };
    println!("## Scaling: commits/s at K over commits/s at K = 1\n");
    println!("| K | sell-out | under the ceiling | goal (≥ 0.7 × K up to 8) |");
    println!("|---|---|---|---|");
    for &k in ks {
        println!(
            "| {k} | {:.2} | {:.2} | {:.1} |",
            rate(&sellouts, k) / rate(&sellouts, 1),
            rate(&capped_runs, k) / rate(&capped_runs, 1),
            0.7 * f64::from(k.min(8)),
        );
    }
    println!();
    println!(
        "Capacity (no contention) over the sell-out at K = 1: {:.2}: no K can scale the sell-out past that here.\n",
        solo.per_second() / rate(&sellouts, 1)
    );
    let false_sold_out: usize = sellouts
        .iter()
        .chain(&capped_runs)
        .map(|(_, r)| r.false_sold_outs())
        .sum();
    println!(
        concat!(
            "{{\"flash_commits_per_second_k1\":{:.1},\"flash_commits_per_second_k8\":{:.1},",
            "\"flash_attempts_per_commit_k8\":{:.3},\"flash_false_sold_out\":{},",
            "\"flash_capped_commits_per_second_k1\":{:.1},\"flash_capped_commits_per_second_k8\":{:.1},",
            "\"flash_capped_attempts_per_commit_k8\":{:.3},\"flash_ceiling_wcu_per_key\":{},",
            "\"flash_capacity_commits_per_second\":{:.1}}}"
        ),
        rate(&sellouts, 1),
        rate(&sellouts, 8),
        attempts(&sellouts, 8),
        false_sold_out,
        rate(&capped_runs, 1),
        rate(&capped_runs, 8),
        attempts(&capped_runs, 8),
        ceiling,
        solo.per_second(),
    );
}
