//! A rush: many random shopping commands at once from many tasks on a few
//! products and carts, then a check of everything they left.
//!
//! Each command is a restock, a reservation or a release on a product, an
//! item added to a cart, a buy (a hold on a product for a cart: a command
//! across both), or a checkout (a command across the cart and its
//! products). Every command carries its own `commandId` in its events'
//! metadata, so that the check can find each acknowledged command's events
//! exactly once and each refused one's nowhere. The test
//! (`tests/hot.rs`, `rush_has_no_exhausted_commands`) and the benchmark
//! (`benches/hot.rs`) run it on both stores.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use es::prelude::*;

use crate::shop::*;

/// The shape of a rush.
#[derive(Clone, Copy, Debug)]
pub struct Rush {
    /// Commands in all.
    pub commands: usize,
    /// Tasks sending them at once.
    pub tasks: usize,
    /// Products, each a hot aggregate.
    pub products: usize,
    /// Carts open at any time; a checked-out cart is replaced by a new one.
    pub carts: usize,
    /// Seeds the random choice of commands.
    pub seed: u64,
}

impl Default for Rush {
    /// 1,000 commands from 32 tasks over 5 products and 20 carts.
    fn default() -> Self {
        Rush {
            commands: 1_000,
            tasks: 32,
            products: 5,
            carts: 20,
            seed: 7,
        }
    }
}

