//! The shop's read side: a stock-and-carts view kept from the products' and
//! carts' events.
//!
//! `ShopViews` is one projection over two aggregates. It keeps two kinds of
//! view in one table: `stock`, one per product, and `cart`, one per cart,
//! which both the cart's own events and the products' reservations feed. Each
//! update records the version it applied, so a redelivered event changes
//! nothing, wherever it comes from: the stream runner, a Lambda retry, or a
//! rebuild.
//!
//! The example (`main.rs`, `read_side.rs`), the service (`examples/shop-service`)
//! and the projection tests (`tests/projections/`) share this file.

use std::collections::BTreeMap;

use es::prelude::*;
use serde::{Deserialize, Serialize};

use crate::hot::{product_of, BucketReleased, BucketReserved, BucketRestocked, ProductBucket};
use crate::shop::*;

/// One product's stock, as the read side shows it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Stock {
    /// Units on the shelf.
    pub on_hand: u32,
    /// Units reserved by carts.
    pub reserved: u32,
}

/// One cart, as the read side shows it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct CartView {
    /// The cart's lines: units wanted, per product.
    pub lines: BTreeMap<String, u32>,
    /// Units reserved for the cart, per product.
    pub reserved: BTreeMap<String, u32>,
    /// Whether the cart was checked out.
    pub checked_out: bool,
    /// What buys hold for the cart, per product, with each hold's deadline
    /// (milliseconds since the Unix epoch). Left out when there is none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub holds: BTreeMap<String, Hold>,
}

/// Where a checked-out cart ships: the customer in clear, their email and
/// address as the event stored them, sealed under the customer's key. The
/// view never holds their plaintext, so forgetting the customer erases it
/// here too; a reader opens them with the store's vault
/// (`es::erasure::Vault::open`), and gets `None` once the customer is
/// forgotten.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderView {
    pub customer: String,
    pub email: Option<es::erasure::Sealed>,
    pub address: Option<es::erasure::Sealed>,
}

/// The stock, cart and order views, in one view table.
pub struct ShopViews<T> {
    pub stock: Views<Stock, T>,
    pub carts: Views<CartView, T>,
    pub orders: Views<OrderView, T>,
}

impl<T: ViewTable> ShopViews<T> {
    /// Units a cart held go back on the shelf of product `sku`: a release,
    /// or an expiry.
    async fn give_back(
        &self,
        sku: &str,
        cart_id: &str,
        quantity: u32,
        at: &Envelope,
    ) -> Result<(), Error> {
        self.stock
            .update(sku, at, |s| {
                s.on_hand = s.on_hand.saturating_add(quantity);
                s.reserved = s.reserved.saturating_sub(quantity);
            })
            .await?;
        self.carts
            .update(cart_id, at, |c| {
                if let Some(held) = c.reserved.get_mut(sku) {
                    *held = held.saturating_sub(quantity);
                    if *held == 0 {
                        c.reserved.remove(sku);
                    }
                }
            })
            .await?;
        Ok(())
    }

    /// A cart took units off the shelf of product `sku`.
    async fn take(
        &self,
        sku: &str,
        cart_id: &str,
        quantity: u32,
        at: &Envelope,
    ) -> Result<(), Error> {
        self.stock
            .update(sku, at, |s| {
                s.on_hand = s.on_hand.saturating_sub(quantity);
                s.reserved = s.reserved.saturating_add(quantity);
            })
            .await?;
        self.carts
            .update(cart_id, at, |c| {
                let held = c.reserved.entry(sku.to_owned()).or_default();
                *held = held.saturating_add(quantity);
            })
            .await?;
        Ok(())
    }

    /// The shop's views in `table`.
    pub fn new(table: T) -> Self {
        ShopViews {
            stock: Views::new(table.clone(), "stock"),
            carts: Views::new(table.clone(), "cart"),
            orders: Views::new(table, "order"),
        }
    }

    /// Every view, by id: what the read side holds now.
    pub async fn read(&self) -> Result<Shown, Error> {
        Ok(Shown {
            stock: self.stock.list().try_collect().await?,
            carts: self.carts.list().try_collect().await?,
        })
    }
}

