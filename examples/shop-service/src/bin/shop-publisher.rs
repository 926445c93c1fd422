//! `shop-publisher`: the shop's integration events (`OrderPlaced`,
//! `StockDepleted`), from the events table's DynamoDB Stream to an
//! EventBridge bus.
//!
//! On Lambda (the runtime sets `AWS_LAMBDA_RUNTIME_API`) it is the stream's
//! second function: each batch is mapped and put on the bus `ES_EVENT_BUS`
//! before the publisher's positions move, in the view table `ES_VIEW_TABLE`,
//! and it answers with the records to retry. Locally it follows the stream
//! of the tables `shop-service --dynamodb` uses with es's stream runner
//! (`--catch-up`: until the stream has nothing more).

// The Lambda handler's future nests the projector's, the batch's and the
// SDK's, as in shop-projection.
#![recursion_limit = "256"]

use std::process::ExitCode;

use clap::Parser as _;
use es::dynamo::StreamRunner;
use shop_service::cli::{PublisherArgs, TABLE_VAR};
use shop_service::projection::VIEW_TABLE_VAR;
use shop_service::publisher::{bus_projector, BUS_VAR};

type Fallible = Result<(), Box<dyn std::error::Error + Send + Sync>>;

fn main() -> ExitCode {
    shop_service::init_logging();
    let lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    // --help and --version print and exit 0; bad input is a usage error
    // (exit 2). On Lambda there are no arguments.
    let args = (!lambda).then(PublisherArgs::parse);
    let mut builder = if lambda {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let result = builder
        .enable_all()
        .build()
        .map_err(Into::into)
        .and_then(|runtime| runtime.block_on(run(args)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "shop-publisher failed");
            eprintln!("shop-publisher: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Option<PublisherArgs>) -> Fallible {
    let bus = std::env::var(BUS_VAR).map_err(|_| format!("{BUS_VAR} must name the event bus"))?;
    let Some(args) = args else {
        let table = std::env::var(TABLE_VAR).map_err(|_| format!("{TABLE_VAR} must be set"))?;
        let view_table =
            std::env::var(VIEW_TABLE_VAR).map_err(|_| format!("{VIEW_TABLE_VAR} must be set"))?;
        let vault = shop_service::keys::vault_from_env(&table, None).await?;
        return es::dynamo::lambda::run(bus_projector(table, view_table, bus, vault).await).await;
    };
    let (table, view_table) = (args.tables.table.clone(), args.tables.view_table());
    // The key table is `shop-service --dynamodb`'s, which creates it.
    let (vault, _) =
        shop_service::keys::vault(args.keys.keys_table(&table), args.keys.wrapping()?, None).await;
    let runner = StreamRunner::new(bus_projector(table, view_table, bus, vault).await)
        .await
        .owner("shop-publisher");
    let report = if args.catch_up {
        runner.catch_up().await?
    } else {
        runner
            .run_until(es::dynamo::runner::shutdown_signal())
            .await?
    };
    eprintln!(
        "shop-publisher: {} events mapped, {} records skipped",
        report.applied, report.skipped
    );
    Ok(())
}
