//! Hot aggregates on DynamoDB Local, in one run: the 1,000-command rush,
//! 64 writers on one aggregate, and a warm command and a commit against a
//! hand-written `PutItem`. Prints a Markdown report and, last, one JSON line
//! of headline figures; `docs/BENCHMARKS.md` quotes one run.
//!
//! ```text
//! scripts/dynamodb-local.sh run -- cargo bench --bench hot
//! scripts/dynamodb-local.sh run -- cargo bench --bench hot -- --quick   # smoke test
//! ```
//!
//! "Before" rows run the same work with one store per task and no cache:
//! every command loads, decides and writes on its own, racing every other
//! task, which is how every command ran before es had queues and a cache.

#[path = "support/restock.rs"]
mod restock;
#[path = "../examples/shopping/rush.rs"]
#[allow(dead_code)]
mod rush;
#[path = "../examples/shopping/shop.rs"]
#[allow(dead_code)]
mod shop;

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use es::dynamo::DynamoStore;
use es::prelude::*;
use es::StatsSnapshot;
use shop::*;

fn median(samples: &[Duration]) -> Duration {
    quantile(samples, 0.5)
}

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
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// The counters of every distinct store in `stores`, summed.
fn stats(stores: &[DynamoStore]) -> StatsSnapshot {
    stores.iter().map(|store| store.stats().snapshot()).sum()
}

/// What one shape of a workload did.
struct Shape {
    name: String,
    commands: usize,
    acknowledged: usize,
    exhausted: usize,
    attempts: u64,
    latencies: Vec<Duration>,
    elapsed: Duration,
    cost: StatsSnapshot,
}

impl Shape {
    fn per_ack(&self, x: f64) -> f64 {
        x / self.acknowledged.max(1) as f64
    }

    fn attempts_per_command(&self) -> f64 {
        self.attempts as f64 / self.commands.max(1) as f64
    }

    fn row(&self) {
        println!(
            "| {} | {:.0} | {:.3} | {:.2} | {:.2} | {:.2} | {} | {} | {} |",
            self.name,
            self.commands as f64 / self.elapsed.as_secs_f64(),
            self.attempts_per_command(),
            self.per_ack(self.cost.requests as f64),
            self.per_ack(self.cost.read_units),
            self.per_ack(self.cost.write_units),
            self.exhausted,
            ms(median(&self.latencies)),
            ms(quantile(&self.latencies, 0.99)),
        );
    }
}

fn header() {
    println!("| shape | commands/s | attempts/command | requests/ack | RCU/ack | WCU/ack | exhausted | p50 | p99 |");
    println!("|---|---|---|---|---|---|---|---|---|");
}

/// Stores on `table`: one shared by every task, or one per task, each a
/// writer of its own as a separate process would be.
fn stores(client: &Client, table: &str, count: usize, cache: usize) -> Vec<DynamoStore> {
    (0..count)
        .map(|_| DynamoStore::new(client.clone(), table).with_cache(cache))
        .collect()
}

async fn rush_shape(name: &str, stores: &[DynamoStore], plan: rush::Rush, run: &str) -> Shape {
    let before = stats(stores);
    let report = rush::run_on(stores, plan, run).await;
    let cost = stats(stores) - before;
    let problems = rush::check(&stores[0], &plan, run, &report).await;
    assert!(problems.is_empty(), "{name}: {problems:#?}");
    Shape {
        name: name.to_owned(),
        commands: plan.commands,
        acknowledged: report.acknowledged,
        exhausted: report.exhausted,
        attempts: report.attempts,
        latencies: report.latencies.clone(),
        elapsed: report.elapsed,
        cost,
    }
}

