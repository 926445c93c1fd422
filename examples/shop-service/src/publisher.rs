//! The shop's integration events: what other services (shipping, mail)
//! learn from the shop, without reading its table or linking its types.
//!
//! - `OrderPlaced` (v1) when a cart is checked out: the order (the cart's
//!   id) and its lines;
//! - `StockDepleted` (v1) when a reservation takes a product's last unit.
//!
//! [`ShopEvents`] maps the stored events to them. Neither follows from one
//! stored event alone (`CartCheckedOut` carries no lines; `ProductReserved`
//! no stock), so it keeps what it needs in two small views of its own,
//! `outbound-cart` (a cart's lines) and `outbound-stock` (a product's units
//! on the shelf), committed with its positions, in the view table.
//!
//! The `shop-publisher` function runs it on the events table's stream and
//! puts the events on an EventBridge bus (`ES_EVENT_BUS`), source
//! [`SOURCE`]. `docs/publishing.md` describes the contract.

use std::collections::BTreeMap;

use es::dynamo::publish::{self, EventBridge, IntegrationEvent, Publisher, Target};
use es::dynamo::{DynamoStore, DynamoViews};
use es::erasure::Vault;
use es::prelude::*;
use serde::{Deserialize, Serialize};

use crate::hot::{product_of, BucketReleased, BucketReserved, BucketRestocked};
use crate::projection::LAYOUT;
use crate::shop::*;

/// The environment variable that names the bus the events go to.
pub const BUS_VAR: &str = "ES_EVENT_BUS";

/// The `source` of the shop's events on the bus.
pub const SOURCE: &str = "es.shop";

/// A cart was checked out: every line is reserved, and the order can ship.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OrderPlaced {
    /// The order's id: the cart's.
    pub order_id: String,
    /// What was ordered, by product id.
    pub lines: Vec<OrderLine>,
}

/// One line of an [`OrderPlaced`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OrderLine {
    /// The product's id.
    pub sku: String,
    /// Units ordered.
    pub quantity: u32,
}

impl IntegrationEvent for OrderPlaced {
    const NAME: &'static str = "OrderPlaced";
    const VERSION: u32 = 1;
}

/// A reservation took a product's last unit on the shelf.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StockDepleted {
    /// The product's id.
    pub sku: String,
}

impl IntegrationEvent for StockDepleted {
    const NAME: &'static str = "StockDepleted";
    const VERSION: u32 = 1;
}

/// The mapping from the shop's stored events to its integration events.
pub struct ShopEvents<T> {
    /// Each cart's lines, as its own events left them.
    pub carts: Views<BTreeMap<String, u32>, T>,
    /// Each product's units on the shelf.
    pub stock: Views<u32, T>,
}

impl<T: ViewTable> ShopEvents<T> {
    /// The mapping, keeping its state in `table`.
    pub fn new(table: T) -> Self {
        ShopEvents {
            carts: Views::new(table.clone(), "outbound-cart"),
            stock: Views::new(table, "outbound-stock"),
        }
    }
}

#[es::projection(name = "ShopEvents")]
impl<T: ViewTable> ShopEvents<T> {
    #[on(ItemAdded)]
    async fn added(&self, e: &ItemAdded, at: &Envelope) -> Result<(), Error> {
        self.carts
            .update(&at.id, at, |lines| {
                let line = lines.entry(e.sku.clone()).or_default();
                *line = line.saturating_add(e.quantity);
            })
            .await
    }

    #[on(ItemRemoved)]
    async fn removed(&self, e: &ItemRemoved, at: &Envelope) -> Result<(), Error> {
        self.carts
            .update(&at.id, at, |lines| {
                lines.remove(&e.sku);
            })
            .await
    }

    #[on(CartCheckedOut)]
    async fn checked_out(&self, _: &CartCheckedOut, at: &Envelope) -> Result<(), Error> {
        // Read through the run's stage: the lines as the events before this
        // one left them, in this run or an earlier one.
        let mut lines = BTreeMap::new();
        self.carts
            .update(&at.id, at, |current| lines = current.clone())
            .await?;
        publish::publish(
            at,
            &OrderPlaced {
                order_id: at.id.clone(),
                lines: lines
                    .into_iter()
                    .map(|(sku, quantity)| OrderLine { sku, quantity })
                    .collect(),
            },
        )
    }

