//! Section 5: 64 writers on one aggregate, each committing one-unit
//! restocks, in es and in cqrs-es on dynamo-es.
//!
//! Every contender runs on a client of its own, so that its requests and
//! capacity are counted apart, and on an aggregate of its own, which starts
//! empty. A command's latency runs from its first attempt to its outcome,
//! retries and waits included, for every command, exhausted ones too.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{AggregateError, CqrsFramework, EventStore as _};
use dynamo_es::DynamoEventRepository;
use es::dynamo::DynamoStore;
use es::prelude::*;

use crate::counter::{trim, Counts};
use crate::domain::{Product, ProductError, Restocked};
use crate::report::{ms, quantile};
use crate::{restock, Bench, Counted, Cqrs};

/// The writers racing on one aggregate.
pub(crate) const WRITERS: usize = 64;

/// How one command ended.
enum End {
    Committed,
    /// Every attempt the policy allows lost a conflict.
    Exhausted,
    /// Any other error, which the benchmark reports rather than hides.
    Failed(String),
}

/// One command, as its writer saw it.
struct Outcome {
    end: End,
    attempts: u32,
    latency: Duration,
}

/// What one contender did.
struct Shape {
    name: &'static str,
    commands: usize,
    committed: usize,
    exhausted: usize,
    failed: Vec<String>,
    attempts: u64,
    latencies: Vec<Duration>,
    elapsed: Duration,
    cost: Counts,
}

impl Shape {
    fn new(name: &'static str, outcomes: Vec<Outcome>, elapsed: Duration, cost: Counts) -> Self {
        let mut shape = Shape {
            name,
            commands: outcomes.len(),
            committed: 0,
            exhausted: 0,
            failed: Vec::new(),
            attempts: 0,
            latencies: Vec::with_capacity(outcomes.len()),
            elapsed,
            cost,
        };
        for outcome in outcomes {
            match outcome.end {
                End::Committed => shape.committed += 1,
                End::Exhausted => shape.exhausted += 1,
                End::Failed(error) => shape.failed.push(error),
            }
            shape.attempts += u64::from(outcome.attempts);
            shape.latencies.push(outcome.latency);
        }
        shape
    }

    /// `x` per committed command.
    fn per_commit(&self, x: f64) -> String {
        if self.committed == 0 {
            return "-".to_owned();
        }
        trim(x / self.committed as f64)
    }

    fn row(&self) {
        println!(
            "| {} | {:.0} | {:.2} | {} | {} | {} | {} | {} | {} | {} | {} |",
            self.name,
            self.committed as f64 / self.elapsed.as_secs_f64(),
            self.attempts as f64 / self.commands as f64,
            self.per_commit(self.cost.requests as f64),
            if self.committed == 0 {
                "-".to_owned()
            } else {
                self.cost.operations_per(self.committed)
            },
            self.per_commit(self.cost.read_units),
            self.per_commit(self.cost.write_units),
            self.exhausted,
            self.failed.len(),
            ms(quantile(&self.latencies, 0.5)),
            ms(quantile(&self.latencies, 0.99)),
        );
    }
}

/// Runs [`WRITERS`] tasks at once, writer `w` awaiting the `each` commands
/// `command(w)` makes, one after another. Each command resolves to how it
/// ended and how many attempts it made. Returns every outcome and the time
/// from the first spawn to the last outcome.
async fn race<F, C>(each: usize, command: F) -> (Vec<Outcome>, Duration)
where
    F: Fn(usize) -> C,
    C: Future<Output = (End, u32)> + Send + 'static,
{
    // The commands are built before the clock starts; an async block does
    // nothing until it is awaited.
    let planned: Vec<Vec<C>> = (0..WRITERS)
        .map(|w| (0..each).map(|_| command(w)).collect())
        .collect();
    let started = Instant::now();
    let tasks: Vec<_> = planned
        .into_iter()
        .map(|commands| {
            tokio::spawn(async move {
                let mut outcomes = Vec::with_capacity(commands.len());
                for command in commands {
                    let began = Instant::now();
                    let (end, attempts) = command.await;
                    outcomes.push(Outcome {
                        end,
                        attempts,
                        latency: began.elapsed(),
                    });
                }
                outcomes
            })
        })
        .collect();
    let mut outcomes = Vec::with_capacity(WRITERS * each);
    for task in tasks {
        outcomes.extend(task.await.expect("a writer panicked"));
    }
    (outcomes, started.elapsed())
}

