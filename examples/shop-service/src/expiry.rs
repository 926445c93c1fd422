//! Holds that expire, wherever the service runs: the process manager that
//! schedules and cancels the holds' timers ([`crate::shop::HoldTimers`]), and the
//! sweeper that fires them ([`crate::shop::ShopTimers`]).
//!
//! - **On AWS**: the projection function runs the manager on the events
//!   table's stream beside the views, and a scheduled function (an
//!   EventBridge rule, every minute) sweeps the timers table
//!   (`ES_TIMERS_TABLE`).
//! - **Locally on DynamoDB**: `shop-projection --dynamodb` runs the
//!   manager's stream runner and the sweeper's loop beside the views'.
//! - **In memory**: `shop-service` runs [`run_in_memory`]: the manager
//!   follows the store's change feed and the sweeper fires due timers,
//!   every few seconds.

use std::future::Future;
use std::time::Duration;

use es::dynamo::{DynamoStore, DynamoTimers, DynamoViews};
use es::{Clock, MemoryStore, MemoryTimers, MemoryViews, Projector, Sweeper};

use crate::hot::HotShelves;
use crate::shop::{HoldTimers, ShopTimers};

/// The environment variable that names the timers table.
pub const TIMERS_TABLE_VAR: &str = "ES_TIMERS_TABLE";

/// The timers table of the events table `table`, when `ES_TIMERS_TABLE`
/// names none: `{table}-timers`.
pub fn timers_table(table: &str) -> String {
    std::env::var(TIMERS_TABLE_VAR)
        .ok()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| format!("{table}-timers"))
}

/// The hold manager on DynamoDB: a projector of [`HoldTimers`] over
/// `store`'s events, its positions in `views`, its timers in `timers`.
pub fn dynamo_manager(
    store: &DynamoStore,
    views: &DynamoViews,
    timers: &DynamoTimers,
) -> Projector<DynamoStore, DynamoViews, HoldTimers<DynamoStore, DynamoTimers>> {
    Projector::new(
        store.clone(),
        views.clone(),
        HoldTimers {
            store: store.clone(),
            timers: timers.clone(),
        },
    )
}

/// The sweeper of `timers`, firing the shop's timers on `store`; a hot
/// product's hold (`SHOP_HOT_PRODUCTS`) goes back to its buckets. An error
/// when `SHOP_HOT_PRODUCTS` does not parse ([`crate::hot_products_from_env`]).
pub fn sweeper<S: es::EventStore, T: es::TimerStore, C: Clock>(
    store: &S,
    timers: &T,
    clock: C,
) -> Result<Sweeper<T, ShopTimers<S, HotShelves>, C>, String> {
    Ok(sweeper_on(
        store,
        timers,
        clock,
        HotShelves::new(crate::hot_products_from_env()?),
    ))
}

/// [`sweeper`], with the hot products given rather than read from
/// `SHOP_HOT_PRODUCTS`: the service's ([`crate::App::shelves`]).
pub fn sweeper_on<S: es::EventStore, T: es::TimerStore, C: Clock>(
    store: &S,
    timers: &T,
    clock: C,
    shelves: HotShelves,
) -> Sweeper<T, ShopTimers<S, HotShelves>, C> {
    Sweeper::new(
        timers.clone(),
        ShopTimers {
            store: store.clone(),
            shelves,
        },
        clock,
    )
}

/// In memory: every `every`, the hold manager catches up on `store`'s
/// change feed, and the sweeper fires the timers due by `clock` (hot
/// products' holds going back to their buckets on `shelves`), until
/// `stop`. A failure is logged and tried again at the next round.
pub async fn run_in_memory<C: Clock + Clone>(
    store: MemoryStore,
    clock: C,
    shelves: HotShelves,
    every: Duration,
    stop: impl Future<Output = ()>,
) {
    let timers = MemoryTimers::new();
    let manager = Projector::new(
        store.clone(),
        MemoryViews::new(),
        HoldTimers {
            store: store.clone(),
            timers: timers.clone(),
        },
    );
    let sweeper = sweeper_on(&store, &timers, clock, shelves);
    let mut position = 0;
    let mut stop = std::pin::pin!(stop);
    loop {
        if let Err(error) = store.catch_up(&manager, &mut position).await {
            tracing::warn!(%error, "the hold manager failed; it tries again");
        }
        match sweeper.sweep().await {
            Ok(report) if report.fired > 0 || !report.failed.is_empty() => {
                tracing::info!(
                    fired = report.fired,
                    failed = report.failed.len(),
                    "holds swept"
                )
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "the sweep failed; it tries again"),
        }
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}
