//! es against cqrs-es 0.5 with dynamo-es 0.5, side by side on one DynamoDB
//! Local, in one run. Prints a Markdown report; `docs/BENCHMARKS.md` quotes
//! one.
//!
//! ```text
//! cd /path/to/es
//! scripts/dynamodb-local.sh run -- cargo run --release --manifest-path benches/cqrs-es/Cargo.toml
//! scripts/dynamodb-local.sh run -- cargo run --release --manifest-path benches/cqrs-es/Cargo.toml -- --quick
//! ```
//!
//! `--quick` is a smoke test (40 commands per contender after 100 warm-up
//! rounds, a 1.3 MB history, 2 restocks per writer in section 5): its
//! timings mean nothing, its counts and its long-history and snapshot
//! findings do.
//!
//! This crate is a workspace of its own, so that the root workspace never
//! builds cqrs-es or dynamo-es. It measures five things:
//!
//! 1. **A cold command** (load an aggregate of 10 events, decide, commit one
//!    event): es `execute`, cqrs-es `CqrsFramework::execute` on dynamo-es's
//!    event store, a hand-written conditional `PutItem` (the least a command
//!    can write), and each framework's requests written by hand on its own
//!    table layout: a Query then a `PutItem` (es), a Query then a one-item
//!    `TransactWriteItems` (dynamo-es); and the `PutItem` once more without
//!    asking for its consumed capacity, which es does on every request and
//!    dynamo-es never. The six run interleaved op by op,
//!    so that the emulator's drift hits all alike, and every ratio divides
//!    medians from that same loop. The comparison runs twice in a run
//!    ([`cold`], with section 2).
//! 2. **What each command sends and costs**: requests per operation, and
//!    WCU by DynamoDB's documented formulas (a standard write 1 WCU per KB, a
//!    transactional one 2 WCU per KB of each item), counted by an SDK
//!    interceptor on each client ([`counter`]), and for es also by its own
//!    `Stats`.
//! 3. **A history larger than 1 MB**: how many events each framework folds
//!    into the state it loads, and whether the next command commits.
//! 4. **Snapshots**: the state each framework's snapshotting store loads,
//!    against the events stored ([`loads`], with section 3).
//! 5. **64-way contention on one aggregate**: 64 writers at once on one
//!    aggregate id, each committing one-unit restocks (5 each, 2 in
//!    `--quick`): es with one shared store, es with 64 independent cached
//!    stores, and cqrs-es on dynamo-es with one framework and with 64, its
//!    caller retrying conflicts as es does ([`contention`]).
//!
//! Timings on DynamoDB Local are not DynamoDB's, and they drift during a run
//! (JIT warm-up, garbage collection, the host); ratios against a hand-written
//! call timed in the same loop are what carry over. Request counts and
//! capacity units are the same as on DynamoDB.

mod cold;
mod contention;
mod counter;
mod domain;
mod loads;
mod raw;
mod report;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::Client;
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::CqrsFramework;
use dynamo_es::DynamoEventRepository;
use es::dynamo::DynamoStore;
use es::prelude::*;

use counter::{trim, Counter, Counts};
use domain::{CqrsCommand, CqrsProduct, Product, ProductEvent, Restocked};
use report::ms;

/// dynamo-es's event store over the benchmark's tables.
type CqrsStore = PersistedEventStore<DynamoEventRepository, CqrsProduct>;
/// A cqrs-es framework on that store, with no queries.
type Cqrs = CqrsFramework<CqrsProduct, CqrsStore>;

/// A client built from the shared config, with a counter of its own, so
/// that every contender's requests are counted apart.
struct Counted {
    client: Client,
    counter: Counter,
}

impl Counted {
    fn new(config: &SdkConfig) -> Self {
        let counter = Counter::default();
        let conf = aws_sdk_dynamodb::config::Builder::from(config)
            .interceptor(counter.clone())
            .build();
        Counted {
            client: Client::from_conf(conf),
            counter,
        }
    }

    fn counts(&self) -> Counts {
        self.counter.counts()
    }
}

/// Everything the sections share.
struct Bench {
    iterations: usize,
    /// The es store, on the `es` client.
    store: DynamoStore,
    es: Counted,
    /// cqrs-es's framework on dynamo-es's event store, on the `cqrs` client.
    cqrs: Cqrs,
    cqrs_client: Counted,
    events_table: String,
    snapshots_table: String,
    /// The hand-written baselines: es's requests (Query + PutItem,
    /// castore's layout), dynamo-es's (Query + one-item TransactWriteItems,
    /// its layout), and a PutItem alone, asking for its consumed capacity
    /// (`put`, as es does and as benches/dynamodb.rs's baseline does) or not
    /// (`bare_put`, as dynamo-es does).
    es_copy: Counted,
    cqrs_copy: Counted,
    put: Counted,
    bare_put: Counted,
    /// The last version each PutItem baseline wrote to its partition.
    put_versions: [u64; 2],
}

impl Bench {
    /// A fresh dynamo-es event store on the benchmark's tables.
    fn cqrs_event_store(&self) -> CqrsStore {
        PersistedEventStore::new_event_store(self.repo())
    }

    fn repo(&self) -> DynamoEventRepository {
        DynamoEventRepository::new(self.cqrs_client.client.clone())
            .with_tables(&self.events_table, &self.snapshots_table)
    }

