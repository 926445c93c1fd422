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

mod shop;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use es::prelude::*;
use shop::*;

type Fallible<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[tokio::main]
async fn main() -> Fallible {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => {
            println!("Store: in memory (run with --dynamodb for DynamoDB)\n");
            story(&MemoryStore::new(), "").await
        }
        ["--dynamodb"] => {
            let table = std::env::var("ES_TABLE").unwrap_or_else(|_| "es-shopping".to_owned());
            let store = es_dynamo::DynamoStore::from_env(table.clone()).await;
            store.ensure_table().await?;
            println!("Store: DynamoDB table {table:?}\n");
            // Ids are unique per run, so the story can run again on the same table.
            let run = format!("-{}", es::time::now_secs());
            story(&store, &run).await
        }
        _ => {
            eprintln!("usage: shopping [--dynamodb]");
            std::process::exit(2);
        }
    }
}

async fn story<S: EventStore>(store: &S, run: &str) -> Fallible {
    let tea = format!("sku-tea{run}");
    let mug = format!("sku-mug{run}");
    let lamp = format!("sku-lamp{run}");

    println!("1. The warehouse restocks.");
    for (sku, amount) in [(&tea, 5), (&mug, 2), (&lamp, 10)] {
        let mut product = Product::load(store, sku.clone()).await?;
        product.commit(ProductRestocked { amount }).await?;
        println!(
            "   {sku}: {} on hand (version {})",
            product.on_hand,
            product.version()
        );
    }

    println!("\n2. Alice fills her cart.");
    let alice = format!("cart-alice{run}");
    let mut cart = Cart::load(store, alice.clone()).await?;
    cart.commit_all([
        ItemAdded {
            sku: tea.clone(),
            quantity: 2,
        },
        ItemAdded {
            sku: mug.clone(),
            quantity: 1,
        },
    ])
    .await?;
    println!("   {alice}: {:?} (version {})", cart.lines, cart.version());

    println!("\n3. Bob tries to reserve 3 mugs; only 2 are left.");
    match Product::execute(store, mug.clone(), |p| p.reserve("cart-bob", 3)).await {
        Err(Error::Rejected(e)) => println!("   rejected: {e}. Nothing was written."),
        other => return Err(format!("expected a sold-out rejection, got {other:?}").into()),
    }

    println!("\n4. Two clerks restock tea from stale screens at once.");
    let mut first = Product::load(store, tea.clone()).await?;
    let mut second = Product::load(store, tea.clone()).await?;
    first.commit(ProductRestocked { amount: 3 }).await?;
    println!("   clerk 1 committed version {}", first.version());
    match second.commit(ProductRestocked { amount: 4 }).await {
        Err(Error::Conflict {
            expected, actual, ..
        }) => {
            println!(
                "   clerk 2 got a conflict: expected version {expected}, but it is at {actual}"
            );
            let caught_up = second.hydrate().await?;
            println!("   clerk 2 read the {caught_up} missing event(s) and retried:");
            second.commit(ProductRestocked { amount: 4 }).await?;
            println!(
                "   tea: {} on hand (version {})",
                second.on_hand,
                second.version()
            );
        }
        other => return Err(format!("expected a conflict, got {other:?}").into()),
    }

    println!("\n5. Alice checks out: every line is reserved in one atomic commit.");
    let attempts = checkout(store, &alice, 5).await?;
    let (t, m) = (
        Product::get(store, tea.clone()).await?,
        Product::get(store, mug.clone()).await?,
    );
    println!(
        "   checked out in {attempts} attempt(s); tea {} on hand, mug {} on hand",
        t.on_hand, m.on_hand
    );

    println!("\n6. Carol wants 2 mugs, but only 1 is left: the whole checkout is refused.");
    let carol = format!("cart-carol{run}");
    let mut cart = Cart::load(store, carol.clone()).await?;
    cart.commit_all([
        ItemAdded {
            sku: tea.clone(),
            quantity: 1,
        },
        ItemAdded {
            sku: mug.clone(),
            quantity: 2,
        },
    ])
    .await?;
    match checkout(store, &carol, 5).await {
        Err(e) if e.sold_out().is_some() => println!("   refused: {e}"),
        other => return Err(format!("expected a sold-out checkout, got {other:?}").into()),
    }
    let (t2, cart) = (
        Product::get(store, tea.clone()).await?,
        Cart::get(store, carol.clone()).await?,
    );
    println!(
        "   tea still {} on hand (version {}), cart still open: {}",
        t2.on_hand,
        t2.version(),
        !cart.checked_out
    );

    println!("\n7. A rush: 40 buyers want one lamp each; there are 10.");
    let sold = Arc::new(AtomicU32::new(0));
    let retries = Arc::new(AtomicU32::new(0));
    // Every buyer loads the lamp before any of them commits, as in a real rush.
    let loaded = Arc::new(tokio::sync::Barrier::new(40));
    let mut buyers = Vec::new();
    for n in 0..40 {
        let (store, lamp, sold, retries, loaded) = (
            store.clone(),
            lamp.clone(),
            sold.clone(),
            retries.clone(),
            loaded.clone(),
        );
        buyers.push(tokio::spawn(async move {
            let buyer = format!("buyer-{n}");
            let seen = Product::load(&store, lamp.clone()).await?;
            loaded.wait().await;
            match Product::command(&store, lamp)
                .on(seen)
                .execute(|p| p.reserve(&buyer, 1))
                .await
            {
                Ok(done) => {
                    sold.fetch_add(1, Ordering::Relaxed);
                    retries.fetch_add(done.attempts - 1, Ordering::Relaxed);
                    Ok(())
                }
                Err(Error::Rejected(ProductError::SoldOut { .. })) => Ok(()),
                Err(e) => Err(e),
            }
        }));
    }
    for buyer in buyers {
        buyer.await??;
    }
    let lamp_now = Product::get(store, lamp.clone()).await?;
    println!(
        "   sold {} lamps (the winners retried {} conflicts on the way); {} left; versions 1..={} with no gaps",
        sold.load(Ordering::Relaxed),
        retries.load(Ordering::Relaxed),
        lamp_now.on_hand,
        lamp_now.version()
    );
    if sold.load(Ordering::Relaxed) != 10 || lamp_now.on_hand != 0 {
        return Err("the rush oversold or undersold".into());
    }

    println!("\n8. A queue delivers Dave's restock command twice; it applies once.");
    for delivery in 1..=2 {
        let done = Product::command(store, tea.clone())
            .idempotency_key(format!("restock-dave{run}"))
            .execute(|_| Ok::<_, ProductError>(ProductRestocked { amount: 1 }))
            .await?;
        println!(
            "   delivery {delivery}: version {}, {}",
            done.version,
            if done.duplicate {
                "already applied, nothing written"
            } else {
                "written"
            }
        );
    }

    let stats = store.stats().snapshot();
    println!(
        "\nThe store served {} requests ({} reads, {} writes): {:.1} read units, {:.1} write units.",
        stats.requests, stats.reads, stats.writes, stats.read_units, stats.write_units
    );
    Ok(())
}
