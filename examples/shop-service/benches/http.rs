//! The shopping service over loopback HTTP on DynamoDB (Local): buy requests
//! per second and their p50/p99 latency for 1, 16 and 64 concurrent clients,
//! the time from process start to the first answered request, and the size
//! of the release binary.
//!
//! ```text
//! scripts/dynamodb-local.sh run -- cargo bench -p shop-service --bench http
//! scripts/dynamodb-local.sh run -- cargo bench -p shop-service --bench http -- --quick
//! ```
//!
//! It runs the real binary (`shop-service --dynamodb --listen 127.0.0.1:0`,
//! built by cargo for this bench, in the release profile) on a new table,
//! and talks to it as HTTP clients with keep-alive connections, as API
//! Gateway does. Two loads per client count: every client buying its own
//! product (no contention), and all clients buying one product (every
//! concurrent buy but one conflicts, and es retries it).
//!
//! Without `AWS_ENDPOINT_URL_DYNAMODB` it says so and does nothing.

#[path = "../tests/service/client.rs"]
#[allow(dead_code)]
mod client;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use client::Http;
use serde_json::json;

const BINARY: &str = env!("CARGO_BIN_EXE_shop-service");

/// A running `shop-service`, killed when dropped.
struct Service {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary on `table`, and returns it once it said where it
/// listens, with the time that took.
fn start(table: &str) -> (Service, Instant) {
    let started = Instant::now();
    let mut child = Command::new(BINARY)
        .args(["--dynamodb", "--listen", "127.0.0.1:0"])
        .env("ES_TABLE", table)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start shop-service");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("shop-service exited before listening")
            .expect("read stderr");
        if let Some(url) = line.strip_prefix("shop-service: listening on http://") {
            break url.parse().expect("an address");
        }
    };
    // Keep draining stderr, so the service never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (Service { child, addr }, started)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

/// `clients` clients sending `per_client` buys each, each client on
/// `product(client)`; returns requests per second, p50, p99, and the
/// answers other than 200, as `count × status`.
async fn load(
    http: &Http,
    clients: usize,
    per_client: usize,
    product: impl Fn(usize) -> String,
) -> (f64, Duration, Duration, String) {
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let http = http.clone();
            let path = format!("/products/{}/buy", product(c));
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_client);
                let mut failed = Vec::new();
                for _ in 0..per_client {
                    let sent = Instant::now();
                    let reply = http
                        .post(
                            &path,
                            json!({"cart_id": format!("cart-{c}"), "quantity": 1}),
                        )
                        .await;
                    latencies.push(sent.elapsed());
                    if reply.status != 200 {
                        failed.push(reply.status);
                    }
                }
                (latencies, failed)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut failed = std::collections::BTreeMap::<u16, usize>::new();
    for task in tasks {
        let (l, f) = task.await.expect("a client");
        latencies.extend(l);
        for status in f {
            *failed.entry(status).or_default() += 1;
        }
    }
    let failed = if failed.is_empty() {
        "none".to_owned()
    } else {
        failed
            .iter()
            .map(|(status, n)| format!("{n} × {status}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let elapsed = started.elapsed();
    latencies.sort();
    let rate = latencies.len() as f64 / elapsed.as_secs_f64();
    (
        rate,
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        failed,
    )
}

async fn restock(http: &Http, product: &str) {
    let reply = http
        .post(
            &format!("/products/{product}/restock"),
            json!({"amount": 1_000_000}),
        )
        .await;
    assert_eq!(reply.status, 200, "restock: {reply:?}");
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_none() {
        eprintln!(
            "skipped: the http bench needs DynamoDB: scripts/dynamodb-local.sh run -- cargo bench -p shop-service --bench http"
        );
        return;
    }
    let size = std::fs::metadata(BINARY).expect("the binary").len();
    let table = es::dynamo::testing::unique_table_name("shop-bench");
    println!("## shop-service on DynamoDB Local, over loopback HTTP\n");
    println!(
        "release binary size: {size} bytes ({:.1} MiB)\n",
        size as f64 / (1024.0 * 1024.0)
    );

    // The first start creates the table; later starts find it, as every
    // start on Lambda does (there the template made it).
    let (first, _) = start(&table);
    drop(first);
    let runs = if quick { 3 } else { 11 };
    let mut to_health = Vec::new();
    let mut to_read = Vec::new();
    for _ in 0..runs {
        let (service, started) = start(&table);
        let http = Http::at(service.addr);
        let health = http.get("/health").await;
        assert_eq!(health.status, 204);
        to_health.push(started.elapsed());
        let (service, started) = {
            drop(service);
            start(&table)
        };
        let http = Http::at(service.addr);
        let read = http.get("/products/none").await;
        assert_eq!(read.status, 404, "{read:?}");
        to_read.push(started.elapsed());
    }
    println!("### Start to first answer, median of {runs} starts\n");
    println!("| first request | ms |\n|---|---|");
    println!(
        "| `GET /health` (reads nothing) | {} |",
        ms(median(to_health))
    );
    println!(
        "| `GET /products/none` (one Query, 404) | {} |\n",
        ms(median(to_read))
    );

    let (service, _) = start(&table);
    let http = Http::at(service.addr);
    let total = if quick { 200 } else { 2000 };
    println!(
        "### Buys, {total} per row after a warm-up of {} \n",
        total / 4
    );
    println!("| clients | products | buys/s | p50 ms | p99 ms | answers other than 200 |");
    println!("|---|---|---|---|---|---|");
    // Warm-up: the JIT of DynamoDB Local and the connection pool.
    restock(&http, "warm").await;
    load(&http, 4, total / 16, |_| "warm".to_owned()).await;
    for clients in [1, 16, 64] {
        let per_client = total / clients;
        // One client has no one to contend with: one row.
        let loads: &[bool] = if clients == 1 {
            &[true]
        } else {
            &[true, false]
        };
        for &own in loads {
            let tag = format!("c{clients}-{}", if own { "own" } else { "hot" });
            let products: Vec<String> = if own {
                (0..clients).map(|c| format!("{tag}-{c}")).collect()
            } else {
                vec![tag.clone()]
            };
            for p in &products {
                restock(&http, p).await;
            }
            let (rate, p50, p99, failed) = load(&http, clients, per_client, |c| {
                products[c % products.len()].clone()
            })
            .await;
            println!(
                "| {clients} | {} | {rate:.0} | {} | {} | {failed} |",
                if own { "one each" } else { "one for all" },
                ms(p50),
                ms(p99)
            );
        }
    }
}