#[es::projection(name = "ShopViews")]
impl<T: ViewTable> ShopViews<T> {
    #[on(ProductRestocked)]
    async fn restocked(&self, e: &ProductRestocked, at: &Envelope) -> Result<(), Error> {
        self.stock
            .update(&at.id, at, |s| {
                s.on_hand = s.on_hand.saturating_add(e.amount)
            })
            .await?;
        Ok(())
    }

    #[on(ProductReserved)]
    async fn reserved(&self, e: &ProductReserved, at: &Envelope) -> Result<(), Error> {
        self.take(&at.id, &e.cart_id, e.quantity, at).await
    }

    #[on(ProductHoldExpired)]
    async fn hold_released(&self, e: &ProductHoldExpired, at: &Envelope) -> Result<(), Error> {
        self.give_back(&at.id, &e.cart_id, e.quantity, at).await
    }

    // A hot product's buckets feed the product's views: its stock is their
    // sum. Quota moved between buckets changes no total, so it has no
    // handler.
    #[on(BucketRestocked)]
    async fn bucket_restocked(&self, e: &BucketRestocked, at: &Envelope) -> Result<(), Error> {
        self.stock
            .update(product_of(&at.id), at, |s| {
                s.on_hand = s.on_hand.saturating_add(e.amount)
            })
            .await?;
        Ok(())
    }

    #[on(BucketReserved)]
    async fn bucket_reserved(&self, e: &BucketReserved, at: &Envelope) -> Result<(), Error> {
        self.take(product_of(&at.id), &e.cart_id, e.quantity, at)
            .await
    }

    #[on(BucketReleased)]
    async fn bucket_released(&self, e: &BucketReleased, at: &Envelope) -> Result<(), Error> {
        self.give_back(product_of(&at.id), &e.cart_id, e.quantity, at)
            .await
    }

    #[on(ItemHeld)]
    async fn held(&self, e: &ItemHeld, at: &Envelope) -> Result<(), Error> {
        self.carts
            .update(&at.id, at, |c| {
                let hold = c.holds.entry(e.sku.clone()).or_default();
                hold.quantity = hold.quantity.saturating_add(e.quantity);
                hold.until_millis = e.until_millis;
            })
            .await?;
        Ok(())
    }

    #[on(HoldExpired)]
    async fn hold_expired(&self, e: &HoldExpired, at: &Envelope) -> Result<(), Error> {
        self.carts
            .update(&at.id, at, |c| {
                c.holds.remove(&e.sku);
            })
            .await?;
        Ok(())
    }

    #[on(ProductReleased)]
    async fn released(&self, e: &ProductReleased, at: &Envelope) -> Result<(), Error> {
        self.give_back(&at.id, &e.cart_id, e.quantity, at).await
    }

    #[on(ItemAdded)]
    async fn added(&self, e: &ItemAdded, at: &Envelope) -> Result<(), Error> {
        self.carts
            .update(&at.id, at, |c| {
                let line = c.lines.entry(e.sku.clone()).or_default();
                *line = line.saturating_add(e.quantity);
            })
            .await?;
        Ok(())
    }

    #[on(ItemRemoved)]
    async fn removed(&self, e: &ItemRemoved, at: &Envelope) -> Result<(), Error> {
        self.carts
            .update(&at.id, at, |c| {
                c.lines.remove(&e.sku);
            })
            .await?;
        Ok(())
    }

    #[on(CartCheckedOut)]
    async fn checked_out(&self, e: &CartCheckedOut, at: &Envelope) -> Result<(), Error> {
        self.carts
            .update(&at.id, at, |c| c.checked_out = true)
            .await?;
        // The sealed fields as stored, never `e.email` and `e.address`:
        // a checkout from before shipping was asked for has none.
        if let (Some(email), Some(address)) = (at.sealed("email"), at.sealed("address")) {
            self.orders
                .update(&at.id, at, |o| {
                    o.customer = e.customer.clone();
                    o.email = Some(email.clone());
                    o.address = Some(address.clone());
                })
                .await?;
        }
        Ok(())
    }
}

