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
//! rounds, a 1.3 MB history): its timings mean nothing, its counts and its
//! long-history and snapshot findings do.
//!
//! This crate is a workspace of its own, so that the root workspace never
//! builds cqrs-es or dynamo-es. It measures four things:
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
//!    medians from that same loop. The comparison runs twice in a run.
//! 2. **What each command sends and costs**: requests per operation, and
//!    WCU by DynamoDB's documented formulas (a standard write 1 WCU per KB, a
//!    transactional one 2 WCU per KB of each item), counted by an SDK
//!    interceptor on each client ([`counter`]), and for es also by its own
//!    `Stats`.
//! 3. **A history larger than 1 MB**: how many events each framework folds
//!    into the state it loads, and whether the next command commits.
//! 4. **Snapshots**: the state each framework's snapshotting store loads,
//!    against the events stored.
//!
//! Timings on DynamoDB Local are not DynamoDB's, and they drift during a run
//! (JIT warm-up, garbage collection, the host); ratios against a hand-written
//! call timed in the same loop are what carry over. Request counts and
//! capacity units are the same as on DynamoDB.

mod counter;
mod domain;
mod raw;
mod report;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::ReturnConsumedCapacity;
use aws_sdk_dynamodb::Client;
use cqrs_es::persist::{
    EventStoreAggregateContext, PersistedEventRepository as _, PersistedEventStore,
};
use cqrs_es::{AggregateError, CqrsFramework, EventStore as _};
use dynamo_es::DynamoEventRepository;
use es::dynamo::DynamoStore;
use es::prelude::*;

use counter::{trim, Counter, Counts};
use domain::{
    CqrsCommand, CqrsEvent, CqrsProduct, Product, ProductError, ProductEvent, Restocked,
    SnappedProduct,
};
use report::{median, ms, print_blocks, ratio};

/// dynamo-es's event store over the benchmark's tables.
type CqrsStore = PersistedEventStore<DynamoEventRepository, CqrsProduct>;
/// A cqrs-es framework on that store, with no queries.
type Cqrs = CqrsFramework<CqrsProduct, CqrsStore>;

