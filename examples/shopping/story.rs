//! The shopping story itself: stock, carts, a sold-out reservation, a conflict
//! that is retried, an atomic checkout, a rush of buyers on the last units, a
//! command delivered twice, and a long history that snapshots keep cheap to
//! load.
//!
//! The example (`main.rs`) and the story tests (`tests/shopping_story.rs`)
//! share this file, as they share `shop.rs`: the tests run the very story the
//! example prints, on both stores, and then inspect what it left behind.

use std::io::Write;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use es::prelude::*;

use crate::shop::*;

/// What the story returns on failure: a store or domain error, a broken
/// expectation, or the output sink failing.
pub type Fallible<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// What the story left in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Told {
    /// Every aggregate the story wrote, as (aggregate name, id, last version).
    pub aggregates: Vec<(&'static str, String, u64)>,
    /// The idempotency keys of the commands it ran with one.
    pub command_keys: Vec<String>,
}

/// A suffix that makes one run's ids unique, so the story can run any number
/// of times on the same table: the time in seconds and nanoseconds and the
/// process id, e.g. `-1795323254.042917310-p4711`. Two runs in the same second,
/// even at once, get different suffixes.
pub fn run_suffix() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "-{}.{:09}-p{}",
        now.as_secs(),
        now.subsec_nanos(),
        std::process::id()
    )
}

