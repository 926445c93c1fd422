//! The shopping domain: products with stock, carts that reserve items, and a
//! checkout that reserves every line atomically.
//!
//! The example (`main.rs`, `story.rs`), the command tests (`tests/commands.rs`)
//! and the story tests (`tests/shopping_story.rs`) share this file.

use std::collections::BTreeMap;

use es::prelude::*;
use serde::{Deserialize, Serialize};

// ---- Product -------------------------------------------------------------

/// Units arrived in the warehouse.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ProductRestocked {
    pub amount: u32,
}

/// A cart took units off the shelf.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(name = "ProductReserved", version = 1)]
pub struct ProductReserved {
    pub cart_id: String,
    pub quantity: u32,
}

/// A cart gave units back.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ProductReleased {
    pub cart_id: String,
    pub quantity: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProductError {
    #[error("sold out: {available} left, {requested} wanted")]
    SoldOut { available: u32, requested: u32 },
    #[error("a restock must add at least one unit")]
    EmptyRestock,
    #[error("cart {0} holds no reservation of this product")]
    NothingReserved(String),
    /// A count would pass `u32::MAX`: refused rather than wrapped or panicked on.
    #[error("too many units: a count would pass {}", u32::MAX)]
    TooManyUnits,
}

#[derive(Aggregate, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[aggregate(name = "Product", error = ProductError, snapshot_every = 50)]
pub struct Product {
    pub on_hand: u32,
    pub reserved: BTreeMap<String, u32>,
}

#[es::handlers]
impl Product {
    #[on(ProductRestocked)]
    fn restocked(&mut self, e: &ProductRestocked) -> Result<(), ProductError> {
        if e.amount == 0 {
            return Err(ProductError::EmptyRestock);
        }
        self.on_hand = self
            .on_hand
            .checked_add(e.amount)
            .ok_or(ProductError::TooManyUnits)?;
        Ok(())
    }

    #[on(ProductReserved)]
    fn reserved(&mut self, e: &ProductReserved) -> Result<(), ProductError> {
        if self.on_hand < e.quantity {
            return Err(ProductError::SoldOut {
                available: self.on_hand,
                requested: e.quantity,
            });
        }
        let held = self.reserved.get(&e.cart_id).copied().unwrap_or(0);
        let held = held
            .checked_add(e.quantity)
            .ok_or(ProductError::TooManyUnits)?;
        self.on_hand -= e.quantity;
        self.reserved.insert(e.cart_id.clone(), held);
        Ok(())
    }

    #[on(ProductReleased)]
    fn released(&mut self, e: &ProductReleased) -> Result<(), ProductError> {
        let held = self
            .reserved
            .get_mut(&e.cart_id)
            .filter(|held| **held >= e.quantity);
        let Some(held) = held else {
            return Err(ProductError::NothingReserved(e.cart_id.clone()));
        };
        let on_hand = self
            .on_hand
            .checked_add(e.quantity)
            .ok_or(ProductError::TooManyUnits)?;
        *held -= e.quantity;
        if *held == 0 {
            self.reserved.remove(&e.cart_id);
        }
        self.on_hand = on_hand;
        Ok(())
    }
}

impl Product {
    /// The decision of a reserve command: the handler re-checks it on commit.
    pub fn reserve(&self, cart_id: &str, quantity: u32) -> Result<ProductReserved, ProductError> {
        if self.on_hand < quantity {
            return Err(ProductError::SoldOut {
                available: self.on_hand,
                requested: quantity,
            });
        }
        let held = self.reserved.get(cart_id).copied().unwrap_or(0);
        if held.checked_add(quantity).is_none() {
            return Err(ProductError::TooManyUnits);
        }
        Ok(ProductReserved {
            cart_id: cart_id.to_owned(),
            quantity,
        })
    }
}

// ---- Cart ----------------------------------------------------------------

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ItemAdded {
    pub sku: String,
    pub quantity: u32,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ItemRemoved {
    pub sku: String,
}

/// Every line was reserved; the cart is closed.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CartCheckedOut;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CartError {
    #[error("the cart is already checked out")]
    CheckedOut,
    #[error("{0} is not in the cart")]
    NotInCart(String),
    #[error("the cart is empty")]
    Empty,
    #[error("a line needs at least one unit")]
    ZeroQuantity,
    /// A line's count would pass `u32::MAX`.
    #[error("too many units: a line would pass {}", u32::MAX)]
    TooManyUnits,
}

#[derive(Aggregate, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[aggregate(name = "Cart", error = CartError)]
pub struct Cart {
    pub lines: BTreeMap<String, u32>,
    pub checked_out: bool,
}

#[es::handlers]
impl Cart {
    #[on(ItemAdded)]
    fn added(&mut self, e: &ItemAdded) -> Result<(), CartError> {
        self.open()?;
        if e.quantity == 0 {
            return Err(CartError::ZeroQuantity);
        }
        let line = self.lines.get(&e.sku).copied().unwrap_or(0);
        let line = line
            .checked_add(e.quantity)
            .ok_or(CartError::TooManyUnits)?;
        self.lines.insert(e.sku.clone(), line);
        Ok(())
    }