/// One es command: restock one unit, with `execute`'s default retry.
async fn es_restock(store: DynamoStore, id: String) -> (End, u32) {
    let result = Product::execute(&store, id, |_| {
        Ok::<_, ProductError>(Restocked {
            amount: 1,
            note: String::new(),
        })
    })
    .await;
    match result {
        Ok(done) => (End::Committed, done.attempts),
        // `execute` returns a conflict only once its attempts have run out.
        Err(es::Error::Conflict { .. }) => (End::Exhausted, es::Retry::default().max_attempts),
        // Any other error does not say how many attempts came before it:
        // counted as one, and reported with its message.
        Err(e) => (End::Failed(e.to_string()), 1),
    }
}

/// One cqrs-es command: restock one unit, retried by the caller on
/// `AggregateConflict` (dynamo-es never retries), as es retries: up to
/// es's default attempts, after es's jittered wait.
async fn cqrs_restock(cqrs: Arc<Cqrs>, id: String) -> (End, u32) {
    let retry = es::Retry::default();
    let mut attempt = 1;
    loop {
        match cqrs.execute(&id, restock(1)).await {
            Ok(()) => return (End::Committed, attempt),
            Err(AggregateError::AggregateConflict) if attempt < retry.max_attempts => {
                tokio::time::sleep(retry.delay(attempt)).await;
                attempt += 1;
            }
            Err(AggregateError::AggregateConflict) => return (End::Exhausted, attempt),
            Err(e) => return (End::Failed(e.to_string()), attempt),
        }
    }
}