    /// The events es stores for `id` of the aggregate named `aggregate`,
    /// counted by a Query of its own.
    async fn es_stored(&self, aggregate: &str, id: &str) -> u64 {
        let partition = format!("{aggregate}#{id}");
        raw::count_items(
            self.store.client(),
            self.store.table(),
            ("aggregateId", &partition),
        )
        .await
    }

    /// The events dynamo-es stores for the product `id`, counted by a Query
    /// of its own.
    async fn cqrs_stored(&self, id: &str) -> u64 {
        let partition = format!("Product:{id}");
        raw::count_items(
            &self.cqrs_client.client,
            &self.events_table,
            ("AggregateTypeAndId", &partition),
        )
        .await
    }

    /// Seeds an es aggregate with `n` Restocked events of 1 unit, in
    /// commits of at most 100 (DynamoDB's transaction limit).
    async fn seed_es(&self, id: &str, n: usize, note: &str) {
        let mut product = Product::load(&self.store, id).await.expect("load");
        let mut left = n;
        while left > 0 {
            let chunk = left.min(100);
            let events: Vec<ProductEvent> = (0..chunk)
                .map(|_| {
                    Restocked {
                        amount: 1,
                        note: note.to_owned(),
                    }
                    .into()
                })
                .collect();
            product.commit_all(events).await.expect("seed es");
            left -= chunk;
        }
    }
}

/// A cqrs-es command restocking `times` units, one event each.
fn restock(times: usize) -> CqrsCommand {
    CqrsCommand::Restock {
        amount: 1,
        times,
        note: String::new(),
    }
}

#[tokio::main]
async fn main() {
    if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_none() {
        eprintln!(
            "AWS_ENDPOINT_URL_DYNAMODB is not set: run `scripts/dynamodb-local.sh run -- \
             cargo run --release --manifest-path benches/cqrs-es/Cargo.toml`"
        );
        std::process::exit(2);
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let iterations = if quick { 40 } else { 300 };
    let warmup = if quick { 100 } else { 1_500 };
    // One-unit restocks per writer in the contention section.
    let each = if quick { 2 } else { 5 };
    // Enough 1 KB events to pass 1 MB (quick) or 3 MB.
    let long_events = if quick { 1_200 } else { 3_000 };

    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let es = Counted::new(&config);
    let cqrs_client = Counted::new(&config);

    let pid = std::process::id();
    let store = DynamoStore::new(es.client.clone(), format!("es-vs-cqrs-{pid}"));
    store.create_table().await.expect("create the es table");
    let events_table = format!("cqrs-events-{pid}");
    let snapshots_table = format!("cqrs-snapshots-{pid}");
    raw::create_dynamo_es_tables(&cqrs_client.client, &events_table, &snapshots_table).await;
    let cqrs = CqrsFramework::new(
        PersistedEventStore::new_event_store(
            DynamoEventRepository::new(cqrs_client.client.clone())
                .with_tables(&events_table, &snapshots_table),
        ),
        vec![],
        (),
    );
    let mut bench = Bench {
        iterations,
        store,
        es,
        cqrs,
        cqrs_client,
        events_table,
        snapshots_table,
        es_copy: Counted::new(&config),
        cqrs_copy: Counted::new(&config),
        put: Counted::new(&config),
        bare_put: Counted::new(&config),
        put_versions: [0; 2],
    };

    println!("# es vs cqrs-es 0.5 + dynamo-es 0.5 on DynamoDB Local\n");
    println!(
        "{iterations} commands per contender per comparison, interleaved op by op; \
         exact crate versions in benches/cqrs-es/Cargo.lock.{}\n",
        if quick {
            " **Quick mode: the timings are not meaningful.**"
        } else {
            ""
        }
    );

    let (first, last) = bench.warm_up(warmup).await;
    println!(
        "Warm-up: {warmup} rounds of all six contenders (on new aggregates). Median PutItem in its first tenth: {}; in its last tenth: {}.\n",
        ms(first),
        ms(last)
    );

    println!("## 1–2. Cold command on an aggregate of 10 events: time, requests, capacity\n");
    let first = bench.cold_commands(1).await;
    println!("## 1–2 again, later in the same run, on fresh aggregates\n");
    let again = bench.cold_commands(2).await;
    println!("es / cqrs-es measured twice in this run: {first:.3}, then {again:.3}.\n");
    let local = raw::local_transaction_capacity(
        &bench.cqrs_copy.client,
        &bench.events_table,
        "consumed-capacity",
    )
    .await;
    println!(
        "The WCU above are DynamoDB's documented formulas applied to the items sent. For one \
         one-item transaction of a command's event, DynamoDB Local itself reports {} WCU \
         (`ReturnConsumedCapacity`).\n",
        trim(local)
    );

    println!("## 3. A history past 1 MB: {long_events} events, then one more command\n");
    bench.long_history(long_events).await;

    println!("## 4. Snapshots: ten one-unit restocks, a snapshot every 5 events\n");
    bench.snapshots().await;

    println!(
        "## 5. {} writers on one aggregate: {each} one-unit restocks each\n",
        contention::WRITERS
    );
    bench.contention(&config, each).await;
}
