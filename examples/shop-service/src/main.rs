//! `shop-service`: the shopping API on AWS Lambda, or on a local socket.
//!
//! On Lambda (the runtime sets `AWS_LAMBDA_RUNTIME_API`) it serves API
//! Gateway HTTP API events through `lambda_http`, on DynamoDB, in the table
//! `ES_TABLE` that the deployment template creates, and reads the views from
//! the view table `ES_VIEW_TABLE`, which the `shop-projection` function
//! keeps. Elsewhere it parses its command line (`shop-service --help`) and
//! serves HTTP itself, on the same router, until SIGTERM or Ctrl-C.

use std::process::ExitCode;

use clap::Parser;
use es::dynamo::{DynamoKeys, DynamoStore, DynamoViews};
use shop_service::cli::ServiceArgs;
use shop_service::deadline::store_timeouts;
use shop_service::keys::Wrapping;
use shop_service::projection::VIEW_TABLE_VAR;
use shop_service::read_side::ReadSide;
use shop_service::App;

fn main() -> ExitCode {
    shop_service::init_logging();
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        // Lambda sends one request at a time to an instance: one thread is
        // all it can use, and it starts faster.
        return run(tokio::runtime::Builder::new_current_thread(), on_lambda());
    }
    // --help and --version print and exit 0; a bad argument prints a usage
    // error and exits 2.
    let args = ServiceArgs::parse();
    run(tokio::runtime::Builder::new_multi_thread(), serve(args))
}

type Fallible = Result<(), Box<dyn std::error::Error + Send + Sync>>;

fn run(
    mut builder: tokio::runtime::Builder,
    main: impl std::future::Future<Output = Fallible>,
) -> ExitCode {
    let result = builder
        .enable_all()
        .build()
        .map_err(Into::into)
        .and_then(|runtime| runtime.block_on(main));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "shop-service failed");
            eprintln!("shop-service: {e}");
            ExitCode::FAILURE
        }
    }
}

/// How many aggregates a process keeps the latest state of: products and
/// carts are small, and 10,000 of them are a few megabytes.
const CACHED_AGGREGATES: usize = 10_000;

/// The events and view stores on `table` and `view_table`, with timeouts
/// that leave a request time to answer (`shop_service::deadline`), and the
/// key table `keys_table`, wrapped as `wrapping` says, whose vault seals
/// and opens the events' personal fields.
async fn stores(
    table: String,
    view_table: String,
    keys_table: String,
    wrapping: Wrapping,
) -> (DynamoStore, DynamoViews, DynamoKeys) {
    let (operation, attempt) = store_timeouts();
    let mut store = DynamoStore::from_env(table)
        .await
        .with_timeouts(operation, attempt)
        .with_cache(CACHED_AGGREGATES);
    // A global table in the eventual mode is written from one Region only
    // (docs/multi-region.md): ES_WRITE_REGION names it.
    if let Some(region) = std::env::var("ES_WRITE_REGION")
        .ok()
        .filter(|r| !r.is_empty())
    {
        store = store.with_write_region(region);
    }
    // The same client, and so the same timeouts, for the views and keys.
    let views = DynamoViews::new(store.client().clone(), view_table);
    let (vault, keys) = shop_service::keys::vault(keys_table, wrapping, Some(&store)).await;
    (store.with_vault(vault), views, keys)
}

