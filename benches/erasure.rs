//! What personal data adds to a command on DynamoDB Local: the requests
//! (events table, key table, KMS) and the median time of one command whose
//! event has `#[personal]` fields, against the same command whose event
//! has none. Prints a Markdown report and a headline JSON line.
//!
//! ```text
//! scripts/dynamodb-local.sh run -- scripts/moto.sh run -- cargo bench --bench erasure --features kms
//! ```
//!
//! A command is a load of a new order and the commit of its one event (one
//! `Query`, one `PutItem`). With personal fields, the commit first seals
//! them under the customer's key, which costs, by the state of the
//! process's key cache ([`Vault`]):
//!
//! - **warm**: the key is cached: nothing but the sealing itself;
//! - **cold, known customer**: the key exists but the cache is empty (a
//!   new Lambda container, or past the cache's age): one `BatchGetItem` and
//!   one unwrap (a KMS `Decrypt`);
//! - **cold, new customer**: no key yet: one `BatchGetItem`, one wrap (a
//!   KMS `GenerateDataKey`) and one conditional `PutItem`.
//!
//! With a [`LocalMasterKey`] the wrap is in the process; with KMS (moto's,
//! when `AWS_ENDPOINT_URL_KMS` is set and the feature `kms` is on) it is a
//! request. moto answers on loopback, so its times are no guide to KMS's
//! (single-digit milliseconds in-Region); its request counts are exact.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use es::erasure::{KeyWrap, LocalMasterKey, Vault};
use es::prelude::*;
use es_dynamo::{DynamoKeys, DynamoStore};
use serde::{Deserialize, Serialize};

/// Commands per case.
const N: usize = 200;

/// Unmeasured commands before the first case.
const WARMUP: usize = 400;

/// An order with its customer's email and address, sealed.
#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct Ordered {
    #[subject]
    pub customer: String,
    #[personal]
    pub email: String,
    #[personal]
    pub address: String,
    pub amount: u32,
}

/// The same order, nothing sealed.
#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct OrderedPlain {
    pub customer: String,
    pub email: String,
    pub address: String,
    pub amount: u32,
}

#[derive(Aggregate, Serialize, Deserialize, Clone, Debug, Default)]
#[aggregate(name = "BenchOrder")]
pub struct Order {
    pub amount: u32,
}

#[es::handlers]
impl Order {
    #[on(Ordered)]
    fn ordered(&mut self, e: &Ordered) {
        self.amount = e.amount;
    }

    #[on(OrderedPlain)]
    fn ordered_plain(&mut self, e: &OrderedPlain) {
        self.amount = e.amount;
    }
}

/// What one case measured.
struct Case {
    name: String,
    median_ms: f64,
    events_requests: f64,
    key_requests: f64,
    wrap_calls: f64,
}

/// The store, and the key store under its vault, for one case.
struct Setup {
    store: DynamoStore,
    keys: DynamoKeys,
}

fn setup(events: &DynamoStore, client: &Client, table: &str, wrap: impl KeyWrap) -> Setup {
    let keys = DynamoKeys::new(client.clone(), table, wrap);
    let store = events.clone().with_vault(Vault::new(keys.clone()));
    Setup { store, keys }
}

/// One command: a new order's load and its event's commit.
async fn command(store: &DynamoStore, order: &str, customer: &str, personal: bool) {
    let mut o = Order::load(store, order).await.expect("load");
    let (email, address) = (
        format!("{customer}@example.com"),
        format!("{customer}, 1 Main St, Springfield"),
    );
    if personal {
        o.commit(Ordered {
            customer: customer.to_owned(),
            email,
            address,
            amount: 3,
        })
        .await
        .expect("commit");
    } else {
        o.commit(OrderedPlain {
            customer: customer.to_owned(),
            email,
            address,
            amount: 3,
        })
        .await
        .expect("commit");
    }
}

fn median(mut times: Vec<Duration>) -> f64 {
    times.sort_unstable();
    times[times.len() / 2].as_secs_f64() * 1000.0
}

/// Runs `N` commands, each through the store `next(i)` gives, on customer
/// `customer(i)`, and measures them.
async fn measure(
    name: &str,
    run: &str,
    personal: bool,
    mut next: impl FnMut(usize) -> (DynamoStore, DynamoKeys, String),
) -> Case {
    let mut times = Vec::with_capacity(N);
    let (mut events, mut keys, mut wraps) = (0u64, 0u64, 0u64);
    for i in 0..N {
        let (store, k, customer) = next(i);
        let (e0, k0, w0) = (
            store.stats().snapshot().requests,
            k.stats().snapshot().requests,
            k.wrap_stats().requests(),
        );
        let start = Instant::now();
        command(&store, &format!("{run}-{name}-{i}"), &customer, personal).await;
        times.push(start.elapsed());
        events += store.stats().snapshot().requests - e0;
        keys += k.stats().snapshot().requests - k0;
        wraps += k.wrap_stats().requests() - w0;
    }
    let per = |n: u64| n as f64 / N as f64;
    Case {
        name: name.to_owned(),
        median_ms: median(times),
        events_requests: per(events),
        key_requests: per(keys),
        wrap_calls: per(wraps),
    }
}