    #[on(ProductRestocked)]
    async fn restocked(&self, e: &ProductRestocked, at: &Envelope) -> Result<(), Error> {
        self.stock
            .update(&at.id, at, |units| *units = units.saturating_add(e.amount))
            .await
    }

    #[on(ProductReleased)]
    async fn released(&self, e: &ProductReleased, at: &Envelope) -> Result<(), Error> {
        self.stock
            .update(&at.id, at, |units| {
                *units = units.saturating_add(e.quantity)
            })
            .await
    }

    #[on(ProductReserved)]
    async fn reserved(&self, e: &ProductReserved, at: &Envelope) -> Result<(), Error> {
        self.take(&at.id, e.quantity, at).await
    }

    // A hot product's buckets (`hot.rs`): its units on the shelf are their
    // sum, kept under the product's id, so that `StockDepleted` tells when
    // the last unit of all of them goes, not of one bucket.
    #[on(BucketRestocked)]
    async fn bucket_restocked(&self, e: &BucketRestocked, at: &Envelope) -> Result<(), Error> {
        self.stock
            .update(product_of(&at.id), at, |units| {
                *units = units.saturating_add(e.amount)
            })
            .await
    }

    #[on(BucketReleased)]
    async fn bucket_released(&self, e: &BucketReleased, at: &Envelope) -> Result<(), Error> {
        self.stock
            .update(product_of(&at.id), at, |units| {
                *units = units.saturating_add(e.quantity)
            })
            .await
    }

    #[on(BucketReserved)]
    async fn bucket_reserved(&self, e: &BucketReserved, at: &Envelope) -> Result<(), Error> {
        self.take(product_of(&at.id), e.quantity, at).await
    }
}

impl<T: ViewTable> ShopEvents<T> {
    /// A reservation of `quantity` units of `sku`: `StockDepleted` when it
    /// takes the last.
    async fn take(&self, sku: &str, quantity: u32, at: &Envelope) -> Result<(), Error> {
        let mut depleted = false;
        self.stock
            .update(sku, at, |units| {
                let before = *units;
                *units = units.saturating_sub(quantity);
                depleted = before > 0 && *units == 0;
            })
            .await?;
        if depleted {
            publish::publish(
                at,
                &StockDepleted {
                    sku: sku.to_owned(),
                },
            )?;
        }
        Ok(())
    }
}

/// The shop's publisher: [`ShopEvents`] and the target its events go to.
pub type ShopPublisher<T, G> = Publisher<ShopEvents<T>, G>;

/// The publisher's projector: over the events table `table`, its personal
/// fields opened through `vault` (`crate::keys`), keeping its positions
/// and state in the view table `view_table`, sending to `target`.
pub async fn projector<G: Target>(
    table: impl Into<String>,
    view_table: impl Into<String>,
    target: G,
    vault: Vault,
) -> Projector<DynamoStore, DynamoViews, ShopPublisher<DynamoViews, G>> {
    let store = DynamoStore::from_env(table)
        .await
        .with_layout(LAYOUT)
        .with_vault(vault);
    let views = DynamoViews::from_env(view_table).await;
    Projector::new(
        store,
        views.clone(),
        Publisher::new(ShopEvents::new(views), target),
    )
}

/// The function's projector: [`projector`] sending to the EventBridge bus
/// `bus` as [`SOURCE`], with clients from the AWS config chain.
pub async fn bus_projector(
    table: impl Into<String>,
    view_table: impl Into<String>,
    bus: impl Into<String>,
    vault: Vault,
) -> Projector<DynamoStore, DynamoViews, ShopPublisher<DynamoViews, EventBridge>> {
    projector(
        table,
        view_table,
        EventBridge::from_env(bus, SOURCE).await,
        vault,
    )
    .await
}
