//! Holds that expire: commands across aggregates, a process manager, and
//! durable timers, on both stores, with a clock moved by hand.
//!
//! A buy holds stock for a cart (`ItemHeld` on the cart, `ProductReserved` on
//! the product, in one command across both). The `HoldTimers` process
//! manager schedules a timer per hold and cancels a cart's timers when it
//! checks out; the sweeper fires due timers, and `expire_hold` releases the
//! stock unless the cart checked out.

#[path = "../examples/shopping/rush.rs"]
#[allow(dead_code)]
mod rush;
#[path = "../examples/shopping/shop.rs"]
#[allow(dead_code)]
mod shop;

use std::time::Duration;

use es::prelude::*;
use es::{Clock as _, ManualClock, MemoryTimers, Sweeper, TimerState, TimerStore};
use shop::*;

const MINUTE: u64 = 60_000;

/// Everything a test of holds needs, on one store.
struct Shop<S: EventStore, T: TimerStore, V: ViewTable> {
    store: S,
    timers: T,
    clock: ManualClock,
    manager: Projector<S, V, HoldTimers<S, T>>,
}

impl<S: EventStore, T: TimerStore, V: ViewTable> Shop<S, T, V> {
    fn new(store: S, timers: T, positions: V) -> Self {
        let manager = Projector::new(
            store.clone(),
            positions,
            HoldTimers {
                store: store.clone(),
                timers: timers.clone(),
            },
        );
        Shop {
            store,
            timers,
            clock: ManualClock::at_millis(1_800_000_000_000),
            manager,
        }
    }

    fn now(&self) -> u64 {
        self.clock.now_millis()
    }

    fn sweeper(&self) -> Sweeper<T, ShopTimers<S>, ManualClock> {
        Sweeper::new(
            self.timers.clone(),
            ShopTimers {
                store: self.store.clone(),
                shelves: shop::Products,
            },
            self.clock.clone(),
        )
    }

    async fn restock(&self, sku: &str, amount: u32) {
        Product::execute(&self.store, sku, |_| {
            Ok::<_, ProductError>(ProductRestocked { amount })
        })
        .await
        .expect("restock");
    }

    async fn buy(&self, sku: &str, cart: &str, quantity: u32) -> es::Done {
        buy(
            &self.store,
            &Purchase {
                sku,
                cart_id: cart,
                quantity,
                hold: DEFAULT_HOLD,
                now_millis: self.now(),
            },
            Metadata::default(),
            None,
        )
        .await
        .expect("buy")
    }

    /// The process manager catches up on these carts, as its stream driver
    /// would after their events.
    async fn manage(&self, carts: &[&str]) {
        self.manager
            .reapply(carts.iter().map(|c| ("Cart", *c)))
            .await
            .expect("the process manager");
    }

    async fn product(&self, sku: &str) -> Product {
        Product::load(&self.store, sku)
            .await
            .expect("load")
            .into_state()
    }

    async fn cart(&self, cart: &str) -> Cart {
        Cart::load(&self.store, cart)
            .await
            .expect("load")
            .into_state()
    }

    /// Events of `sku` of one name.
    async fn count(&self, sku: &str, name: &str) -> usize {
        let root = Product::load(&self.store, sku).await.expect("load");
        let history: Vec<_> = root.history().try_collect().await.expect("history");
        history
            .iter()
            .filter(|r| es::EventSet::name(&r.event) == name)
            .count()
    }
}