/// The views by id, as read from a table or worked out from the aggregates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shown {
    pub stock: BTreeMap<String, Stock>,
    pub carts: BTreeMap<String, CartView>,
}

impl Shown {
    /// What the views must hold, worked out from the aggregates' current
    /// states (a replay): a product's stock, and for each cart its lines and
    /// what each product holds for it. Views with nothing in them are left
    /// out, as [`Shown::without_empty`] leaves them out of a table's.
    pub async fn replayed<S: EventStore>(
        store: &S,
    ) -> Result<Shown, Box<dyn std::error::Error + Send + Sync>> {
        let mut shown = Shown::default();
        let products: Vec<Root<Product, S>> = Product::find_all(store).try_collect().await?;
        for product in &products {
            let reserved = product.reserved.values().sum();
            shown.stock.insert(
                product.id().to_owned(),
                Stock {
                    on_hand: product.on_hand,
                    reserved,
                },
            );
            for (cart, quantity) in &product.reserved {
                shown
                    .carts
                    .entry(cart.clone())
                    .or_default()
                    .reserved
                    .insert(product.id().to_owned(), *quantity);
            }
        }
        // A hot product's stock: its buckets, added up.
        let buckets: Vec<Root<ProductBucket, S>> =
            ProductBucket::find_all(store).try_collect().await?;
        for bucket in &buckets {
            let sku = product_of(bucket.id()).to_owned();
            let stock = shown.stock.entry(sku.clone()).or_default();
            stock.on_hand = stock.on_hand.saturating_add(bucket.on_hand);
            for (cart, quantity) in &bucket.reserved {
                stock.reserved = stock.reserved.saturating_add(*quantity);
                let held = shown
                    .carts
                    .entry(cart.clone())
                    .or_default()
                    .reserved
                    .entry(sku.clone())
                    .or_default();
                *held = held.saturating_add(*quantity);
            }
        }
        let carts: Vec<Root<Cart, S>> = Cart::find_all(store).try_collect().await?;
        for cart in &carts {
            let view = shown.carts.entry(cart.id().to_owned()).or_default();
            view.lines = cart.lines.clone();
            view.checked_out = cart.checked_out;
            view.holds = cart.holds.clone();
        }
        Ok(shown.without_empty())
    }

    /// The same views without the empty ones: a cart whose every reservation
    /// was released leaves an empty view behind, and a replay has none.
    pub fn without_empty(mut self) -> Shown {
        self.carts.retain(|_, c| *c != CartView::default());
        self
    }

    /// The first few views that differ from `other`'s, for an error message.
    pub fn differences(&self, other: &Shown) -> String {
        fn diff<V: PartialEq + std::fmt::Debug>(
            kind: &str,
            mine: &BTreeMap<String, V>,
            theirs: &BTreeMap<String, V>,
            out: &mut Vec<String>,
        ) {
            let ids: std::collections::BTreeSet<&String> =
                mine.keys().chain(theirs.keys()).collect();
            for id in ids {
                let (a, b) = (mine.get(id), theirs.get(id));
                if a != b {
                    out.push(format!("{kind} {id:?}: {a:?} against {b:?}"));
                }
            }
        }
        let mut out = Vec::new();
        diff("stock", &self.stock, &other.stock, &mut out);
        diff("cart", &self.carts, &other.carts, &mut out);
        let total = out.len();
        out.truncate(5);
        format!("{total} differ; {}", out.join("; "))
    }

    /// Only what concerns the products and carts whose ids end with `run`,
    /// for a table shared by runs: a cart id without the suffix (a walk-in
    /// buyer's) may hold reservations of several runs' products.
    pub fn of_run(mut self, run: &str) -> Shown {
        self.stock.retain(|id, _| id.ends_with(run));
        for (id, cart) in &mut self.carts {
            cart.reserved.retain(|sku, _| sku.ends_with(run));
            if !id.ends_with(run) {
                cart.lines.clear();
                cart.checked_out = false;
            }
        }
        self.without_empty()
    }
}
