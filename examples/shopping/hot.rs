//! Hot products: a product whose stock is split over bucket aggregates
//! (`es::buckets`), so that a flash sale on one SKU is not held to one
//! aggregate's write rate.
//!
//! A hot product's stock lives in `ProductBucket` aggregates, ids
//! `"{sku}/0"` to `"{sku}/{K-1}"`, each a small `Product`: units on hand and
//! units reserved by cart. A purchase reserves from one bucket; restocks are
//! spread over all of them; the product's state is their sum, read at one
//! instant. The refusals are the product's own (`ProductError`), so a
//! client cannot tell a hot product from another.
//!
//! `HotShelves` puts hot products into the shop's commands across a cart
//! and products: a buy that holds for a cart, a checkout of all of a cart's
//! lines and a hold's expiry each reserve from, or give back to, a hot
//! product's buckets in the same atomic commit as the rest of the command.
//!
//! The shop service (`examples/shop-service`), the tests (`tests/buckets.rs`)
//! and the flash-sale bench (`benches/flash.rs`) share this file; it expects
//! the shopping domain as `crate::shop`.

use std::collections::BTreeMap;
use std::sync::Arc;

use es::buckets::{Bucket, Buckets};
use es::prelude::*;
use serde::{Deserialize, Serialize};

use crate::shop::{ProductError, Products, Shelves, ShopError};

/// Units arrived in the warehouse, into this bucket.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct BucketRestocked {
    pub amount: u32,
}

/// A cart took units from this bucket.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct BucketReserved {
    pub cart_id: String,
    pub quantity: u32,
}

/// A cart gave units back to this bucket.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct BucketReleased {
    pub cart_id: String,
    pub quantity: u32,
}

/// Units on hand moved to another bucket of the product.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct QuotaGiven {
    pub to: u32,
    pub amount: u32,
}

/// Units on hand moved here from another bucket of the product.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct QuotaReceived {
    pub from: u32,
    pub amount: u32,
}

/// One bucket of a hot product's stock.
#[derive(Aggregate, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[aggregate(name = "ProductBucket", error = ProductError, snapshot_every = 50)]
pub struct ProductBucket {
    pub on_hand: u32,
    pub reserved: BTreeMap<String, u32>,
}

#[es::handlers]
impl ProductBucket {
    #[on(BucketRestocked)]
    fn restocked(&mut self, e: &BucketRestocked) -> Result<(), ProductError> {
        if e.amount == 0 {
            return Err(ProductError::EmptyRestock);
        }
        self.add(e.amount)
    }

    #[on(BucketReserved)]
    fn reserved(&mut self, e: &BucketReserved) -> Result<(), ProductError> {
        self.take(e.quantity)?;
        let held = self.reserved.entry(e.cart_id.clone()).or_insert(0);
        *held = held
            .checked_add(e.quantity)
            .ok_or(ProductError::TooManyUnits)?;
        Ok(())
    }

    #[on(BucketReleased)]
    fn released(&mut self, e: &BucketReleased) -> Result<(), ProductError> {
        let held = self
            .reserved
            .get(&e.cart_id)
            .copied()
            .filter(|&held| held >= e.quantity)
            .ok_or_else(|| ProductError::NothingReserved(e.cart_id.clone()))?;
        self.add(e.quantity)?;
        if held == e.quantity {
            self.reserved.remove(&e.cart_id);
        } else {
            self.reserved.insert(e.cart_id.clone(), held - e.quantity);
        }
        Ok(())
    }

    #[on(QuotaGiven)]
    fn given(&mut self, e: &QuotaGiven) -> Result<(), ProductError> {
        self.take(e.amount)
    }

    #[on(QuotaReceived)]
    fn received(&mut self, e: &QuotaReceived) -> Result<(), ProductError> {
        self.add(e.amount)
    }
}

impl ProductBucket {
    fn add(&mut self, units: u32) -> Result<(), ProductError> {
        self.on_hand = self
            .on_hand
            .checked_add(units)
            .ok_or(ProductError::TooManyUnits)?;
        Ok(())
    }

    fn take(&mut self, units: u32) -> Result<(), ProductError> {
        self.on_hand = self
            .on_hand
            .checked_sub(units)
            .ok_or(ProductError::SoldOut {
                available: self.on_hand,
                requested: units,
            })?;
        Ok(())
    }

    /// The decision of a reservation of `quantity` from this bucket; the
    /// handler checks it again on commit.
    pub fn reserve(&self, cart_id: &str, quantity: u32) -> Result<BucketReserved, ProductError> {
        let event = BucketReserved {
            cart_id: cart_id.to_owned(),
            quantity,
        };
        self.clone().reserved(&event).map(|()| event)
    }
}

impl Bucket for ProductBucket {
    fn available(&self) -> u64 {
        self.on_hand.into()
    }

    fn sold_out(available: u64, requested: u32) -> ProductError {
        ProductError::SoldOut {
            available: u32::try_from(available).unwrap_or(u32::MAX),
            requested,
        }
    }

    fn restock(&self, units: u32) -> Result<ProductBucketEvent, ProductError> {
        let event = BucketRestocked { amount: units };
        self.clone().restocked(&event)?;
        Ok(event.into())
    }