/// What one command did.
#[derive(Clone, Debug)]
enum Outcome {
    /// Written: the aggregates it wrote one event to, by name and id.
    Acknowledged(Vec<(&'static str, String)>),
    /// A checkout written: the cart's event and one on each of its products.
    CheckedOut(String),
    /// Refused by the domain: nothing written.
    Rejected,
    /// Gave up after its last attempt still conflicted or failed.
    Exhausted(String),
}

/// What a rush did.
#[derive(Clone, Debug, Default)]
pub struct RushReport {
    /// Commands acknowledged, rejected and exhausted.
    pub acknowledged: usize,
    pub rejected: usize,
    pub exhausted: usize,
    /// Attempts of every command, in all.
    pub attempts: u64,
    /// Each command's latency.
    pub latencies: Vec<Duration>,
    /// How long the whole rush took.
    pub elapsed: Duration,
    /// The first few exhausted commands' errors.
    pub failures: Vec<String>,
    /// Commands across aggregates acknowledged: buys and checkouts.
    pub across: usize,
    outcomes: HashMap<String, Outcome>,
    restocked: BTreeMap<String, u64>,
}

impl RushReport {
    /// Attempts per command.
    pub fn attempts_per_command(&self) -> f64 {
        self.attempts as f64 / self.outcomes.len().max(1) as f64
    }
}

/// One command of the rush.
#[derive(Clone, Debug)]
enum Order {
    Restock {
        sku: String,
        amount: u32,
    },
    Reserve {
        sku: String,
        cart: String,
        quantity: u32,
    },
    Release {
        sku: String,
        cart: String,
    },
    Add {
        slot: usize,
        sku: String,
        quantity: u32,
    },
    Checkout {
        slot: usize,
    },
    Buy {
        slot: usize,
        sku: String,
        quantity: u32,
    },
}

/// The product ids of a rush whose ids end in `run`.
pub fn skus(rush: &Rush, run: &str) -> Vec<String> {
    (0..rush.products)
        .map(|n| format!("rush-sku-{n}{run}"))
        .collect()
}

/// Runs `rush` on `store`, on ids ending in `run`, and returns what it did.
/// Every task shares `store`, as the tasks of one service would.
pub async fn run<S: EventStore>(store: &S, rush: Rush, run: &str) -> RushReport {
    run_on(std::slice::from_ref(store), rush, run).await
}

/// [`run`], with task `n` on `stores[n % stores.len()]`: one store per
/// task runs it as that many processes would, each with its own queues and
/// cache.
pub async fn run_on<S: EventStore>(stores: &[S], rush: Rush, run: &str) -> RushReport {
    let skus = skus(&rush, run);
    let mut rng = fastrand::Rng::with_seed(rush.seed);
    let orders: Vec<Order> = (0..rush.commands)
        .map(|_| {
            let sku = skus[rng.usize(..skus.len())].clone();
            let slot = rng.usize(..rush.carts);
            match rng.u32(0..100) {
                0..=19 => Order::Restock {
                    sku,
                    amount: rng.u32(1..=5),
                },
                20..=54 => Order::Reserve {
                    sku,
                    cart: format!("rush-cart-{slot}{run}"),
                    quantity: rng.u32(1..=3),
                },
                55..=69 => Order::Release {
                    sku,
                    cart: format!("rush-cart-{slot}{run}"),
                },
                70..=82 => Order::Add {
                    slot,
                    sku,
                    quantity: rng.u32(1..=2),
                },
                83..=91 => Order::Buy {
                    slot,
                    sku,
                    quantity: rng.u32(1..=2),
                },
                _ => Order::Checkout { slot },
            }
        })
        .collect();
    // A slot's cart is replaced by a new one once it is checked out.
    let generations: Arc<Vec<AtomicU32>> =
        Arc::new((0..rush.carts).map(|_| AtomicU32::new(0)).collect());
    let queue = Arc::new(Mutex::new(
        orders.into_iter().enumerate().collect::<Vec<_>>(),
    ));
    let started = Instant::now();
    let workers: Vec<_> = (0..rush.tasks)
        .map(|task| {
            let store = stores[task % stores.len()].clone();
            let (queue, generations) = (queue.clone(), generations.clone());
            let run = run.to_owned();
            tokio::spawn(async move {
                let mut done = Vec::new();
                loop {
                    let next = queue.lock().expect("queue").pop();
                    let Some((n, order)) = next else { break };
                    let id = format!("rush-{n}{run}");
                    let began = Instant::now();
                    let (outcome, attempts) = one(&store, &order, &id, &generations, &run).await;
                    done.push((id, order, outcome, attempts, began.elapsed()));
                }
                done
            })
        })
        .collect();
    let mut report = RushReport::default();
    for worker in workers {
        for (id, order, outcome, attempts, latency) in worker.await.expect("a rush task panicked") {
            report.attempts += u64::from(attempts);
            report.latencies.push(latency);
            match &outcome {
                Outcome::Acknowledged(_) | Outcome::CheckedOut(_) => {
                    report.acknowledged += 1;
                    if matches!(order, Order::Buy { .. } | Order::Checkout { .. }) {
                        report.across += 1;
                    }
                    if let Order::Restock { sku, amount } = &order {
                        *report.restocked.entry(sku.clone()).or_default() += u64::from(*amount);
                    }
                }
                Outcome::Rejected => report.rejected += 1,
                Outcome::Exhausted(e) => {
                    report.exhausted += 1;
                    if report.failures.len() < 5 {
                        report.failures.push(format!("{id}: {e}"));
                    }
                }
            }
            report.outcomes.insert(id, outcome);
        }
    }
    report.elapsed = started.elapsed();
    report
}

fn metadata(id: &str) -> Metadata {
    Metadata {
        command_id: Some(id.to_owned()),
        ..Metadata::default()
    }
}

/// The outcome of an `execute` on one aggregate, with its attempts.
fn settled<A: Aggregate, S: EventStore>(
    result: Result<es::Executed<A, S>, es::Error<A::Error>>,
    id: &str,
) -> (Outcome, u32) {
    match result {
        Ok(done) => (
            Outcome::Acknowledged(vec![(A::NAME, done.root.id().to_owned())]),
            done.attempts,
        ),
        // A refusal does not say how many attempts led to it: counted as
        // one, so a shape whose refusals came after conflicts reads low.
        Err(es::Error::Rejected(_)) => (Outcome::Rejected, 1),
        Err(e) => (
            Outcome::Exhausted(format!("{id}: {e}")),
            es::Retry::default().max_attempts,
        ),
    }
}

async fn one<S: EventStore>(
    store: &S,
    order: &Order,
    id: &str,
    generations: &[AtomicU32],
    run: &str,
) -> (Outcome, u32) {
    let cart_of = |slot: usize| {
        let generation = generations[slot].load(Ordering::SeqCst);
        format!("rush-cart-{slot}.{generation}{run}")
    };
    match order {
        Order::Restock { sku, amount } => {
            let amount = *amount;
            let result = Product::command(store, sku.clone())
                .metadata(metadata(id))
                .execute(|_| Ok(ProductRestocked { amount }))
                .await;
            settled(result, id)
        }
        Order::Reserve {
            sku,
            cart,
            quantity,
        } => {
            let result = Product::command(store, sku.clone())
                .metadata(metadata(id))
                .execute(|p| p.reserve(cart, *quantity))
                .await;
            settled(result, id)
        }
        Order::Release { sku, cart } => {
            let result = Product::command(store, sku.clone())
                .metadata(metadata(id))
                .execute(|p| match p.reserved.get(cart) {
                    Some(&quantity) => Ok(ProductReleased {
                        cart_id: cart.clone(),
                        quantity,
                    }),
                    None => Err(ProductError::NothingReserved(cart.clone())),
                })
                .await;
            settled(result, id)
        }
        Order::Add {
            slot,
            sku,
            quantity,
        } => {
            let result = Cart::command(store, cart_of(*slot))
                .metadata(metadata(id))
                .execute(|c| {
                    if c.checked_out {
                        return Err(CartError::CheckedOut);
                    }
                    Ok(ItemAdded {
                        sku: sku.clone(),
                        quantity: *quantity,
                    })
                })
                .await;
            settled(result, id)
        }
        Order::Buy {
            slot,
            sku,
            quantity,
        } => {
            let cart = cart_of(*slot);
            let now = es::Clock::now_millis(&es::SystemClock);
            match buy(
                store,
                &Purchase {
                    sku,
                    cart_id: &cart,
                    quantity: *quantity,
                    hold: DEFAULT_HOLD,
                    now_millis: now,
                },
                metadata(id),
                None,
            )
            .await
            {
                Ok(done) => (
                    Outcome::Acknowledged(vec![(Product::NAME, sku.clone()), (Cart::NAME, cart)]),
                    done.attempts,
                ),
                // Sold out, or the cart checked out meanwhile.
                Err(
                    CheckoutError::Cart(es::Error::Rejected(_))
                    | CheckoutError::Product(es::Error::Rejected(_)),
                ) => (Outcome::Rejected, 1),
                Err(e) => (
                    Outcome::Exhausted(format!("{id}: {e}")),
                    es::Retry::default().max_attempts,
                ),
            }
        }
        Order::Checkout { slot } => {
            let cart = cart_of(*slot);
            match checkout_with(
                store,
                &cart,
                &Shipping::example("cust-1"),
                es::Retry::default(),
                metadata(id),
            )
            .await
            {
                Ok(attempts) => {
                    // The next commands on this slot go to a new cart.
                    let _ = generations[*slot].fetch_add(1, Ordering::SeqCst);
                    (Outcome::CheckedOut(cart), attempts)
                }
                // An empty or missing cart, or a line sold out.
                Err(
                    CheckoutError::Cart(es::Error::Rejected(_) | es::Error::NotFound { .. })
                    | CheckoutError::Product(es::Error::Rejected(_)),
                ) => (Outcome::Rejected, 1),
                Err(e) => (
                    Outcome::Exhausted(format!("{id}: {e}")),
                    es::Retry::default().max_attempts,
                ),
            }
        }
    }
}

/// Checks what a rush left on `store`: every aggregate loads (so versions
/// are contiguous, and no replay takes a product below zero stock); each
/// product's stock adds up to what the acknowledged restocks brought; each
/// acknowledged command's events are there exactly once, on the aggregates
/// it wrote, and no refused or exhausted command wrote anything. Returns
/// every problem found.
pub async fn check<S: EventStore>(
    store: &S,
    rush: &Rush,
    run: &str,
    report: &RushReport,
) -> Vec<String> {
    let mut problems = Vec::new();
    // commandId → (aggregate, id) of every event that carries it.
    let mut seen: HashMap<String, Vec<(&'static str, String)>> = HashMap::new();
    let mut collect = |name: &'static str, id: &str, metadata: &Metadata| {
        if let Some(command) = &metadata.command_id {
            seen.entry(command.clone())
                .or_default()
                .push((name, id.to_owned()));
        }
    };
    for sku in skus(rush, run) {
        let product = match Product::load(store, sku.clone()).await {
            Ok(p) => p,
            Err(e) => {
                problems.push(format!("{sku} does not load: {e}"));
                continue;
            }
        };
        let held: u64 = product.reserved.values().map(|&q| u64::from(q)).sum();
        let restocked = report.restocked.get(&sku).copied().unwrap_or(0);
        if u64::from(product.on_hand) + held != restocked {
            problems.push(format!(
                "{sku}: {} on hand + {held} reserved, but {restocked} were restocked",
                product.on_hand
            ));
        }
        let history: Vec<_> = product.history().collect().await;
        for (n, event) in history.into_iter().enumerate() {
            match event {
                Ok(recorded) if recorded.version == n as u64 + 1 => {
                    collect("Product", &sku, &recorded.metadata)
                }
                Ok(recorded) => {
                    problems.push(format!("{sku}: event {n} at version {}", recorded.version))
                }
                Err(e) => problems.push(format!("{sku}: {e}")),
            }
        }
    }
    let carts: Vec<String> = match Cart::ids(store).try_collect::<Vec<_>>().await {
        Ok(ids) => ids
            .into_iter()
            .filter(|id| id.ends_with(run) && id.starts_with("rush-cart-"))
            .collect(),
        Err(e) => {
            problems.push(format!("listing carts: {e}"));
            Vec::new()
        }
    };
    for cart in carts {
        let root = Root::<Cart, S>::new(store, cart.clone());
        let history: Vec<_> = root.history().collect().await;
        for event in history {
            match event {
                Ok(recorded) => collect("Cart", &cart, &recorded.metadata),
                Err(e) => problems.push(format!("{cart}: {e}")),
            }
        }
    }
    for (command, outcome) in &report.outcomes {
        let found = seen.remove(command).unwrap_or_default();
        match outcome {
            Outcome::Acknowledged(wrote) => {
                let (mut found, mut wrote) = (found.clone(), wrote.clone());
                found.sort();
                wrote.sort();
                if found != wrote {
                    problems.push(format!(
                        "{command} was acknowledged: wrote {wrote:?}, found {found:?}"
                    ));
                }
            }
            Outcome::CheckedOut(cart) => {
                let carts = found
                    .iter()
                    .filter(|(name, _)| *name == "Cart")
                    .collect::<Vec<_>>();
                let mut products = found
                    .iter()
                    .filter(|(name, _)| *name == "Product")
                    .map(|(_, id)| id)
                    .collect::<Vec<_>>();
                let lines = products.len();
                products.sort();
                products.dedup();
                // A cart whose units are all held by buys writes its own
                // event only.
                if carts != [&("Cart", cart.clone())]
                    || products.len() != lines
                    || lines + 1 != found.len()
                {
                    problems.push(format!("{command} checked out {cart}: found {found:?}"));
                }
            }
            Outcome::Rejected | Outcome::Exhausted(_) if !found.is_empty() => {
                problems.push(format!(
                    "{command} was not acknowledged, but its events are there: {found:?}"
                ));
            }
            _ => {}
        }
    }
    for (command, found) in seen {
        problems.push(format!(
            "{command} was never sent, but its events are there: {found:?}"
        ));
    }
    problems
}
