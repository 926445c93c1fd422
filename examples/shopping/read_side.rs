//! The story's read side: the stock-and-carts view (`views.rs`) as it was
//! kept while the story ran, checked against the aggregates, and rebuilt
//! from history.
//!
//! On DynamoDB a stream runner keeps the view while the story runs; in
//! memory the store's change feed does, through the same projection.

use std::io::Write;
use std::time::Duration;

use es::dynamo::{DynamoStore, DynamoViews, StreamRunner};
use es::prelude::*;

use crate::story::{story, Fallible, Told};
use crate::views::{ShopViews, Shown};

/// The story in memory, then its read side: the store's change feed plays
/// the part of the table's stream.
pub async fn in_memory(store: &MemoryStore, out: &mut impl Write) -> Fallible<(Told, Shown)> {
    let told = story(store, "", out).await?;
    let table = MemoryViews::new();
    let live = Projector::new(store.clone(), table.clone(), ShopViews::new(table));
    store.catch_up(&live, &mut 0).await?;
    let how = "kept from the store's change feed";
    let shown = read_side(store, live.projection(), how, "", out).await?;
    Ok((told, shown))
}

/// The story on DynamoDB, with a stream runner keeping the read side in
/// `views` while it runs, then its read side.
pub async fn on_dynamodb(
    store: &DynamoStore,
    views: DynamoViews,
    run: &str,
    out: &mut (impl Write + Send),
) -> Fallible<(Told, Shown)> {
    let runner = StreamRunner::new(Projector::new(
        store.clone(),
        views.clone(),
        ShopViews::new(views),
    ))
    .await
    // One name for every run: a run that follows an interrupted one
    // takes its shards back at once, not when their lease ends.
    .owner("shopping-example")
    .idle(Duration::from_millis(100));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(async move {
        let report = runner
            .run_until(async {
                let _ = stopped.await;
            })
            .await;
        (runner, report)
    });
    let told = story(store, run, out).await;
    let _ = stop.send(());
    let (runner, report) = running.await?;
    let told = told?;
    report?;
    // Whatever the story wrote after the runner's last read.
    runner.catch_up().await?;
    let how = "kept by a stream runner while the story ran";
    let shown = read_side(store, runner.projection(), how, run, out).await?;
    Ok((told, shown))
}

/// Shows the live view of the story's run, checks it against a replay of
/// the aggregates, then rebuilds the view from history into a fresh table
/// and checks that the rebuild equals the live view.
pub async fn read_side<S: EventStore, T: ViewTable>(
    store: &S,
    live: &ShopViews<T>,
    how: &str,
    run: &str,
    out: &mut impl Write,
) -> Fallible<Shown> {
    writeln!(out, "\n10. The read side: a stock-and-carts view, {how}.")?;
    let shown = live.read().await?.without_empty().of_run(run);
    for (sku, stock) in &shown.stock {
        writeln!(
            out,
            "   {sku}: {} on hand, {} reserved",
            stock.on_hand, stock.reserved
        )?;
    }
    for (cart, view) in shown.carts.iter().filter(|(id, _)| id.starts_with("cart-")) {
        writeln!(
            out,
            "   {cart}: lines {:?}, reserved {:?}, checked out: {}",
            view.lines, view.reserved, view.checked_out
        )?;
    }
    let replayed = Shown::replayed(store).await?.of_run(run);
    if shown != replayed {
        return Err(format!(
            "the live view differs from the aggregates' states: {}",
            shown.differences(&replayed)
        )
        .into());
    }
    writeln!(
        out,
        "   {} stock views and {} cart views, each equal to its aggregates' state.",
        shown.stock.len(),
        shown.carts.len()
    )?;

    let table = MemoryViews::new();
    let fresh = Projector::new(store.clone(), table.clone(), ShopViews::new(table));
    let report = es::rebuild(&fresh).concurrency(8).run().await?;
    let rebuilt = fresh.projection().read().await?.without_empty().of_run(run);
    if rebuilt != shown {
        return Err(format!(
            "the rebuilt view differs from the live one: {}",
            rebuilt.differences(&shown)
        )
        .into());
    }
    writeln!(
        out,
        "   Rebuilt from history into a fresh table: {} aggregates, {} events, the same view.",
        report.aggregates, report.events
    )?;
    Ok(shown)
}
