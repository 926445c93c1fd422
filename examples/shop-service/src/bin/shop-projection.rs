//! `shop-projection`: the shop's views, kept from the events table's
//! DynamoDB Stream.
//!
//! On Lambda (the runtime sets `AWS_LAMBDA_RUNTIME_API`) it is the stream's
//! function: each batch the event source mapping hands it is projected into
//! the view table `ES_VIEW_TABLE`, and it answers with the records to retry
//! (`ReportBatchItemFailures`). Locally, `shop-projection --dynamodb` reads
//! the stream itself with es's stream runner, so a developer on DynamoDB
//! Local sees the views follow the API's writes (`shop-projection --help`).

// The Lambda handler's future nests the projector's, the batch's and the
// SDK's: computing its layout goes deeper than rustc's default limit.
#![recursion_limit = "256"]

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use es::dynamo::{DynamoStore, DynamoTimers, DynamoViews, StreamRunner};
use es::projection::{Codec, Projected, Projection, ProjectionError, RawEvent};
use es::Projector;
use shop_service::cli::{Keys, ProjectionArgs, Tables, TABLE_VAR};
use shop_service::expiry;
use shop_service::projection::{stream_projector, LAYOUT, VIEW_TABLE_VAR};
use shop_service::views::ShopViews;

fn main() -> ExitCode {
    shop_service::init_logging();
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        // Lambda hands an instance one batch at a time: one thread is all it
        // can use, and it starts faster.
        return run(tokio::runtime::Builder::new_current_thread(), on_lambda());
    }
    // --help and --version print and exit 0; a bad or missing argument
    // prints a usage error and exits 2.
    let args = ProjectionArgs::parse();
    let tables = (args.tables.clone(), args.keys.clone());
    let main: std::pin::Pin<Box<dyn Future<Output = Fallible>>> = if args.rebuild {
        Box::pin(rebuild(tables))
    } else if let Some(file) = args.reapply_failures.clone() {
        Box::pin(reapply(tables, Reapply::Failures(file)))
    } else if !args.reapply.is_empty() {
        Box::pin(reapply(tables, Reapply::Ids(args.reapply.clone())))
    } else {
        Box::pin(follow(tables, args.catch_up))
    };
    run(tokio::runtime::Builder::new_multi_thread(), main)
}

type Fallible = Result<(), Box<dyn std::error::Error + Send + Sync>>;

fn run(mut builder: tokio::runtime::Builder, main: impl Future<Output = Fallible>) -> ExitCode {
    let result = builder
        .enable_all()
        .build()
        .map_err(Into::into)
        .and_then(|runtime| runtime.block_on(main));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "shop-projection failed");
            eprintln!("shop-projection: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn on_lambda() -> Fallible {
    let view_table = std::env::var(VIEW_TABLE_VAR)
        .map_err(|_| format!("{VIEW_TABLE_VAR} must name the view table on Lambda"))?;
    let table = std::env::var(TABLE_VAR)
        .map_err(|_| format!("{} must name the events table on Lambda", TABLE_VAR))?;
    // No `ensure_table`: the template owns the tables, and the function's
    // role may only use their items.
    let vault = shop_service::keys::vault_from_env(&table, None).await?;
    let views = stream_projector(table.clone(), view_table, vault).await;
    // The sweeper writes events (a hold's expiry): the table's Regions and
    // consistency mode first, as the API does (docs/multi-region.md).
    views
        .store()
        .check_regions()
        .await
        .map_err(|e| format!("checking the events table's Regions: {e}"))?;
    let timers = DynamoTimers::new(views.store().client().clone(), expiry::timers_table(&table));
    let manager = expiry::dynamo_manager(views.store(), views.table(), &timers);
    let sweeper = expiry::sweeper(views.store(), &timers, es::SystemClock)?;
    let (views, manager, sweeper) = (&views, &manager, &sweeper);
    // One binary, two functions: the stream's batches (the views and the
    // holds' process manager), and the sweeper's schedule (EventBridge
    // Scheduler's invocation, whatever its input), told apart by their
    // shape: a batch has `Records`.
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| async move {
            if event.payload.get("Records").is_some() {
                let batch: es::dynamo::lambda::Event = serde_json::from_value(event.payload)?;
                let mut answer = es::dynamo::lambda::handle(views, batch.clone()).await?;
                let managed = es::dynamo::lambda::handle(manager, batch).await?;
                // Lambda retries from the lowest sequence number reported.
                answer
                    .batch_item_failures
                    .extend(managed.batch_item_failures);
                return Ok::<_, lambda_runtime::Error>(serde_json::to_value(answer)?);
            }
            let report = sweeper.sweep().await?;
            tracing::info!(
                fired = report.fired,
                failed = report.failed.len(),
                raced = report.raced,
                "swept"
            );
            Ok(serde_json::json!({"fired": report.fired, "failed": report.failed.len()}))
        },
    ))
    .await
}