/// Runs `$body` as a test on each store: `memory::$name` and `dynamo::$name`,
/// with `$shop` a fresh [`Shop`] (timers, positions and events in tables of
/// their own on DynamoDB Local).
macro_rules! on_both_stores {
    ($name:ident, |$shop:ident| $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn memory() {
                let $shop = Shop::new(MemoryStore::new(), MemoryTimers::new(), MemoryViews::new());
                $body
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn dynamo() {
                if es_dynamo::testing::skip_without_dynamodb() {
                    return;
                }
                let store = es_dynamo::testing::store_on_new_table(stringify!($name)).await;
                let timers = es_dynamo::DynamoTimers::new(
                    store.client().clone(),
                    es_dynamo::testing::unique_table_name("timers"),
                );
                timers.ensure_table().await.expect("the timers table");
                let views = es_dynamo::testing::views_on_new_table("positions").await;
                let $shop = Shop::new(store, timers, views);
                $body
            }
        }
    };
}

on_both_stores!(abandoned_cart_releases_its_stock, |shop| {
    shop.restock("mug", 10).await;
    let bought = shop.buy("mug", "cart-a", 3).await;
    assert_eq!(bought.version_of("Cart", "cart-a"), Some(1));
    shop.manage(&["cart-a"]).await;
    let until = shop.now() + 15 * MINUTE;
    let id = hold_timer_id("cart-a", "mug", until);
    let (timer, state) = shop.timers.get(&id).await.expect("get").expect("scheduled");
    assert_eq!((timer.due_millis, state), (until, TimerState::Pending));

    // A minute early: nothing is due.
    shop.clock.advance(Duration::from_millis(14 * MINUTE));
    let report = shop.sweeper().sweep().await.expect("sweep");
    assert_eq!(report.fired, 0);
    assert_eq!(shop.product("mug").await.on_hand, 7);

    shop.clock.advance(Duration::from_millis(MINUTE));
    let report = shop.sweeper().sweep().await.expect("sweep");
    assert_eq!((report.fired, report.failed.len()), (1, 0), "{report:?}");
    let product = shop.product("mug").await;
    assert_eq!((product.on_hand, product.reserved.len()), (10, 0));
    let cart = shop.cart("cart-a").await;
    assert!(cart.holds.is_empty());
    assert_eq!(cart.lapsed.get("mug"), Some(&until));
    assert_eq!(shop.count("mug", "ProductHoldExpired").await, 1);
    let (_, state) = shop.timers.get(&id).await.expect("get").expect("kept");
    assert_eq!(state, TimerState::Fired);

    // A checkout after the expiry is refused, and says why.
    let refused = checkout_as(
        &shop.store,
        "cart-a",
        &Shipping::example("cust-1"),
        es::Retry::default(),
        Metadata::default(),
        None,
        shop.now(),
    )
    .await
    .expect_err("the hold lapsed");
    assert!(
        matches!(&refused, CheckoutError::Cart(es::Error::Rejected(CartError::HoldExpired { sku, .. })) if sku == "mug"),
        "{refused:?}"
    );
    // Bought again, it checks out.
    shop.buy("mug", "cart-a", 2).await;
    checkout_as(
        &shop.store,
        "cart-a",
        &Shipping::example("cust-1"),
        es::Retry::default(),
        Metadata::default(),
        None,
        shop.now(),
    )
    .await
    .expect("checked out");
});

on_both_stores!(checkout_cancels_the_expiry, |shop| {
    shop.restock("mug", 10).await;
    shop.buy("mug", "cart-b", 4).await;
    shop.manage(&["cart-b"]).await;
    let until = shop.now() + 15 * MINUTE;
    shop.clock.advance(Duration::from_millis(5 * MINUTE));
    checkout_as(
        &shop.store,
        "cart-b",
        &Shipping::example("cust-1"),
        es::Retry::default(),
        Metadata::default(),
        None,
        shop.now(),
    )
    .await
    .expect("checked out");
    shop.manage(&["cart-b"]).await;
    let id = hold_timer_id("cart-b", "mug", until);
    let (_, state) = shop.timers.get(&id).await.expect("get").expect("kept");
    assert_eq!(state, TimerState::Cancelled);

    shop.clock.advance(Duration::from_millis(60 * MINUTE));
    let report = shop.sweeper().sweep().await.expect("sweep");
    assert_eq!(report.fired, 0, "{report:?}");
    // Even fired by hand, as a late or cancelled-too-late timer would be,
    // it releases nothing: the cart checked out.
    let (timer, _) = shop.timers.get(&id).await.expect("get").expect("kept");
    es::FireTimer::fire(shop.sweeper().firing(), &timer)
        .await
        .expect("fires");
    let product = shop.product("mug").await;
    assert_eq!(
        (product.on_hand, product.reserved.get("cart-b")),
        (6, Some(&4))
    );
    assert_eq!(shop.count("mug", "ProductHoldExpired").await, 0);
});