/// `tasks` tasks, task `n` on `stores[n % len]`, each restocking one
/// product `each` times.
async fn contention(
    name: &str,
    stores: &[DynamoStore],
    id: &str,
    tasks: usize,
    each: usize,
    retry: es::Retry,
) -> Shape {
    let before = stats(stores);
    let started = Instant::now();
    let workers: Vec<_> = (0..tasks)
        .map(|n| {
            let store = stores[n % stores.len()].clone();
            let id = id.to_owned();
            tokio::spawn(async move {
                let mut done = Vec::new();
                for _ in 0..each {
                    let began = Instant::now();
                    let result = Product::command(&store, id.clone())
                        .retry(retry)
                        .execute(|_| Ok(ProductRestocked { amount: 1 }))
                        .await;
                    let attempts = match &result {
                        Ok(done) => done.attempts,
                        Err(_) => retry.max_attempts,
                    };
                    done.push((result.is_ok(), attempts, began.elapsed()));
                }
                done
            })
        })
        .collect();
    let mut shape = Shape {
        name: name.to_owned(),
        commands: tasks * each,
        acknowledged: 0,
        exhausted: 0,
        attempts: 0,
        latencies: Vec::new(),
        elapsed: Duration::ZERO,
        cost: StatsSnapshot::default(),
    };
    for worker in workers {
        for (ok, attempts, latency) in worker.await.expect("task") {
            shape.acknowledged += usize::from(ok);
            shape.exhausted += usize::from(!ok);
            shape.attempts += u64::from(attempts);
            shape.latencies.push(latency);
        }
    }
    shape.elapsed = started.elapsed();
    shape.cost = stats(stores) - before;
    let loaded = Product::load(&stores[0], id).await.expect("load");
    assert_eq!(
        loaded.on_hand as usize, shape.acknowledged,
        "{name}: every acknowledged restock is there once"
    );
    shape
}

/// [`restock::item`], written by hand: one conditional `PutItem`, asking
/// for nothing back.
async fn bare_put(client: &Client, table: &str, key: &str, version: u64) {
    let item = restock::item(key, version);
    client
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(#v)")
        .expression_attribute_names("#v", "version")
        .send()
        .await
        .expect("PutItem");
}

/// How a hand-written writer learns what it missed after a conflict.
#[derive(Clone, Copy, Debug)]
enum CatchUp {
    /// A consistent Query of the versions after its own.
    Query,
    /// The item that won, returned by the failed `PutItem` itself
    /// (`ReturnValuesOnConditionCheckFailure = ALL_OLD`).
    ReturnedItem,
}

/// `writers` hand-written writers on one key, each committing `each`
/// events, retrying every conflict after es's jittered wait, and catching
/// up by `how`. Returns (attempts per commit, requests per commit, reads
/// per commit).
async fn catch_up(
    client: &Client,
    table: &str,
    key: &str,
    writers: usize,
    each: usize,
    how: CatchUp,
) -> (f64, f64, f64) {
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let (client, table, key) = (client.clone(), table.to_owned(), key.to_owned());
            tokio::spawn(async move {
                let (mut attempts, mut reads, mut version) = (0u64, 0u64, 0u64);
                for _ in 0..each {
                    let mut attempt = 0;
                    loop {
                        attempt += 1;
                        attempts += 1;
                        let item = restock::item(&key, version + 1);
                        let mut put = client
                            .put_item()
                            .table_name(&table)
                            .set_item(Some(item))
                            .condition_expression("attribute_not_exists(#v)")
                            .expression_attribute_names("#v", "version");
                        if let CatchUp::ReturnedItem = how {
                            put = put.return_values_on_condition_check_failure(
                                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
                            );
                        }
                        let err = match put.send().await {
                            Ok(_) => {
                                version += 1;
                                break;
                            }
                            Err(err) => err,
                        };
                        let returned = match err.as_service_error() {
                            Some(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(e)) => {
                                e.item().and_then(|item| match item.get("version") {
                                    Some(AttributeValue::N(v)) => v.parse::<u64>().ok(),
                                    _ => None,
                                })
                            }
                            _ => panic!("PutItem: {err:?}"),
                        };
                        tokio::time::sleep(es::Retry::default().delay(attempt)).await;
                        match (how, returned) {
                            (CatchUp::ReturnedItem, Some(v)) => version = v,
                            (CatchUp::ReturnedItem, None) => panic!("no item came back with the failed condition"),
                            (CatchUp::Query, _) => {
                                reads += 1;
                                let out = client
                                    .query()
                                    .table_name(&table)
                                    .key_condition_expression("#k = :k AND #v > :v")
                                    .expression_attribute_names("#k", "aggregateId")
                                    .expression_attribute_names("#v", "version")
                                    .expression_attribute_values(":k", AttributeValue::S(key.clone()))
                                    .expression_attribute_values(":v", AttributeValue::N(version.to_string()))
                                    .consistent_read(true)
                                    .send()
                                    .await
                                    .expect("Query");
                                for item in out.items() {
                                    if let Some(AttributeValue::N(v)) = item.get("version") {
                                        version = version.max(v.parse().expect("version"));
                                    }
                                }
                            }
                        }
                    }
                }
                (attempts, reads)
            })
        })
        .collect();
    let (mut attempts, mut reads) = (0, 0);
    for task in tasks {
        let (a, r) = task.await.expect("task");
        attempts += a;
        reads += r;
    }
    let commits = (writers * each) as f64;
    (
        attempts as f64 / commits,
        (attempts + reads) as f64 / commits,
        reads as f64 / commits,
    )
}