async fn on_lambda() -> Fallible {
    // Before anything else: a malformed list fails the init.
    let hot = shop_service::hot_products_from_env()?;
    let table =
        std::env::var("ES_TABLE").map_err(|_| "ES_TABLE must name the events table on Lambda")?;
    let view_table = std::env::var(VIEW_TABLE_VAR)
        .map_err(|_| format!("{VIEW_TABLE_VAR} must name the view table on Lambda"))?;
    // No `ensure_table` here: the template owns both tables, and the
    // function's role may only read and write items. Built once per
    // container, so the cache serves every warm invocation: a buy on a
    // product this container has seen is one conditional PutItem. The
    // vault too: the customers' keys stay cached across warm invocations.
    let keys_table = shop_service::keys::keys_table_from_env(&table);
    let (store, views, _) = stores(table, view_table, keys_table, Wrapping::from_env()?).await;
    // Once per container: the table's Regions and consistency mode, which
    // every write is then checked against. A failure fails the init, which
    // Lambda retries, rather than writing to a table it could not check.
    store
        .check_regions()
        .await
        .map_err(|e| format!("checking the events table's Regions: {e}"))?;
    let views = ReadSide::dynamo(&store, views);
    // SHOP_HOLD_SECONDS, as locally; 15 minutes when unset.
    let hold = std::env::var("SHOP_HOLD_SECONDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|s| (1..=86_400).contains(s))
        .map_or(
            shop_service::shop::DEFAULT_HOLD,
            std::time::Duration::from_secs,
        );
    lambda_http::run(
        App::new(store)
            .with_views(views)
            .with_hold(hold)
            .with_hot_products(hot)
            .router(),
    )
    .await
}

async fn serve(args: ServiceArgs) -> Fallible {
    let hold = std::time::Duration::from_secs(args.hold_seconds);
    let hot = shop_service::hot_products_from_env()?;
    let app = if args.dynamodb {
        let (table, view_table) = (args.tables.table.clone(), args.tables.view_table());
        // Before anything is created: without a wrap it cannot start.
        let wrapping = args.keys.wrapping()?;
        let keys_table = args.keys.keys_table(&table);
        let (store, views, keys) = stores(
            table.clone(),
            view_table.clone(),
            keys_table.clone(),
            wrapping,
        )
        .await;
        store
            .ensure_table()
            .await
            .map_err(|e| format!("DynamoDB table {table:?}: {e}"))?;
        keys.ensure_table()
            .await
            .map_err(|e| format!("DynamoDB key table {keys_table:?}: {e}"))?;
        // Created here too, so that the view routes answer (404 until
        // `shop-projection --dynamodb` writes a view) before it first runs.
        views
            .ensure_table()
            .await
            .map_err(|e| format!("DynamoDB view table {view_table:?}: {e}"))?;
        store
            .check_regions()
            .await
            .map_err(|e| format!("checking the Regions of {table:?}: {e}"))?;
        tracing::info!(table = %table, view_table = %view_table, "store: DynamoDB");
        // Holds expire through `shop-projection --dynamodb`, which runs their
        // process manager and sweeper beside the views.
        let views = ReadSide::dynamo(&store, views);
        App::new(store)
            .with_views(views)
            .with_hold(hold)
            .with_hot_products(hot)
            .router()
    } else {
        tracing::info!("store: in memory");
        let store = es::MemoryStore::new();
        let views = ReadSide::memory(&store);
        // Holds expire in this process: their manager follows the store's
        // change feed, and the sweeper fires what is due, every second.
        tokio::spawn(shop_service::expiry::run_in_memory(
            store.clone(),
            es::SystemClock,
            shop_service::hot::HotShelves::new(hot.clone()),
            std::time::Duration::from_secs(1),
            std::future::pending(),
        ));
        App::new(store)
            .with_views(views)
            .with_hold(hold)
            .with_hot_products(hot)
            .router()
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "listening");
    // Also plainly on stderr, for people and for scripts that asked for port 0.
    eprintln!("shop-service: listening on http://{addr}");
    // On SIGTERM or Ctrl-C: stop accepting, let the requests in hand
    // finish (each within its deadline), then return, and exit 0.
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let signal = shop_service::shutdown_signal().await;
            tracing::info!(%signal, "stopping: finishing the requests in hand");
            eprintln!("shop-service: {signal}: finishing the requests in hand");
        })
        .await?;
    tracing::info!("stopped");
    eprintln!("shop-service: stopped");
    Ok(())
}