    fn give(&self, units: u32, to: u32) -> Result<ProductBucketEvent, ProductError> {
        let event = QuotaGiven { to, amount: units };
        self.clone().given(&event)?;
        Ok(event.into())
    }

    fn receive(&self, units: u32, from: u32) -> Result<ProductBucketEvent, ProductError> {
        let event = QuotaReceived {
            from,
            amount: units,
        };
        self.clone().received(&event)?;
        Ok(event.into())
    }
}

/// A hot product as its buckets add up, at one instant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HotProduct {
    /// Units on hand in all the buckets.
    pub on_hand: u32,
    /// Units reserved, by cart, over all the buckets.
    pub reserved: BTreeMap<String, u32>,
    /// The buckets' versions, summed: it grows with every event of any of
    /// them, as a product's version does with its own; 0 before any.
    pub version: u64,
}

/// Reads every bucket of `buckets` at one instant and adds them up.
pub async fn hot_product<S: EventStore>(
    store: &S,
    buckets: &Buckets<ProductBucket>,
) -> Result<HotProduct, es::Error<ProductError>> {
    let stock = buckets.stock(store).await?;
    let mut product = HotProduct::default();
    for bucket in &stock.buckets {
        product.on_hand = product.on_hand.saturating_add(bucket.on_hand);
        product.version = product.version.saturating_add(bucket.version());
        for (cart, units) in &bucket.reserved {
            let held = product.reserved.entry(cart.clone()).or_insert(0);
            *held = held.saturating_add(*units);
        }
    }
    Ok(product)
}

/// The product a bucket belongs to: bucket `"{sku}/{n}"`
/// ([`Buckets::id`]) is product `sku`, whose views and integration events
/// its events feed.
pub fn product_of(bucket: &str) -> &str {
    bucket.rsplit_once('/').map_or(bucket, |(sku, _)| sku)
}

/// Reserves `quantity` of a hot product for `cart_id`, starting at
/// `home`'s bucket (where this writer last reserved), else at the bucket
/// the cart picks.
pub async fn reserve_hot_from<S: EventStore>(
    store: &S,
    buckets: &Buckets<ProductBucket>,
    home: &es::buckets::Home,
    cart_id: &str,
    quantity: u32,
) -> Result<es::buckets::Reservation, es::Error<ProductError>> {
    buckets
        .reserve(store, quantity)
        .home(home)
        .spread_by(cart_id)
        .execute(|bucket, units| bucket.reserve(cart_id, units))
        .await
}

/// Reserves `quantity` of a hot product for `cart_id`, starting at the
/// bucket the cart picks.
pub async fn reserve_hot<S: EventStore>(
    store: &S,
    buckets: &Buckets<ProductBucket>,
    cart_id: &str,
    quantity: u32,
) -> Result<es::buckets::Reservation, es::Error<ProductError>> {
    buckets
        .reserve(store, quantity)
        .spread_by(cart_id)
        .execute(|bucket, units| bucket.reserve(cart_id, units))
        .await
}

/// The shop's shelves with some products hot: a hot product's stock is in
/// its buckets, any other product's in its `Product` aggregate.
#[derive(Clone, Debug, Default)]
pub struct HotShelves {
    /// Hot products: SKU and number of buckets.
    pub hot: Arc<BTreeMap<String, u32>>,
}

impl HotShelves {
    /// The shelves with `hot` (SKU and number of buckets) hot.
    pub fn new(hot: impl Into<Arc<BTreeMap<String, u32>>>) -> Self {
        HotShelves { hot: hot.into() }
    }

    /// The buckets of `sku` when it is hot.
    pub fn buckets(&self, sku: &str) -> Result<Option<Buckets<ProductBucket>>, es::Error> {
        match self.hot.get(sku) {
            Some(&count) => Ok(Some(Buckets::new(sku, count)?)),
            None => Ok(None),
        }
    }
}

impl Shelves for HotShelves {
    fn reserve<S: EventStore>(
        &self,
        d: &mut es::Decision<'_, S>,
        sku: &str,
        cart_id: &str,
        quantity: u32,
    ) -> Result<(), ShopError> {
        let Some(buckets) = self.buckets(sku)? else {
            return Products.reserve(d, sku, cart_id, quantity);
        };
        // The cart's own bucket first, so that carts spread over them.
        buckets.take_in(d, buckets.bucket_of(cart_id), quantity, |bucket, units| {
            bucket.reserve(cart_id, units)
        })?;
        Ok(())
    }

    fn expire<S: EventStore>(
        &self,
        d: &mut es::Decision<'_, S>,
        sku: &str,
        cart_id: &str,
        quantity: u32,
    ) -> Result<(), ShopError> {
        let Some(buckets) = self.buckets(sku)? else {
            return Products.expire(d, sku, cart_id, quantity);
        };
        // The units may sit in any bucket (a buy falls over when its own
        // is short): each gives back what it holds for the cart, up to the
        // hold.
        let held = buckets.read_in(d, |bucket| {
            bucket.reserved.get(cart_id).copied().unwrap_or(0)
        })?;
        let mut left = quantity;
        for (n, has) in held {
            let give = has.min(left);
            if give == 0 {
                continue;
            }
            d.append::<ProductBucket>(
                &buckets.id(n),
                [BucketReleased {
                    cart_id: cart_id.to_owned(),
                    quantity: give,
                }],
            )?;
            left -= give;
        }
        Ok(())
    }
}
