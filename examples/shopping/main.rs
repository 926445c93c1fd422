//! The shopping story: stock, carts, a sold-out reservation, a conflict that
//! is retried, an atomic checkout, and a rush of buyers on the last units.
//!
//! ```text
//! cargo run --example shopping                 # in memory
//! cargo run --example shopping -- --dynamodb   # DynamoDB, via the AWS config chain
//! ```
//!
//! With `--dynamodb` it uses the table in `ES_TABLE` (default `es-shopping`),
//! the view table `{ES_TABLE}-views` and the key table `{ES_TABLE}-keys`
//! (the customers' data keys, which seal the email and address a checkout
//! stores: `docs/erasure.md`), creating them if they are missing. The keys
//! are wrapped by the master key in `ES_MASTER_KEY`, or, when it is unset,
//! by this example's development key, which is public: never use it for
//! real personal data.
//! Point it at DynamoDB Local with `AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:8000`.
//!
//! The story lives in `story.rs`, the domain in `shop.rs`, the read side (a
//! stock-and-carts view kept from the events, then rebuilt from history) in
//! `views.rs` and `read_side.rs`; the tests run them all
//! (`tests/shopping_story.rs`, `tests/commands.rs`, `tests/projections/`). Every step checks its
//! outcome: a surprise ends the run with an error and a non-zero exit status.

// Hot products' buckets feed the views (`views.rs`); the story sells none.
#[allow(dead_code)]
mod hot;
mod read_side;
// The holds that expire (buy, expire_hold, the timers) are the service's
// and the tests'; this story does not tell them.
#[allow(dead_code)]
mod shop;
mod story;
mod views;

use es::dynamo::DynamoViews;
use es::prelude::*;
use story::Fallible;

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
            read_side::in_memory(&MemoryStore::new(), &mut out).await?;
        }
        ["--dynamodb"] => {
            let table = std::env::var("ES_TABLE").unwrap_or_else(|_| "es-shopping".to_owned());
            let keys =
                es_dynamo::DynamoKeys::from_env(format!("{table}-keys"), master_key()?).await;
            keys.ensure_table().await?;
            let store = es_dynamo::DynamoStore::from_env(table.clone())
                .await
                .with_vault(es::erasure::Vault::new(keys));
            store.ensure_table().await?;
            // The read side lives in a table of its own.
            let views = DynamoViews::from_env(format!("{table}-views")).await;
            views.ensure_table().await?;
            // Ids are unique per run, so the story can run again on the same
            // table, even twice in the same second.
            let run = story::run_suffix();
            println!("Store: DynamoDB table {table:?}, ids ending in {run:?}\n");
            read_side::on_dynamodb(&store, views, &run, &mut out).await?;
        }
        _ => {
            eprintln!("usage: shopping [--dynamodb]");
            std::process::exit(2);
        }
    }
    Ok(())
}

/// The master key that wraps the customers' data keys: `ES_MASTER_KEY`'s,
/// else a fixed development key, so that every run, and the stream records
/// of earlier runs, open with the same one.
fn master_key() -> Result<es::erasure::LocalMasterKey, String> {
    match std::env::var("ES_MASTER_KEY") {
        Ok(text) => Ok(es::erasure::LocalMasterKey::from_base64(&text)
            .map_err(|e| format!("ES_MASTER_KEY: {e}"))?),
        Err(_) => {
            println!("Keys: the example's public development key (set ES_MASTER_KEY for your own)");
            es::erasure::LocalMasterKey::from_bytes(b"es shopping example: not secret!")
                .ok_or_else(|| "the development key is not 32 bytes".to_owned())
        }
    }
}