/// Tells the story on `store`, writing it to `out`. Every id ends with `run`
/// (empty for a fresh store, [`run_suffix`] for a shared table).
///
/// Every step checks its own outcome, and the story ends by reading back each
/// aggregate's history: any surprise is an `Err`, never just a printed line.
pub async fn story<S: EventStore>(store: &S, run: &str, out: &mut impl Write) -> Fallible<Told> {
    let tea = format!("sku-tea{run}");
    let mug = format!("sku-mug{run}");
    let lamp = format!("sku-lamp{run}");
    let alice = format!("cart-alice{run}");
    let carol = format!("cart-carol{run}");
    let dave_key = format!("restock-dave{run}");

    writeln!(out, "1. The warehouse restocks.")?;
    for (sku, amount) in [(&tea, 5), (&mug, 2), (&lamp, 10)] {
        let mut product = Product::load(store, sku.clone()).await?;
        product.commit(ProductRestocked { amount }).await?;
        writeln!(
            out,
            "   {sku}: {} on hand (version {})",
            product.on_hand,
            product.version()
        )?;
    }

    writeln!(out, "\n2. Alice fills her cart.")?;
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
    writeln!(
        out,
        "   {alice}: {:?} (version {})",
        cart.lines,
        cart.version()
    )?;

    writeln!(out, "\n3. Bob tries to reserve 3 mugs; only 2 are left.")?;
    match Product::execute(store, mug.clone(), |p| p.reserve("cart-bob", 3)).await {
        Err(Error::Rejected(e)) => writeln!(out, "   rejected: {e}. Nothing was written.")?,
        other => return Err(format!("expected a sold-out rejection, got {other:?}").into()),
    }

    writeln!(
        out,
        "\n4. Two clerks restock tea from stale screens at once."
    )?;
    let mut first = Product::load(store, tea.clone()).await?;
    let mut second = Product::load(store, tea.clone()).await?;
    first.commit(ProductRestocked { amount: 3 }).await?;
    writeln!(out, "   clerk 1 committed version {}", first.version())?;
    match second.commit(ProductRestocked { amount: 4 }).await {
        Err(Error::Conflict {
            expected, actual, ..
        }) => {
            writeln!(
                out,
                "   clerk 2 got a conflict: expected version {expected}, but it is at {actual}"
            )?;
            let caught_up = second.hydrate().await?;
            writeln!(
                out,
                "   clerk 2 read the {caught_up} missing event(s) and retried:"
            )?;
            second.commit(ProductRestocked { amount: 4 }).await?;
            writeln!(
                out,
                "   tea: {} on hand (version {})",
                second.on_hand,
                second.version()
            )?;
        }
        other => return Err(format!("expected a conflict, got {other:?}").into()),
    }

    writeln!(
        out,
        "\n5. Alice checks out: every line is reserved in one atomic commit."
    )?;
    let attempts = checkout(
        store,
        &alice,
        &Shipping::example("cust-1"),
        es::Retry::attempts(5),
    )
    .await?;
    let (t, m) = (
        Product::get(store, tea.clone()).await?,
        Product::get(store, mug.clone()).await?,
    );
    writeln!(
        out,
        "   checked out in {attempts} attempt(s); tea {} on hand, mug {} on hand",
        t.on_hand, m.on_hand
    )?;

    writeln!(
        out,
        "\n6. Carol wants 2 mugs, but only 1 is left: the whole checkout is refused."
    )?;
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
    match checkout(
        store,
        &carol,
        &Shipping::example("cust-1"),
        es::Retry::attempts(5),
    )
    .await
    {
        Err(e) if e.sold_out().is_some() => writeln!(out, "   refused: {e}")?,
        other => return Err(format!("expected a sold-out checkout, got {other:?}").into()),
    }
    let (t2, cart) = (
        Product::get(store, tea.clone()).await?,
        Cart::get(store, carol.clone()).await?,
    );
    if t2.version() != t.version() || cart.checked_out {
        return Err("the refused checkout changed the tea or the cart".into());
    }
    writeln!(
        out,
        "   tea still {} on hand (version {}), cart still open: {}",
        t2.on_hand,
        t2.version(),
        !cart.checked_out
    )?;

    writeln!(
        out,
        "\n7. A rush: 40 buyers want one lamp each; there are 10."
    )?;
    // Every buyer loads the lamp before any of them commits, as in a real rush.
    let loaded = Arc::new(tokio::sync::Barrier::new(40));
    let buyers: Vec<_> = (0..40)
        .map(|n| {
            let (store, lamp, loaded) = (store.clone(), lamp.clone(), loaded.clone());
            // A buyer's answer: the attempts its sale took, or None if sold out.
            tokio::spawn(async move {
                let buyer = format!("buyer-{n}");
                let seen = Product::load(&store, lamp.clone()).await?;
                loaded.wait().await;
                match Product::command(&store, lamp)
                    .on(seen)
                    .execute(|p| p.reserve(&buyer, 1))
                    .await
                {
                    Ok(done) => Ok(Some(done.attempts)),
                    Err(Error::Rejected(ProductError::SoldOut { .. })) => Ok(None),
                    Err(e) => Err(e),
                }
            })
        })
        .collect();
    let (mut sold, mut retries) = (0, 0);
    for buyer in buyers {
        if let Some(attempts) = buyer.await?? {
            sold += 1;
            retries += attempts - 1;
        }
    }
    let lamp_now = Product::get(store, lamp.clone()).await?;
    if sold != 10 || lamp_now.on_hand != 0 {
        return Err(format!(
            "the rush sold {sold} lamps and left {}: it must sell exactly 10 and leave 0",
            lamp_now.on_hand
        )
        .into());
    }
    // The claim below is checked, not assumed: read the lamp's whole history.
    let versions = contiguous_history(&lamp_now).await?;
    writeln!(
        out,
        "   sold {sold} lamps (the winners retried {retries} conflicts on the way); {} left; \
         read back versions 1..={versions}: no gaps, no duplicates",
        lamp_now.on_hand,
    )?;

    writeln!(
        out,
        "\n8. A queue delivers Dave's restock command twice; it applies once."
    )?;
    let mut written = Vec::new();
    for delivery in 1..=2 {
        let done = Product::command(store, tea.clone())
            .idempotency_key(dave_key.clone())
            .execute(|_| Ok::<_, ProductError>(ProductRestocked { amount: 1 }))
            .await?;
        written.push((done.version, done.duplicate));
        writeln!(
            out,
            "   delivery {delivery}: version {}, {}",
            done.version,
            if done.duplicate {
                "already applied, nothing written"
            } else {
                "written"
            }
        )?;
    }
    let v = t2.version() + 1;
    if written != [(v, false), (v, true)] {
        return Err(format!(
            "expected the first delivery to write version {v} and the second to repeat it, \
             got (version, duplicate) = {written:?}"
        )
        .into());
    }

    writeln!(
        out,
        "\n9. Tea sells all month: a restock of 50, then 45 walk-in sales one after the other."
    )?;
    let mut product = Product::get(store, tea.clone()).await?;
    product.commit(ProductRestocked { amount: 50 }).await?;
    for n in 1..=45 {
        let cart_id = format!("walk-in-{n}");
        Product::execute(store, tea.clone(), |p| p.reserve(&cart_id, 1)).await?;
    }
    let before = store.stats().snapshot();
    let product = Product::get(store, tea.clone()).await?;
    let cost = store.stats().snapshot() - before;
    let every = Product::SNAPSHOT_EVERY;
    if cost.reads != 1 || cost.items_read > every {
        return Err(format!(
            "loading tea at version {} took {} requests and {} items: a snapshot every {every} \
             versions should bound it to 1 request of at most {every} items",
            product.version(),
            cost.reads,
            cost.items_read
        )
        .into());
    }
    writeln!(
        out,
        "   tea: {} on hand at version {}. Product snapshots every {every} versions, so a load \
         reads at most {every} items however long the history grows: this one took {} request \
         of {} items.",
        product.on_hand,
        product.version(),
        cost.reads,
        cost.items_read,
    )?;

    // Read every history back: each must run 1, 2, 3, … to the version its
    // handle reports.
    let mut aggregates = Vec::new();
    for sku in [&tea, &mug, &lamp] {
        let product = Product::get(store, sku.clone()).await?;
        let last = contiguous_history(&product).await?;
        aggregates.push((Product::NAME, sku.clone(), last));
    }
    for cart_id in [&alice, &carol] {
        let cart = Cart::get(store, cart_id.clone()).await?;
        let last = contiguous_history(&cart).await?;
        aggregates.push((Cart::NAME, cart_id.clone(), last));
    }
    writeln!(
        out,
        "\nRead back {} aggregates: every history runs from version 1 with no gaps.",
        aggregates.len()
    )?;

    let stats = store.stats().snapshot();
    writeln!(
        out,
        "The store served {} requests ({} reads, {} writes): {:.1} read units, {:.1} write units.",
        stats.requests, stats.reads, stats.writes, stats.read_units, stats.write_units
    )?;
    Ok(Told {
        aggregates,
        command_keys: vec![dave_key],
    })
}

/// Reads `root`'s whole history from the store and checks that its versions
/// are exactly 1, 2, …, `root.version()`. Returns that last version.
pub async fn contiguous_history<A: Aggregate, S: EventStore>(root: &Root<A, S>) -> Fallible<u64> {
    let versions: Vec<u64> = root
        .history()
        .map_ok(|recorded| recorded.version)
        .try_collect()
        .await?;
    let expected: Vec<u64> = (1..=root.version()).collect();
    if versions != expected {
        return Err(format!(
            "{} {:?}: the history holds versions {versions:?}, not 1..={}",
            A::NAME,
            root.id(),
            root.version()
        )
        .into());
    }
    Ok(root.version())
}