impl Bench {
    /// Section 5: [`WRITERS`] writers on one aggregate, `each` one-unit
    /// restocks each, for every contender in turn.
    pub(crate) async fn contention(&self, config: &SdkConfig, each: usize) {
        let pid = std::process::id();
        let table = self.store.table().to_owned();
        let mut shapes = Vec::new();

        // 1. es, one store shared by every task: its queue gives the
        // aggregate's commands turns.
        let client = Counted::new(config);
        let store = DynamoStore::new(client.client.clone(), &table);
        let id = format!("hot-shared-{pid}");
        let (outcomes, elapsed) = race(each, |_| es_restock(store.clone(), id.clone())).await;
        let shape = Shape::new(
            "es, 64 tasks sharing one `DynamoStore`",
            outcomes,
            elapsed,
            client.counts(),
        );
        self.check_es(&shape, &id).await;
        shapes.push(shape);

        // 2. es, 64 independent writers: a store each, each with its own
        // queue and cache, as 64 Lambda containers would have.
        let client = Counted::new(config);
        let stores: Vec<DynamoStore> = (0..WRITERS)
            .map(|_| DynamoStore::new(client.client.clone(), &table).with_cache(1_000))
            .collect();
        let id = format!("hot-independent-{pid}");
        let (outcomes, elapsed) = race(each, |w| es_restock(stores[w].clone(), id.clone())).await;
        let shape = Shape::new(
            "es, 64 independent writers (a `DynamoStore` each, `with_cache(1000)`)",
            outcomes,
            elapsed,
            client.counts(),
        );
        self.check_es(&shape, &id).await;
        shapes.push(shape);

        // 3. cqrs-es, 64 tasks on one framework.
        let client = Counted::new(config);
        let cqrs = Arc::new(self.cqrs_on(&client));
        let id = format!("hot-cqrs-shared-{pid}");
        let (outcomes, elapsed) = race(each, |_| cqrs_restock(cqrs.clone(), id.clone())).await;
        let shape = Shape::new(
            "cqrs-es on dynamo-es, 64 tasks on one `CqrsFramework`",
            outcomes,
            elapsed,
            client.counts(),
        );
        self.check_cqrs(&shape, &id).await;
        shapes.push(shape);

        // 4. cqrs-es, 64 independent writers: a framework each. cqrs-es
        // keeps nothing between commands, so this should match 3.
        let client = Counted::new(config);
        let frameworks: Vec<Arc<Cqrs>> = (0..WRITERS)
            .map(|_| Arc::new(self.cqrs_on(&client)))
            .collect();
        let id = format!("hot-cqrs-independent-{pid}");
        let (outcomes, elapsed) =
            race(each, |w| cqrs_restock(frameworks[w].clone(), id.clone())).await;
        let shape = Shape::new(
            "cqrs-es on dynamo-es, 64 independent writers (a `CqrsFramework` each)",
            outcomes,
            elapsed,
            client.counts(),
        );
        self.check_cqrs(&shape, &id).await;
        shapes.push(shape);

        println!(
            "{WRITERS} writers at once on one aggregate, {each} one-unit restocks each, one \
             after another ({} commands per contender). cqrs-es's caller retries \
             `AggregateConflict` up to {} attempts in all, after es's jittered wait \
             (`es::Retry::default().delay(attempt)`); es's `execute` retries on its own, with \
             the same default.\n",
            WRITERS * each,
            es::Retry::default().max_attempts,
        );
        println!("| contender | commits/s | attempts/command | requests/commit | calls/commit | RCU/commit | WCU/commit | exhausted | other errors | p50 | p99 |");
        println!("|---|---|---|---|---|---|---|---|---|---|---|");
        for shape in &shapes {
            shape.row();
        }
        println!(
            "\nPer commit: divided by the commands that committed; requests are HTTP requests \
             counted on each contender's client (retries of conflicts and the SDK's own retries \
             included), RCU and WCU by DynamoDB's documented formulas, failed conditional \
             writes included, as DynamoDB bills them. Latency is per command, first attempt to \
             outcome, exhausted commands included.\n"
        );
        for shape in &shapes {
            if let Some(first) = shape.failed.first() {
                println!(
                    "{}: {} command(s) failed otherwise; the first: {first}\n",
                    shape.name,
                    shape.failed.len()
                );
            }
        }
    }

    /// A framework on dynamo-es's event store over the benchmark's tables,
    /// on `client`.
    fn cqrs_on(&self, client: &Counted) -> Cqrs {
        let repo = DynamoEventRepository::new(client.client.clone())
            .with_tables(&self.events_table, &self.snapshots_table);
        CqrsFramework::new(PersistedEventStore::new_event_store(repo), vec![], ())
    }

    /// Every committed es restock is stored once, and nothing else is.
    async fn check_es(&self, shape: &Shape, id: &str) {
        let stored = self.es_stored("Product", id).await;
        let loaded = Product::load(&self.store, id).await.expect("load");
        let committed = shape.committed as u64;
        assert_eq!(
            (stored, loaded.version(), loaded.on_hand),
            (committed, committed, committed),
            "{}: stored events, version and stock against committed commands",
            shape.name
        );
    }

    /// Every committed cqrs-es restock is stored once, and nothing else is.
    async fn check_cqrs(&self, shape: &Shape, id: &str) {
        let stored = self.cqrs_stored(id).await;
        let loaded = self
            .cqrs_event_store()
            .load_aggregate(id)
            .await
            .expect("load");
        let committed = shape.committed as u64;
        assert_eq!(
            (
                stored,
                loaded.current_sequence as u64,
                loaded.aggregate.on_hand
            ),
            (committed, committed, committed),
            "{}: stored events, sequence and stock against committed commands",
            shape.name
        );
    }
}