on_both_stores!(timer_fires_at_least_once_and_acts_once, |shop| {
    shop.restock("mug", 10).await;
    shop.buy("mug", "cart-c", 2).await;
    shop.manage(&["cart-c"]).await;
    // The process manager's event, delivered again: nothing new.
    shop.manager.forget_positions();
    shop.manage(&["cart-c"]).await;
    let until = shop.now() + 15 * MINUTE;
    let id = hold_timer_id("cart-c", "mug", until);
    shop.clock.advance(Duration::from_millis(16 * MINUTE));
    let due = shop.timers.due(shop.now(), 10).await.expect("due");
    assert_eq!(due.len(), 1, "one timer, however often scheduled: {due:?}");

    // A sweeper fires it and stops before marking it fired; the timer is
    // fired twice more, once by hand, once by a new sweeper.
    let fire = shop.sweeper();
    es::FireTimer::fire(fire.firing(), &due[0])
        .await
        .expect("fires");
    es::FireTimer::fire(fire.firing(), &due[0])
        .await
        .expect("fires again");
    let report = shop.sweeper().sweep().await.expect("a new sweeper");
    assert_eq!(report.fired, 1, "{report:?}");
    let (_, state) = shop.timers.get(&id).await.expect("get").expect("kept");
    assert_eq!(state, TimerState::Fired);
    assert_eq!(
        shop.count("mug", "ProductHoldExpired").await,
        1,
        "acted once"
    );
    assert_eq!(shop.product("mug").await.on_hand, 10);
    let report = shop.sweeper().sweep().await.expect("sweep");
    assert_eq!(report.fired, 0, "nothing left");
});

on_both_stores!(expiry_racing_checkout_never_loses_stock, |shop| {
    const CARTS: usize = 24;
    shop.restock("mug", 100).await;
    let carts: Vec<String> = (0..CARTS).map(|n| format!("race-{n}")).collect();
    for cart in &carts {
        shop.buy("mug", cart, 2).await;
        Cart::execute(&shop.store, cart.clone(), |_| {
            Ok::<_, CartError>(ItemAdded {
                sku: "mug".into(),
                quantity: 1,
            })
        })
        .await
        .expect("a line");
    }
    let until = shop.now() + 15 * MINUTE;
    // The checkout in one process, a moment before the deadline; the expiry
    // in another, at it.
    let other = shop.store.as_another_process();
    let races = carts.iter().map(|cart| {
        let (store, other) = (shop.store.clone(), other.clone());
        let cart = cart.clone();
        async move {
            let shipping = Shipping::example("cust-1");
            let checkout = checkout_as(
                &store,
                &cart,
                &shipping,
                es::Retry::default(),
                Metadata::default(),
                None,
                until - 1,
            );
            let timer = hold_timer_id(&cart, "mug", until);
            let expiry = expire_hold(&other, &cart, "mug", until, &timer);
            let (checked_out, expired) = tokio::join!(checkout, expiry);
            (cart, checked_out, expired)
        }
    });
    let outcomes = futures::future::join_all(races).await;
    let mut wins = (0, 0);
    for (cart, checked_out, expired) in outcomes {
        let expired = expired.expect("the expiry never fails");
        let state = shop.cart(&cart).await;
        match checked_out {
            Ok(_) => {
                wins.0 += 1;
                assert!(
                    state.checked_out && expired.versions.is_empty(),
                    "{cart}: both won"
                );
            }
            Err(CheckoutError::Cart(es::Error::Rejected(CartError::HoldExpired { .. }))) => {
                wins.1 += 1;
                assert!(
                    !state.checked_out && state.lapsed.contains_key("mug"),
                    "{cart}"
                );
            }
            Err(e) => panic!("{cart}: {e}"),
        }
    }
    assert_eq!(wins.0 + wins.1, CARTS);
    // Stock is conserved: what is on the shelf and what carts hold is what
    // came in; a checked-out cart holds its buy and its line.
    let product = shop.product("mug").await;
    let held: u32 = product.reserved.values().sum();
    assert_eq!(product.on_hand + held, 100);
    assert_eq!(held as usize, wins.0 * 3, "{wins:?}");
});