/// Events that pad a history past 1 MB carry a note of this many bytes.
const NOTE_BYTES: usize = 1_000;

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

    /// One PutItem baseline, appending the next version to its partition,
    /// asking for the consumed capacity unless `bare`.
    async fn put(&mut self, bare: bool) {
        let (client, key, consumed) = if bare {
            (
                &self.bare_put.client,
                "Product#put-bare",
                ReturnConsumedCapacity::None,
            )
        } else {
            (
                &self.put.client,
                "Product#put-with",
                ReturnConsumedCapacity::Total,
            )
        };
        let version = &mut self.put_versions[usize::from(bare)];
        *version += 1;
        raw::put(client, self.store.table(), key, *version, consumed).await;
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

    /// Seeds a cqrs-es aggregate with `n` Restocked events of 1 unit, in
    /// commits of at most 25, dynamo-es's limit per command.
    ///
    /// It commits through dynamo-es's store with the sequence number it
    /// tracks itself, not through `execute`: past 1 MB, `execute` loads too
    /// few events to ever commit again, which is what section 3 shows.
    async fn seed_cqrs(&self, id: &str, n: usize, note: &str) {
        let store = self.cqrs_event_store();
        let mut sequence = 0;
        while sequence < n {
            let chunk = (n - sequence).min(25);
            let context = EventStoreAggregateContext {
                aggregate_id: id.to_owned(),
                aggregate: CqrsProduct::default(),
                current_sequence: sequence,
                current_snapshot: None,
            };
            let events = (0..chunk)
                .map(|_| CqrsEvent::Restocked {
                    amount: 1,
                    note: note.to_owned(),
                })
                .collect();
            store
                .commit(events, context, HashMap::new())
                .await
                .expect("seed cqrs-es");
            sequence += chunk;
        }
    }

    /// Warms up the emulator's JIT and every client's connections on all
    /// six contenders' requests; returns the PutItem's median in the first
    /// and the last tenth of the warm-up.
    async fn warm_up(&mut self, rounds: usize) -> (Duration, Duration) {
        let mut put_t = Vec::with_capacity(rounds);
        for round in 0..rounds {
            let t = Instant::now();
            self.put(false).await;
            put_t.push(t.elapsed());
            self.put(true).await;
            let id = format!("warm-{round}");
            Product::execute(&self.store, id.as_str(), |_| {
                Ok::<_, ProductError>(Restocked {
                    amount: 1,
                    note: String::new(),
                })
            })
            .await
            .expect("es warm-up");
            self.cqrs
                .execute(&id, restock(1))
                .await
                .expect("cqrs-es warm-up");
            let copy = format!("copy-{id}");
            raw::query_then_put(&self.es_copy.client, self.store.table(), &copy).await;
            raw::query_then_transact(&self.cqrs_copy.client, &self.events_table, &copy).await;
        }
        let tenth = (rounds / 10).max(1);
        (
            median(&put_t[..tenth]),
            median(&put_t[put_t.len() - tenth..]),
        )
    }

    /// Sections 1 and 2: the cold command, interleaved. `round` keeps each
    /// comparison's aggregates apart. Returns the es / cqrs-es ratio.
    async fn cold_commands(&mut self, round: usize) -> f64 {
        let n = self.iterations;
        let id = |i: usize| format!("cold-{round}-{i}");
        let copy = |i: usize| format!("copy-cold-{round}-{i}");
        // Every contender's aggregate starts with 10 events, written by the
        // framework whose layout it is in.
        for i in 0..n {
            self.seed_es(&id(i), 10, "").await;
            self.seed_es(&copy(i), 10, "").await;
            for id in [id(i), copy(i)] {
                self.cqrs
                    .execute(&id, restock(10))
                    .await
                    .expect("seed cqrs-es");
            }
        }

        // The contenders, in the order each round runs them.
        let names = [
            ("es `execute`", "es"),
            ("cqrs-es `CqrsFramework::execute` on dynamo-es", "cqrs-es"),
            (
                "es's requests by hand: Query + conditional PutItem",
                "es's by hand",
            ),
            (
                "dynamo-es's requests by hand: Query + one-item TransactWriteItems",
                "dynamo-es's by hand",
            ),
            ("a conditional PutItem alone", "PutItem"),
            (
                "a conditional PutItem alone, without `ReturnConsumedCapacity`",
                "bare PutItem",
            ),
        ];
        const PUT: usize = 4;
        let counted = |b: &Bench| {
            [
                &b.es,
                &b.cqrs_client,
                &b.es_copy,
                &b.cqrs_copy,
                &b.put,
                &b.bare_put,
            ]
            .map(Counted::counts)
        };
        let mut times: [Vec<Duration>; 6] = Default::default();
        let stats = self.store.stats().snapshot();
        let before = counted(self);
        for i in 0..n {
            for (k, samples) in times.iter_mut().enumerate() {
                let t = Instant::now();
                match k {
                    0 => {
                        let done = Product::execute(&self.store, id(i), |p| p.reserve(1))
                            .await
                            .expect("es execute");
                        assert_eq!(done.version, 11);
                    }
                    1 => self
                        .cqrs
                        .execute(&id(i), CqrsCommand::Reserve { quantity: 1 })
                        .await
                        .expect("cqrs-es execute"),
                    2 => {
                        raw::query_then_put(&self.es_copy.client, self.store.table(), &copy(i))
                            .await
                    }
                    3 => {
                        raw::query_then_transact(
                            &self.cqrs_copy.client,
                            &self.events_table,
                            &copy(i),
                        )
                        .await
                    }
                    4 => self.put(false).await,
                    _ => self.put(true).await,
                }
                samples.push(t.elapsed());
            }
        }
        let stats = self.store.stats().snapshot() - stats;
        let costs: Vec<Counts> = counted(self)
            .iter()
            .zip(&before)
            .map(|(a, b)| a.since(b))
            .collect();

        // Both frameworks committed what they were asked to.
        let loaded = self
            .cqrs_event_store()
            .load_aggregate(&id(0))
            .await
            .expect("load");
        assert_eq!((loaded.current_sequence, loaded.aggregate.on_hand), (11, 9));
        let es_loaded = Product::load(&self.store, id(0)).await.expect("load");
        assert_eq!((es_loaded.version(), es_loaded.on_hand), (11, 9));

        let m: Vec<Duration> = times.iter().map(|t| median(t)).collect();
        println!("| contender | median | × PutItem | calls per command | HTTP requests per command | RCU + WCU per command | bytes written per command |");
        println!("|---|---|---|---|---|---|---|");
        for (k, (name, _)) in names.iter().enumerate() {
            let c = &costs[k];
            println!(
                "| {name} | {} | {:.3} | {} | {} | {} + {} | {} |",
                ms(m[k]),
                ratio(m[k], m[PUT]),
                c.operations_per(n),
                trim(c.requests as f64 / n as f64),
                trim(c.read_units / n as f64),
                trim(c.write_units / n as f64),
                trim(c.bytes_written as f64 / n as f64),
            );
        }
        let es_vs_cqrs = ratio(m[0], m[1]);
        println!(
            "\n× PutItem divides by the PutItem that asks for its consumed capacity, as es's \
             requests do and as the baseline of benches/dynamodb.rs does."
        );
        println!(
            "\nes / cqrs-es: **{es_vs_cqrs:.3}**. Each against its own requests written by hand: \
             es **{:.3}**, cqrs-es **{:.3}**. A PutItem that asks for its consumed capacity / one \
             that does not: **{:.3}**. es's own `Stats` for the same commands: \
             {} requests ({} read, {} write), {} RCU + {} WCU per command.\n",
            ratio(m[0], m[2]),
            ratio(m[1], m[3]),
            ratio(m[PUT], m[PUT + 1]),
            trim(stats.requests as f64 / n as f64),
            trim(stats.reads as f64 / n as f64),
            trim(stats.writes as f64 / n as f64),
            trim(stats.read_units / n as f64),
            trim(stats.write_units / n as f64),
        );
        println!("By blocks of consecutive commands:\n");
        let contenders: Vec<(&str, &[Duration])> = names
            .iter()
            .zip(&times)
            .map(|((_, short), t)| (*short, t.as_slice()))
            .collect();
        print_blocks(&contenders, &[(0, PUT), (1, PUT), (0, 1)]);
        es_vs_cqrs
    }

    /// Section 3: a history past 1 MB, loaded and then commanded by each.
    async fn long_history(&self, events: usize) {
        let note = "n".repeat(NOTE_BYTES);
        let id = "long";
        let es_before = self.es.counts();
        self.seed_es(id, events, &note).await;
        let es_seed = self.es.counts().since(&es_before);
        let cqrs_before = self.cqrs_client.counts();
        self.seed_cqrs(id, events, &note).await;
        let cqrs_seed = self.cqrs_client.counts().since(&cqrs_before);
        let es_stored = self.es_stored("Product", id).await;
        let cqrs_stored = self.cqrs_stored(id).await;

        // es: a load, then a command.
        let before = self.es.counts();
        let product = Product::load(&self.store, id).await.expect("es load");
        let es_load = self.es.counts().since(&before);
        let es_state = (product.version(), product.applied, product.on_hand);
        let es_outcome = match Product::execute(&self.store, id, |p| p.reserve(1)).await {
            Ok(done) => format!("committed at version {}", done.version),
            Err(e) => format!("failed: {e}"),
        };

        // cqrs-es: a load through its event store, then a command three times,
        // as a caller retrying a conflict would.
        let before = self.cqrs_client.counts();
        let context = self
            .cqrs_event_store()
            .load_aggregate(id)
            .await
            .expect("cqrs-es load");
        let cqrs_load = self.cqrs_client.counts().since(&before);
        let cqrs_state = (
            context.current_sequence,
            context.aggregate.applied,
            context.aggregate.on_hand,
        );
        // dynamo-es's README advises a smaller streaming channel for long
        // histories; its replay stream (what rebuilds views) is the one read
        // that follows pages. Both measured on the same aggregate.
        let advised = PersistedEventStore::<_, CqrsProduct>::new_event_store(
            self.repo().with_streaming_channel_size(100),
        )
        .load_aggregate(id)
        .await
        .expect("cqrs-es load");
        let mut stream = self
            .repo()
            .stream_events::<CqrsProduct>(id)
            .await
            .expect("replay stream");
        let mut streamed = 0;
        while let Some(event) = stream.next::<CqrsProduct>(&[]).await {
            event.expect("replayed event");
            streamed += 1;
        }

        let mut cqrs_outcomes = Vec::new();
        for _ in 0..3 {
            let outcome = match self
                .cqrs
                .execute(id, CqrsCommand::Reserve { quantity: 1 })
                .await
            {
                Ok(()) => "committed".to_owned(),
                Err(AggregateError::AggregateConflict) => "AggregateConflict".to_owned(),
                Err(e) => format!("failed: {e}"),
            };
            cqrs_outcomes.push(outcome);
        }
        let cqrs_after = self.cqrs_stored(id).await;

        println!(
            "Each event carries a {NOTE_BYTES}-byte note. Stored: es {es_stored} events in {:.2} MB; \
             cqrs-es {cqrs_stored} events in {:.2} MB (item bytes as DynamoDB sizes them).\n",
            es_seed.bytes_written as f64 / 1e6,
            cqrs_seed.bytes_written as f64 / 1e6,
        );
        println!("| | es | cqrs-es + dynamo-es |\n|---|---|---|");
        println!(
            "| events folded into the loaded state | {} | {} |",
            es_state.1, cqrs_state.1
        );
        println!(
            "| version / sequence the load ends at | {} | {} |",
            es_state.0, cqrs_state.0
        );
        println!(
            "| stock the load computes (true: {events}) | {} | {} |",
            es_state.2, cqrs_state.2
        );
        println!(
            "| Queries of the load | {} | {} |",
            es_load.calls("Query"),
            cqrs_load.calls("Query")
        );
        println!(
            "| items and MB the load read | {} items, {:.2} MB | {} items, {:.2} MB |",
            es_load.items_read,
            es_load.bytes_read as f64 / 1e6,
            cqrs_load.items_read,
            cqrs_load.bytes_read as f64 / 1e6
        );
        println!(
            "| the same load with `with_streaming_channel_size(100)`, as dynamo-es's README advises | - | {} events folded |",
            advised.aggregate.applied
        );
        println!(
            "| events in dynamo-es's replay stream (`stream_events`, for rebuilding views) | - | {streamed} |"
        );
        println!(
            "| next command (reserve 1) | {es_outcome} | 3 attempts: {} |",
            cqrs_outcomes.join(", ")
        );
        println!(
            "| events stored after it | {} | {cqrs_after} |\n",
            self.es_stored("Product", id).await
        );
    }

    /// Section 4: ten one-unit restocks through each framework's
    /// snapshotting store (a snapshot every 5 events), then loads.
    async fn snapshots(&self) {
        let id = "snap";
        let snapshot_cqrs: Cqrs = CqrsFramework::new(
            PersistedEventStore::new_snapshot_store(self.repo(), 5),
            vec![],
            (),
        );
        for _ in 0..10 {
            snapshot_cqrs
                .execute(id, restock(1))
                .await
                .expect("cqrs-es snapshot store");
        }
        let from_snapshot =
            PersistedEventStore::<_, CqrsProduct>::new_snapshot_store(self.repo(), 5)
                .load_aggregate(id)
                .await
                .expect("load with snapshots");
        let from_events = self
            .cqrs_event_store()
            .load_aggregate(id)
            .await
            .expect("load from events");
        let cqrs_stored = self.cqrs_stored(id).await;

        for _ in 0..10 {
            SnappedProduct::execute(&self.store, id, |_| {
                Ok::<_, ProductError>(Restocked {
                    amount: 1,
                    note: String::new(),
                })
            })
            .await
            .expect("es snapshots");
        }
        let before = self.es.counts();
        let es = SnappedProduct::load(&self.store, id).await.expect("load");
        let es_load = self.es.counts().since(&before);
        let es_stored = self.es_stored("SnappedProduct", id).await;

        println!("| | es (`snapshot_every = 5`) | cqrs-es (`new_snapshot_store(repo, 5)`) |\n|---|---|---|");
        println!("| events stored | {es_stored} | {cqrs_stored} |");
        println!(
            "| stock loaded with snapshots (true: 10) | {} (version {}; the load read {} item(s)) | {} (sequence {}) |",
            es.on_hand,
            es.version(),
            es_load.items_read,
            from_snapshot.aggregate.on_hand,
            from_snapshot.current_sequence
        );
        println!(
            "| stock replayed from the events alone | - | {} (sequence {}) |\n",
            from_events.aggregate.on_hand, from_events.current_sequence
        );
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
}