/// The events, view and key tables `shop-service --dynamodb` uses, created
/// if missing; the events store seals and opens through the key table.
async fn tables(
    (tables, keys): (Tables, Keys),
) -> Result<(DynamoStore, DynamoViews), Box<dyn std::error::Error + Send + Sync>> {
    let table = tables.table.clone();
    // Before anything is created: without a wrap it cannot start.
    let wrapping = keys.wrapping()?;
    let store = DynamoStore::from_env(table.clone())
        .await
        .with_layout(LAYOUT);
    let keys_table = keys.keys_table(&table);
    let (vault, keys) = shop_service::keys::vault(keys_table.clone(), wrapping, Some(&store)).await;
    keys.ensure_table()
        .await
        .map_err(|e| format!("DynamoDB key table {keys_table:?}: {e}"))?;
    let store = store.with_vault(vault);
    // Both created if missing, as `shop-service --dynamodb` does, so that
    // either may start first.
    store
        .ensure_table()
        .await
        .map_err(|e| format!("DynamoDB table {table:?}: {e}"))?;
    let view_table = tables.view_table();
    let views = DynamoViews::new(store.client().clone(), view_table.clone());
    views
        .ensure_table()
        .await
        .map_err(|e| format!("DynamoDB view table {view_table:?}: {e}"))?;
    Ok((store, views))
}

/// What to reapply.
enum Reapply {
    /// The messages of the failure destination, in a file (`-`: stdin).
    Failures(std::path::PathBuf),
    /// These aggregates.
    Ids(Vec<(String, String)>),
}

/// Reapplies failed batches, or aggregates, to the views and to the holds'
/// process manager: each aggregate caught up from the events table.
async fn reapply(tables: (Tables, Keys), what: Reapply) -> Fallible {
    let (store, views) = self::tables(tables).await?;
    let timers = DynamoTimers::new(store.client().clone(), expiry::timers_table(store.table()));
    timers
        .ensure_table()
        .await
        .map_err(|e| format!("DynamoDB timers table {:?}: {e}", timers.table()))?;
    let projector = Projector::new(store.clone(), views.clone(), ShopViews::new(views.clone()));
    let manager = expiry::dynamo_manager(&store, &views, &timers);
    let (applied, aggregates) = match what {
        Reapply::Failures(file) => {
            let message = if file.as_os_str() == "-" {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
                text
            } else {
                std::fs::read_to_string(&file)
                    .map_err(|e| format!("cannot read {}: {e}", file.display()))?
            };
            let streams = es::dynamo::runner::streams_client_from_env().await;
            let views =
                es::dynamo::failures::reapply_failures(&projector, &streams, &message).await?;
            let managed =
                es::dynamo::failures::reapply_failures(&manager, &streams, &message).await?;
            eprintln!(
                "shop-projection: {} failed batches name {} aggregates",
                views.batches,
                views.aggregates.len()
            );
            (
                views.outcome.applied + managed.outcome.applied,
                views.aggregates.len(),
            )
        }
        Reapply::Ids(ids) => {
            let views = projector.reapply(ids.iter().cloned()).await?;
            let managed = manager.reapply(ids.iter().cloned()).await?;
            (views.applied + managed.applied, ids.len())
        }
    };
    tracing::info!(aggregates, applied, "reapplied");
    eprintln!("shop-projection: {aggregates} aggregates caught up, {applied} events applied");
    Ok(())
}

/// Locally: the whole history into the view table, with its progress shown
/// and kept as a checkpoint, so that an interrupted rebuild resumes.
async fn rebuild(tables: (Tables, Keys)) -> Fallible {
    let (store, views) = self::tables(tables).await?;
    eprintln!(
        "shop-projection: rebuilding the views of {:?} into {:?}",
        store.table(),
        views.table()
    );
    let projector = Projector::new(store, views.clone(), ShopViews::new(views));
    let report = es::rebuild(&projector)
        .concurrency(16)
        .checkpoint()
        .progress_bar()
        .run()
        .await?;
    tracing::info!(
        aggregates = report.aggregates,
        events = report.events,
        resumed = report.resumed,
        "rebuilt"
    );
    eprintln!(
        "shop-projection: rebuilt {} aggregates, {} events, in {:.1} s{}",
        report.aggregates,
        report.events,
        report.elapsed.as_secs_f64(),
        if report.resumed {
            ", resuming an interrupted rebuild"
        } else {
            ""
        }
    );
    Ok(())
}