on_both_stores!(multi_aggregate_idempotency_key_applies_once, |shop| {
    shop.restock("mug", 10).await;
    let key = Some("buy-request-1".to_owned());
    let first = buy(
        &shop.store,
        &Purchase {
            sku: "mug",
            cart_id: "cart-d",
            quantity: 3,
            hold: DEFAULT_HOLD,
            now_millis: shop.now(),
        },
        Metadata::default(),
        key.clone(),
    )
    .await
    .expect("buy");
    let again = buy(
        &shop.store,
        &Purchase {
            sku: "mug",
            cart_id: "cart-d",
            quantity: 3,
            hold: DEFAULT_HOLD,
            now_millis: shop.now(),
        },
        Metadata::default(),
        key.clone(),
    )
    .await
    .expect("the same buy");
    assert!(!first.duplicate && again.duplicate);
    assert_eq!(again.versions, first.versions);
    assert_eq!(shop.count("mug", "ProductReserved").await, 1);
    assert_eq!(shop.product("mug").await.on_hand, 7);
    // The key on another command's aggregates is refused, by name.
    let reused = buy(
        &shop.store,
        &Purchase {
            sku: "tea",
            cart_id: "cart-e",
            quantity: 1,
            hold: DEFAULT_HOLD,
            now_millis: shop.now(),
        },
        Metadata::default(),
        key,
    )
    .await
    .expect_err("another command");
    assert!(
        matches!(&reused, CheckoutError::Store(es::Error::KeyReused { key, .. }) if key == "buy-request-1"),
        "{reused:?}"
    );
    // A checkout with a key applies once too.
    let key = Some("checkout-request-1".to_owned());
    let done = checkout_as(
        &shop.store,
        "cart-d",
        &Shipping::example("cust-1"),
        es::Retry::default(),
        Metadata::default(),
        key.clone(),
        shop.now(),
    )
    .await
    .expect("checked out");
    let repeat = checkout_as(
        &shop.store,
        "cart-d",
        &Shipping::example("cust-1"),
        es::Retry::default(),
        Metadata::default(),
        key,
        shop.now(),
    )
    .await
    .expect("the same checkout");
    assert!(!done.duplicate && repeat.duplicate);
    assert_eq!(repeat.versions, done.versions);
});

on_both_stores!(multi_aggregate_commands_never_exhaust_in_a_rush, |shop| {
    let plan = rush::Rush::default();
    let run = format!("-{}", std::process::id());
    let report = rush::run(&shop.store, plan, &run).await;
    eprintln!(
        "rush: {} acknowledged ({} across aggregates), {} rejected, {} exhausted; {:.3} attempts per command",
        report.acknowledged,
        report.across,
        report.rejected,
        report.exhausted,
        report.attempts_per_command()
    );
    assert_eq!(report.exhausted, 0, "{:?}", report.failures);
    assert!(
        report.across > 50,
        "buys and checkouts across aggregates: {}",
        report.across
    );
    let problems = rush::check(&shop.store, &plan, &run, &report).await;
    assert!(problems.is_empty(), "{problems:#?}");
});
