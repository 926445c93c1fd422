//! The shopping story: stock, carts, a sold-out reservation, a conflict that
//! is retried, an atomic checkout, and a rush of buyers on the last units.
//!
//! ```text
//! cargo run --example shopping                 # in memory
//! cargo run --example shopping -- --dynamodb   # DynamoDB, via the AWS config chain
//! ```
//!
//! With `--dynamodb` it uses the table in `ES_TABLE` (default `es-shopping`),
//! creating it if it is missing. Point it at DynamoDB Local with
//! `AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:8000`.
//!
//! The story lives in `story.rs`, the domain in `shop.rs`; the tests run both
//! (`tests/shopping_story.rs`, `tests/commands.rs`). Every step checks its
//! outcome: a surprise ends the run with an error and a non-zero exit status.

mod read_side;
mod shop;
mod story;
mod views;

use es::dynamo::{DynamoViews, StreamRunner};
use es::prelude::*;
use read_side::read_side;
use story::{story, Fallible};
use views::ShopViews;

#[tokio::main]
async fn main() -> Fallible {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut out = std::io::stdout();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => {
            println!("Store: in memory (run with --dynamodb for DynamoDB)\n");
            let store = MemoryStore::new();
            story(&store, "", &mut out).await?;
            // The store's change feed plays the part of the table's stream.
            let live = ShopViews::new(MemoryViews::new());
            store.catch_up(&live, &mut 0).await?;
            let how = "kept from the store's change feed";
            read_side(&store, &live, how, "", &mut out).await?;
        }
        ["--dynamodb"] => {
            let table = std::env::var("ES_TABLE").unwrap_or_else(|_| "es-shopping".to_owned());
            let store = es_dynamo::DynamoStore::from_env(table.clone()).await;
            store.ensure_table().await?;
            // Ids are unique per run, so the story can run again on the same
            // table, even twice in the same second.
            let run = story::run_suffix();
            println!("Store: DynamoDB table {table:?}, ids ending in {run:?}\n");
            // The read side lives in a table of its own, kept from the
            // event table's stream by a runner while the story runs.
            let views = DynamoViews::from_env(format!("{table}-views")).await;
            views.ensure_table().await?;
            let runner = StreamRunner::new(&store, views.clone(), ShopViews::new(views))
                .await
                // One name for every run: a run that follows an interrupted
                // one takes its shards back at once, not when the lease ends.
                .owner("shopping-example")
                .idle(std::time::Duration::from_millis(100));
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let running = tokio::spawn(async move {
                let report = runner
                    .run_until(async {
                        let _ = stopped.await;
                    })
                    .await;
                (runner, report)
            });
            story(&store, &run, &mut out).await?;
            let _ = stop.send(());
            let (runner, report) = running.await?;
            report?;
            // Whatever the story wrote after the runner's last read.
            runner.catch_up().await?;
            let how = "kept by a stream runner while the story ran";
            read_side(&store, runner.projection(), how, &run, &mut out).await?;
        }
        _ => {
            eprintln!("usage: shopping [--dynamodb]");
            std::process::exit(2);
        }
    }
    Ok(())
}