    #[on(ItemRemoved)]
    fn removed(&mut self, e: &ItemRemoved) -> Result<(), CartError> {
        self.open()?;
        self.lines
            .remove(&e.sku)
            .map(drop)
            .ok_or_else(|| CartError::NotInCart(e.sku.clone()))
    }

    #[on(CartCheckedOut)]
    fn checked_out(&mut self, _: &CartCheckedOut) -> Result<(), CartError> {
        self.open()?;
        if self.lines.is_empty() {
            return Err(CartError::Empty);
        }
        self.checked_out = true;
        Ok(())
    }
}

impl Cart {
    fn open(&self) -> Result<(), CartError> {
        if self.checked_out {
            return Err(CartError::CheckedOut);
        }
        Ok(())
    }
}

// ---- Checkout: one atomic commit across the cart and its products ---------

/// Why a checkout failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("product: {0}")]
    Product(#[from] es::Error<ProductError>),
    #[error("cart: {0}")]
    Cart(#[from] es::Error<CartError>),
    #[error("store: {0}")]
    Store(#[from] es::Error),
}

impl CheckoutError {
    /// The sold-out rejection, when that is why the checkout failed.
    pub fn sold_out(&self) -> Option<&ProductError> {
        match self {
            CheckoutError::Product(es::Error::Rejected(e @ ProductError::SoldOut { .. })) => {
                Some(e)
            }
            _ => None,
        }
    }
}

/// Reserves every line of the cart and closes it, all or nothing, in one
/// [`es::Transaction`]. Returns how many attempts it took.
///
/// A failure that another attempt could fix (`is_retryable()`) is retried, up
/// to `retry.max_attempts` attempts in all, after `retry`'s jittered wait: a conflict
/// (another buyer changed a product meanwhile), and on DynamoDB also a
/// transient store failure such as a `TransactionConflict` cancellation when
/// concurrent transactions touch the same items, or throttling. Each retry
/// catches up by reading only the events written since (`hydrate`), never by
/// reloading whole histories, then decides again. A rejection (a line sold
/// out, the cart already checked out) is returned at once.
///
/// A store failure can be ambiguous: a timeout may come after DynamoDB
/// committed the write. If, after such a failure, the cart turns out to be
/// checked out at exactly the version this attempt wrote, the transaction
/// landed (it was all or nothing) and the checkout succeeded.
pub async fn checkout<S: EventStore>(
    store: &S,
    cart_id: &str,
    retry: es::Retry,
) -> Result<u32, CheckoutError> {
    checkout_with(store, cart_id, retry, es::Metadata::default()).await
}

/// [`checkout`], storing `metadata` (correlation and causation ids, say)
/// with every event it writes: the cart's and each product's.
pub async fn checkout_with<S: EventStore>(
    store: &S,
    cart_id: &str,
    retry: es::Retry,
    metadata: es::Metadata,
) -> Result<u32, CheckoutError> {
    // This process's turn on the cart, then on its products: no command of
    // this process writes them while the checkout reads and decides, so
    // only another process can make it conflict. (The cart's turn first:
    // every checkout takes them in that order, so none waits for another.)
    let _cart_turn = es::turns(store, [(Cart::NAME, cart_id)]).await;
    let mut cart = Cart::get(store, cart_id)
        .await?
        .with_metadata(metadata.clone());
    let mut products: BTreeMap<String, Root<Product, S>> = BTreeMap::new();
    let mut product_turns: Option<(Vec<String>, es::Turns)> = None;
    let mut attempt = 1;
    loop {
        // The products of the cart's current lines: loaded once, caught up on
        // later attempts; a line added or removed meanwhile is followed.
        let skus: Vec<String> = cart.lines.keys().cloned().collect();
        if product_turns.as_ref().map(|(held, _)| held) != Some(&skus) {
            // Turns held are given up before new ones are taken, so that
            // they are always taken in one order.
            drop(product_turns.take());
            let turns = es::turns(store, skus.iter().map(|sku| (Product::NAME, sku))).await;
            product_turns = Some((skus, turns));
        }
        products.retain(|sku, _| cart.lines.contains_key(sku));
        for sku in cart.lines.keys() {
            if !products.contains_key(sku) {
                let product = Product::load(store, sku.clone())
                    .await?
                    .with_metadata(metadata.clone());
                products.insert(sku.clone(), product);
            }
        }
        let sent = cart.version();
        let mut tx = es::Transaction::new(store);
        for (sku, product) in products.iter_mut() {
            let quantity = cart.lines[sku];
            tx.append(
                product,
                [ProductReserved {
                    cart_id: cart_id.to_owned(),
                    quantity,
                }],
            )?;
        }
        tx.append(&mut cart, [CartCheckedOut])?;
        match tx.commit().await {
            Ok(()) => return Ok(attempt),
            Err(e) if e.is_retryable() && attempt < retry.max_attempts => {
                let ambiguous = matches!(e, es::Error::Store(_));
                tokio::time::sleep(retry.delay(attempt)).await;
                cart.hydrate().await?;
                if ambiguous && cart.checked_out && cart.version() == sent + 1 {
                    return Ok(attempt);
                }
                for product in products.values_mut() {
                    product.hydrate().await?;
                }
                attempt += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
}