/// The four cases with one wrap: plain, warm, cold known, cold new.
async fn cases(
    label: &str,
    events: &DynamoStore,
    client: &Client,
    keys_table: &str,
    wrap: impl KeyWrap,
) -> Vec<Case> {
    let shared = setup(events, client, keys_table, wrap);
    // Keys for the known customers, made beforehand.
    let known: Vec<String> = (0..N).map(|i| format!("{label}-known-{i}")).collect();
    {
        use es::erasure::KeyStore as _;
        shared
            .keys
            .fetch(&known, true)
            .await
            .expect("make the keys");
    }
    let mut out = Vec::new();
    let s = &shared;
    out.push(
        measure("plain", label, false, |i| {
            (s.store.clone(), s.keys.clone(), known[i].clone())
        })
        .await,
    );
    // Warm: the shared vault has every known key cached (fetched above
    // through its own key store, then once through the vault).
    for customer in &known {
        s.store
            .vault()
            .expect("a vault")
            .seal(customer, &0)
            .await
            .expect("warm the cache");
    }
    out.push(
        measure("warm", label, true, |i| {
            (s.store.clone(), s.keys.clone(), known[i].clone())
        })
        .await,
    );
    // Cold, known customer: a new vault (an empty cache) per command, over
    // the same key store.
    out.push(
        measure("cold-known", label, true, |i| {
            let fresh = events.clone().with_vault(Vault::new(s.keys.clone()));
            (fresh, s.keys.clone(), known[i].clone())
        })
        .await,
    );
    // Cold, new customer: a key is made for each.
    out.push(
        measure("cold-new", label, true, |i| {
            (s.store.clone(), s.keys.clone(), format!("{label}-new-{i}"))
        })
        .await,
    );
    out
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn report(label: &str, cases: &[Case]) {
    let plain = cases[0].median_ms;
    println!("### {label}\n");
    println!("| case | median ms | × plain | events table requests | key table requests | wrap calls |\n|---|---|---|---|---|---|");
    for c in cases {
        println!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            c.name,
            c.median_ms,
            c.median_ms / plain,
            c.events_requests,
            c.key_requests,
            c.wrap_calls
        );
    }
    println!();
}

#[tokio::main]
async fn main() {
    if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_none() {
        eprintln!("erasure bench: no AWS_ENDPOINT_URL_DYNAMODB; run it under scripts/dynamodb-local.sh run --");
        return;
    }
    let before = load_average();
    let events = es_dynamo::testing::store_on_new_table("bench-erasure").await;
    let client = events.client().clone();
    let keys_table = es_dynamo::testing::unique_table_name("bench-erasure-keys");
    DynamoKeys::create_table(&client, &keys_table)
        .await
        .expect("the key table");
    let master = LocalMasterKey::random().expect("a master key");

    // Commands of each kind, unmeasured: the connections, the SDK and
    // DynamoDB Local's JVM warm up (its first few hundred requests are
    // slower), so that the first section's plain case is not slower than
    // the second's for that alone.
    let warmup = setup(&events, &client, &keys_table, master.clone());
    for i in 0..WARMUP {
        command(&warmup.store, &format!("warmup-{i}"), "warmup", i % 2 == 1).await;
    }

    let local = cases("local", &events, &client, &keys_table, master).await;
    #[cfg(feature = "kms")]
    let kms = match es_dynamo::testing::kms_wrap_on_new_key().await {
        Some(wrap) => Some(cases("kms", &events, &client, &keys_table, wrap).await),
        None => None,
    };
    #[cfg(not(feature = "kms"))]
    let kms: Option<Vec<Case>> = None;
    let after = load_average();

    println!("## Erasure: what personal fields add to a command, on DynamoDB Local\n");
    println!(
        "{N} commands per case (a new order's load and its one event's commit), one run; \
         load average {before} before, {after} after.\n"
    );
    report("Local master key", &local);
    if let Some(kms) = &kms {
        report("KMS (moto)", kms);
    } else {
        println!(
            "KMS: not measured (no AWS_ENDPOINT_URL_KMS, or built without `--features kms`).\n"
        );
    }
    let find = |cases: &[Case], name: &str| -> (f64, f64, f64) {
        let plain = cases[0].median_ms;
        cases
            .iter()
            .find(|c| c.name == name)
            .map(|c| {
                (
                    c.median_ms,
                    c.median_ms / plain,
                    c.events_requests + c.key_requests + c.wrap_calls,
                )
            })
            .unwrap_or_default()
    };
    let mut json = vec![format!("\"plain_ms_p50\":{:.2}", local[0].median_ms)];
    let mut add = |prefix: &str, cases: &[Case]| {
        for name in ["warm", "cold-known", "cold-new"] {
            let (ms, ratio, requests) = find(cases, name);
            let key = format!("{prefix}_{}", name.replace('-', "_"));
            json.push(format!("\"{key}_ms_p50\":{ms:.2}"));
            json.push(format!("\"{key}_ratio\":{ratio:.2}"));
            json.push(format!("\"{key}_requests\":{requests:.2}"));
        }
    };
    add("local", &local);
    if let Some(kms) = &kms {
        add("kms", kms);
    }
    println!("Headline figures, as one JSON line (requests: events table + key table + wrap calls, per command):\n");
    println!("{{{}}}", json.join(","));
}