/// Locally: the stream runner, on the tables `shop-service --dynamodb` uses,
/// and beside it the holds' process manager (a stream runner of its own)
/// and their sweeper (every second).
async fn follow(tables: (Tables, Keys), catch_up: bool) -> Fallible {
    let (store, views) = self::tables(tables).await?;
    let (table, view_table) = (store.table().to_owned(), views.table().to_owned());
    let timers = DynamoTimers::new(store.client().clone(), expiry::timers_table(&table));
    timers
        .ensure_table()
        .await
        .map_err(|e| format!("DynamoDB timers table {:?}: {e}", timers.table()))?;
    let manager = StreamRunner::new(expiry::dynamo_manager(&store, &views, &timers))
        .await
        .owner("shop-projection")
        .idle(Duration::from_millis(200));
    let sweeper = expiry::sweeper(&store, &timers, es::SystemClock)?;
    let projector = Projector::new(store, views.clone(), Logged(ShopViews::new(views)));
    let runner = StreamRunner::new(projector)
        .await
        // One name across restarts: a runner started after a stopped or
        // killed one takes its shards back at once, rather than when their
        // leases run out (30 s).
        .owner("shop-projection")
        // A developer is watching: new events show within a fifth of a second.
        .idle(Duration::from_millis(200));
    tracing::info!(table = %table, view_table = %view_table, "following the stream");
    eprintln!("shop-projection: following the stream of {table:?} into {view_table:?}");
    let report = if catch_up {
        manager.catch_up().await?;
        sweeper.sweep().await?;
        runner.catch_up().await?
    } else {
        eprintln!("shop-projection: Ctrl-C or SIGTERM stops it, after the batch in hand");
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let stopped_at = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        let signal = async {
            es::dynamo::runner::shutdown_signal().await;
            let _ = stop.send(true);
        };
        let (_, report, managed, ()) = tokio::join!(
            signal,
            runner.run_until(stopped_at(stopped.clone())),
            manager.run_until(stopped_at(stopped.clone())),
            sweeper.run_until(Duration::from_secs(1), stopped_at(stopped)),
        );
        managed?;
        report?
    };
    tracing::info!(
        records = report.records,
        applied = report.applied,
        skipped = report.skipped,
        "stopped"
    );
    eprintln!(
        "shop-projection: {} events applied, {} records skipped",
        report.applied, report.skipped
    );
    Ok(())
}

/// A projection that logs each event it applied: locally, one JSON line per
/// event shows the views moving. On Lambda the projection runs without it,
/// as a line per event would cost more in CloudWatch than the function.
struct Logged<P>(P);

impl<P: Projection> Projection for Logged<P> {
    const NAME: &'static str = P::NAME;
    type Error = P::Error;

    fn aggregates() -> Vec<&'static str> {
        P::aggregates()
    }

    // A wrapper passes on its projection's personal fields, so that the
    // driver opens them.
    fn personal(aggregate: &str, event: &str) -> Option<&'static es::erasure::Personal> {
        P::personal(aggregate, event)
    }

    // A wrapper passes on what its projection's handlers staged.
    fn before_commit<'a>(
        &'a self,
        aggregate: &'static str,
        id: &'a str,
        messages: Vec<Box<dyn std::any::Any + Send>>,
    ) -> impl Future<Output = Result<(), ProjectionError<Self::Error>>> + Send + 'a {
        self.0.before_commit(aggregate, id, messages)
    }

    fn project<'a, C: Codec>(
        &'a self,
        codec: &'a C,
        event: RawEvent<C::Payload>,
    ) -> impl Future<Output = Result<Projected, ProjectionError<Self::Error>>> + Send + 'a {
        let (aggregate, id) = (event.aggregate.clone(), event.id.clone());
        let (name, version) = (event.event.name.clone(), event.event.version);
        async move {
            let projected = self.0.project(codec, event).await?;
            if projected == Projected::Applied {
                tracing::info!(%aggregate, %id, version, event = %name, "applied");
            }
            Ok(projected)
        }
    }
}