#[tokio::main]
async fn main() {
    if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_none() {
        eprintln!("AWS_ENDPOINT_URL_DYNAMODB is not set: run `scripts/dynamodb-local.sh run -- cargo bench --bench hot`");
        std::process::exit(2);
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let (iterations, warmup, each) = if quick { (40, 100, 2) } else { (300, 1_000, 5) };
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = Client::new(&config);
    let pid = std::process::id();
    let table = format!("es-hot-{pid}");
    let store = DynamoStore::new(client.clone(), &table);
    store.create_table().await.expect("create the table");

    println!("# Hot aggregates on DynamoDB Local\n");
    if quick {
        println!("**Quick mode: the timings are not meaningful.**\n");
    }

    // ---- A warm command and a commit against a bare PutItem -------------
    let cached = DynamoStore::new(client.clone(), &table).with_cache(1_000);
    let warm_id = format!("warm-{pid}");
    let commit_id = format!("commit-{pid}");
    let bare_key = format!("Product#bare-{pid}");
    Product::execute(&cached, warm_id.clone(), |_| {
        Ok(ProductRestocked { amount: 1 })
    })
    .await
    .expect("warm up");
    let mut handle = Product::load(&store, commit_id.clone())
        .await
        .expect("load");
    let mut bare_version = 0;
    let (mut warm, mut commit, mut bare) = (Vec::new(), Vec::new(), Vec::new());
    let (mut warm_cost, mut commit_cost) = (StatsSnapshot::default(), StatsSnapshot::default());
    for round in 0..warmup + iterations {
        let measured = round >= warmup;
        let before = cached.stats().snapshot();
        let began = Instant::now();
        Product::execute(&cached, warm_id.clone(), |_| {
            Ok(ProductRestocked { amount: 1 })
        })
        .await
        .expect("warm command");
        let took = began.elapsed();
        if measured {
            warm.push(took);
            warm_cost = warm_cost + (cached.stats().snapshot() - before);
        }
        let before = store.stats().snapshot();
        let began = Instant::now();
        handle
            .commit(ProductRestocked { amount: 1 })
            .await
            .expect("commit");
        let took = began.elapsed();
        if measured {
            commit.push(took);
            commit_cost = commit_cost + (store.stats().snapshot() - before);
        }
        bare_version += 1;
        let began = Instant::now();
        bare_put(&client, &table, &bare_key, bare_version).await;
        if measured {
            bare.push(began.elapsed());
        }
    }
    let warm_ratio = median(&warm).as_secs_f64() / median(&bare).as_secs_f64();
    let commit_ratio = median(&commit).as_secs_f64() / median(&bare).as_secs_f64();
    let warm_requests = warm_cost.requests as f64 / iterations as f64;
    let commit_requests = commit_cost.requests as f64 / iterations as f64;
    println!("## A warm command and a commit, against a bare PutItem\n");
    println!("{iterations} of each, interleaved op by op after {warmup} warm-up rounds.\n");
    println!("| operation | median | ratio to the bare PutItem | requests |");
    println!("|---|---|---|---|");
    println!(
        "| bare `PutItem` (no `ReturnConsumedCapacity`) | {} | 1 | 1 |",
        ms(median(&bare))
    );
    println!("| warm command (`execute` on a cached aggregate) | {} | {warm_ratio:.3} | {warm_requests:.2} |", ms(median(&warm)));
    println!(
        "| commit on a loaded handle | {} | {commit_ratio:.3} | {commit_requests:.2} |\n",
        ms(median(&commit))
    );

    // ---- A snapshot load ------------------------------------------------
    let long_id = format!("long-{pid}");
    let mut long = Product::load(&store, long_id.clone()).await.expect("load");
    for _ in 0..520 {
        long.commit(ProductRestocked { amount: 1 })
            .await
            .expect("seed");
    }
    let before = store.stats().snapshot();
    let loaded = Product::load(&store, long_id).await.expect("load");
    let load_cost = store.stats().snapshot() - before;
    assert_eq!(loaded.on_hand, 520);
    println!(
        "A load of 520 events with `snapshot_every = 50`: {} request, {} items, {} RCU.\n",
        load_cost.requests, load_cost.items_read, load_cost.read_units
    );

    // ---- The rush -------------------------------------------------------
    let plan = rush::Rush::default();
    println!(
        "## The rush: {} commands from {} tasks over {} products and {} carts\n",
        plan.commands, plan.tasks, plan.products, plan.carts
    );
    println!("Restocks, reservations, releases, items added to carts and checkouts, at random (seed {}). Rejected commands (sold out, nothing to release, a cart already checked out) count as commands, not as acknowledged ones.\n", plan.seed);
    header();
    let before_rush = rush_shape(
        "before: a store per task, no cache",
        &stores(&client, &table, plan.tasks, 0),
        plan,
        &format!("-b{pid}"),
    )
    .await;
    before_rush.row();
    let shared = rush_shape(
        "one shared store (queues)",
        &stores(&client, &table, 1, 0),
        plan,
        &format!("-q{pid}"),
    )
    .await;
    shared.row();
    let shared_cached = rush_shape(
        "one shared store with a cache",
        &stores(&client, &table, 1, 1_000),
        plan,
        &format!("-c{pid}"),
    )
    .await;
    shared_cached.row();
    println!();

    // ---- 64 writers on one aggregate ------------------------------------
    let tasks = 64;
    println!(
        "## 64 writers on one aggregate: {} one-unit restocks each\n",
        each
    );
    header();
    let racing = contention(
        "before: 64 stores, no cache",
        &stores(&client, &table, tasks, 0),
        &format!("hot-b{pid}"),
        tasks,
        each,
        es::Retry::default(),
    )
    .await;
    racing.row();
    let one = contention(
        "64 tasks sharing one store",
        &stores(&client, &table, 1, 0),
        &format!("hot-q{pid}"),
        tasks,
        each,
        es::Retry::default(),
    )
    .await;
    one.row();
    let independent = contention(
        "64 independent writers, each with a cache",
        &stores(&client, &table, tasks, 1_000),
        &format!("hot-i{pid}"),
        tasks,
        each,
        es::Retry::default(),
    )
    .await;
    independent.row();
    let patient = contention(
        "64 independent writers with caches, `Retry::attempts(32)`",
        &stores(&client, &table, tasks, 1_000),
        &format!("hot-p{pid}"),
        tasks,
        each,
        es::Retry::attempts(32),
    )
    .await;
    patient.row();
    println!();

    println!("## Catching up after a conflict: the item that won, or a Query\n");
    println!("Hand-written writers on one key, each committing {each} events, retrying each conflict after es's jittered wait. `ALL_OLD` learns one missed event from each failed write; a Query learns every missed event in one read.\n");
    println!("| writers | catch-up | attempts/commit | requests/commit | reads/commit |");
    println!("|---|---|---|---|---|");
    for writers in [2, 8, 64] {
        for how in [CatchUp::Query, CatchUp::ReturnedItem] {
            let key = format!("Product#catch-{writers}-{how:?}-{pid}");
            let (attempts, requests, reads) =
                catch_up(&client, &table, &key, writers, each, how).await;
            println!("| {writers} | {how:?} | {attempts:.3} | {requests:.3} | {reads:.3} |");
        }
    }
    println!();

    let headline = format!(
        concat!(
            "{{\"commit_requests\":{:.2},\"snapshot_load_requests\":{},\"commit_overhead_ratio\":{:.3},",
            "\"warm_command_requests\":{:.2},\"warm_command_ratio\":{:.3},\"rush_exhausted\":{},",
            "\"rush_attempts_per_command\":{:.3},\"rush_before_attempts_per_command\":{:.3},",
            "\"contention_attempts_per_commit\":{:.3},\"contention_before_attempts_per_commit\":{:.3},",
            "\"independent_attempts_per_commit\":{:.3},\"independent_requests_per_commit\":{:.3}}}"
        ),
        commit_requests,
        load_cost.requests,
        commit_ratio,
        warm_requests,
        warm_ratio,
        shared.exhausted + shared_cached.exhausted,
        shared.attempts_per_command(),
        before_rush.attempts_per_command(),
        one.attempts_per_command(),
        racing.attempts_per_command(),
        independent.attempts_per_command(),
        independent.per_ack(independent.cost.requests as f64),
    );
    println!("{headline}");
}
