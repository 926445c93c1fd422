//! The shopping domain: products with stock, carts that reserve items, and a
//! checkout that reserves every line atomically.
//!
//! A buy holds stock for a cart until a deadline (15 minutes by default): the
//! product reserves the units and the cart records the hold, in one command
//! across both. A process manager (`HoldTimers`) schedules a durable timer
//! for each hold and cancels the cart's timers when it checks out; when a
//! timer fires, `expire_hold` releases the stock, unless the cart checked
//! out meanwhile. A checkout after a hold lapsed is refused.
//!
//! The example (`main.rs`, `story.rs`), the command tests (`tests/commands.rs`)
//! and the story tests (`tests/shopping_story.rs`) share this file.

use std::collections::BTreeMap;

use es::prelude::*;
use es::Clock as _;
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

/// A cart's hold ran past its deadline: its units are back on the shelf.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ProductHoldExpired {
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
        self.give_back(&e.cart_id, e.quantity)
    }

    #[on(ProductHoldExpired)]
    fn hold_expired(&mut self, e: &ProductHoldExpired) -> Result<(), ProductError> {
        self.give_back(&e.cart_id, e.quantity)
    }
}

impl Product {
    /// Units a cart held go back on the shelf.
    fn give_back(&mut self, cart_id: &str, quantity: u32) -> Result<(), ProductError> {
        let held = self
            .reserved
            .get_mut(cart_id)
            .filter(|held| **held >= quantity);
        let Some(held) = held else {
            return Err(ProductError::NothingReserved(cart_id.to_owned()));
        };
        let on_hand = self
            .on_hand
            .checked_add(quantity)
            .ok_or(ProductError::TooManyUnits)?;
        *held -= quantity;
        if *held == 0 {
            self.reserved.remove(cart_id);
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

/// Every line was reserved; the cart is closed, to be shipped to the
/// customer. The email and the address are the customer's personal data:
/// sealed under the customer's key in the store, and erased everywhere
/// once the customer is forgotten (`DELETE /customers/{id}`).
///
/// Carts checked out before shipping was asked for stored no payload:
/// they read with every field empty (`serde(default)`).
#[derive(Event, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct CartCheckedOut {
    /// The customer's id: whose personal data the other fields are.
    #[subject]
    pub customer: String,
    #[personal(placeholder = "[erased]")]
    pub email: String,
    #[personal]
    pub address: Address,
}

/// A postal address.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct Address {
    pub line1: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub line2: String,
    pub city: String,
    pub postcode: String,
    pub country: String,
}

/// Who a checkout ships to, and where: what a checkout takes.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Shipping {
    /// The customer's id, such as `cust-42`: the subject of the personal
    /// data. Not an email or a name, which would then be stored in clear.
    pub customer: String,
    pub email: String,
    pub address: Address,
}

/// The longest customer id: it is a key in the key table.
pub const MAX_CUSTOMER_BYTES: usize = 256;

/// Checks a customer id: 1 to [`MAX_CUSTOMER_BYTES`] bytes, not blank,
/// with no control characters. Says what is wrong.
pub fn check_customer(customer: &str) -> Result<(), String> {
    if customer.trim().is_empty() {
        return Err("the customer's id is empty".to_owned());
    }
    if customer.len() > MAX_CUSTOMER_BYTES || customer.chars().any(char::is_control) {
        return Err(format!(
            "a customer id is 1 to {MAX_CUSTOMER_BYTES} bytes with no control characters"
        ));
    }
    Ok(())
}

impl Shipping {
    /// Checks what a checkout needs: a customer id, an email with an `@`,
    /// and an address with a first line, a city and a country.
    pub fn check(&self) -> Result<(), CartError> {
        let bad = |what: &str| Err(CartError::Shipping(what.to_owned()));
        if let Err(why) = check_customer(&self.customer) {
            return bad(&format!("`customer`: {why}"));
        }
        if !self.email.contains('@') || self.email.len() > 254 {
            return bad("`email` is not an email address");
        }
        let a = &self.address;
        if a.line1.trim().is_empty() || a.city.trim().is_empty() || a.country.trim().is_empty() {
            return bad("`address` needs `line1`, `city` and `country`");
        }
        Ok(())
    }

    /// The example shipping of a customer, for tests and examples.
    pub fn example(customer: &str) -> Self {
        Shipping {
            customer: customer.to_owned(),
            email: format!("{customer}@example.com"),
            address: Address {
                line1: "1 Market Street".to_owned(),
                line2: String::new(),
                city: "Springfield".to_owned(),
                postcode: "12345".to_owned(),
                country: "US".to_owned(),
            },
        }
    }
}

/// A buy: units of a product held for the cart until a deadline, unless it
/// checks out first.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ItemHeld {
    pub sku: String,
    pub quantity: u32,
    /// Milliseconds since the Unix epoch.
    pub until_millis: u64,
}

/// A hold ran past its deadline and was released.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct HoldExpired {
    pub sku: String,
}

/// Units held for a cart, until a deadline.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Hold {
    pub quantity: u32,
    /// Milliseconds since the Unix epoch.
    pub until_millis: u64,
}

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
    /// A hold ran out before the checkout: the item must be bought again.
    #[error(
        "the hold on {sku} expired at {until_millis} (milliseconds since the epoch); buy it again"
    )]
    HoldExpired { sku: String, until_millis: u64 },
    /// A line's count would pass `u32::MAX`.
    #[error("too many units: a line would pass {}", u32::MAX)]
    TooManyUnits,
    /// The checkout's shipping details are not usable.
    #[error("shipping: {0}")]
    Shipping(String),
}

#[derive(Aggregate, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[aggregate(name = "Cart", error = CartError)]
pub struct Cart {
    pub lines: BTreeMap<String, u32>,
    pub checked_out: bool,
    /// Units held per product by buys, with their deadlines.
    #[serde(default)]
    pub holds: BTreeMap<String, Hold>,
    /// Holds that expired, per product, and when: a checkout is refused
    /// until the product is held again.
    #[serde(default)]
    pub lapsed: BTreeMap<String, u64>,
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
        if let Some((sku, &until_millis)) = self.lapsed.iter().next() {
            return Err(CartError::HoldExpired {
                sku: sku.clone(),
                until_millis,
            });
        }
        if self.lines.is_empty() && self.holds.is_empty() {
            return Err(CartError::Empty);
        }
        self.checked_out = true;
        Ok(())
    }

    #[on(ItemHeld)]
    fn held(&mut self, e: &ItemHeld) -> Result<(), CartError> {
        self.open()?;
        if e.quantity == 0 {
            return Err(CartError::ZeroQuantity);
        }
        let hold = self.holds.entry(e.sku.clone()).or_default();
        hold.quantity = hold
            .quantity
            .checked_add(e.quantity)
            .ok_or(CartError::TooManyUnits)?;
        // A new buy of a product holds all of it until the new deadline.
        hold.until_millis = e.until_millis;
        self.lapsed.remove(&e.sku);
        Ok(())
    }

    #[on(HoldExpired)]
    fn hold_expired(&mut self, e: &HoldExpired) -> Result<(), CartError> {
        self.open()?;
        let hold = self
            .holds
            .remove(&e.sku)
            .ok_or_else(|| CartError::NotInCart(e.sku.clone()))?;
        self.lapsed.insert(e.sku.clone(), hold.until_millis);
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

/// The errors of the shop's commands across aggregates (a buy, a checkout,
/// an expiry).
pub type ShopError = CheckoutError;

/// Where the shop keeps a product's stock, for its commands across a cart
/// and products (a buy, a checkout, a hold's expiry): in the product's own
/// aggregate ([`Products`]), or, for a hot product, in bucket aggregates
/// (`hot.rs`, `HotShelves`). Each method appends to the command's decision
/// what takes or gives back the units, so they commit atomically with the
/// rest of it.
pub trait Shelves: Send + Sync {
    /// Appends what reserves `quantity` of `sku` for `cart_id`; a sold-out
    /// product refuses with [`ProductError::SoldOut`].
    fn reserve<S: EventStore>(
        &self,
        d: &mut es::Decision<'_, S>,
        sku: &str,
        cart_id: &str,
        quantity: u32,
    ) -> Result<(), ShopError>;

    /// Appends what gives back to the shelf up to `quantity` units of `sku`
    /// that `cart_id` holds, because its hold expired; what was given back
    /// meanwhile is not given back twice.
    fn expire<S: EventStore>(
        &self,
        d: &mut es::Decision<'_, S>,
        sku: &str,
        cart_id: &str,
        quantity: u32,
    ) -> Result<(), ShopError>;
}

/// Every product's stock in its own `Product` aggregate.
#[derive(Clone, Copy, Debug, Default)]
pub struct Products;

impl Shelves for Products {
    fn reserve<S: EventStore>(
        &self,
        d: &mut es::Decision<'_, S>,
        sku: &str,
        cart_id: &str,
        quantity: u32,
    ) -> Result<(), ShopError> {
        d.append::<Product>(
            sku,
            [ProductReserved {
                cart_id: cart_id.to_owned(),
                quantity,
            }],
        )?;
        Ok(())
    }

    fn expire<S: EventStore>(
        &self,
        d: &mut es::Decision<'_, S>,
        sku: &str,
        cart_id: &str,
        quantity: u32,
    ) -> Result<(), ShopError> {
        let held = d
            .state::<Product>(sku)?
            .reserved
            .get(cart_id)
            .copied()
            .unwrap_or(0);
        let quantity = quantity.min(held);
        if quantity > 0 {
            d.append::<Product>(
                sku,
                [ProductHoldExpired {
                    cart_id: cart_id.to_owned(),
                    quantity,
                }],
            )?;
        }
        Ok(())
    }
}

/// Reserves every line of the cart and closes it, all or nothing: one
/// command across the cart and its products ([`es::across`]). Returns how
/// many attempts it took.
///
/// This process's turns on the cart and its products are taken in one
/// sorted order, so its commands never conflict with each other; a conflict
/// with another process catches up by reading only the events written
/// since, then decides again, up to `retry.max_attempts` attempts. A
/// rejection (a line sold out, the cart already checked out, a hold that
/// lapsed) is returned at once. A hold whose deadline has passed refuses
/// the checkout even before its timer fired.
pub async fn checkout<S: EventStore>(
    store: &S,
    cart_id: &str,
    shipping: &Shipping,
    retry: es::Retry,
) -> Result<u32, CheckoutError> {
    checkout_with(store, cart_id, shipping, retry, es::Metadata::default()).await
}

/// [`checkout`], storing `metadata` (correlation and causation ids, say)
/// with every event it writes: the cart's and each product's.
pub async fn checkout_with<S: EventStore>(
    store: &S,
    cart_id: &str,
    shipping: &Shipping,
    retry: es::Retry,
    metadata: es::Metadata,
) -> Result<u32, CheckoutError> {
    let now = es::SystemClock.now_millis();
    // A key of this call's own: a write that timed out after it landed is
    // retried, and comes back as this call's duplicate rather than applied
    // twice; another call has another key, and a checked-out cart refuses
    // it.
    let key = call_key("checkout", cart_id);
    checkout_as(store, cart_id, shipping, retry, metadata, Some(key), now)
        .await
        .map(|done| done.attempts)
}

/// An idempotency key for one call only: unique in this process (a counter)
/// and across processes (the time and the process id).
fn call_key(what: &str, id: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    format!(
        "{what}/{id}/{}-{}-{}",
        es::SystemClock.now_millis(),
        std::process::id(),
        CALLS.fetch_add(1, Ordering::Relaxed)
    )
}

/// The whole checkout: with an idempotency key (written in the same
/// transaction, so a retried request applies once), at the time `now_millis`.
pub async fn checkout_as<S: EventStore>(
    store: &S,
    cart_id: &str,
    shipping: &Shipping,
    retry: es::Retry,
    metadata: es::Metadata,
    idempotency_key: Option<String>,
    now_millis: u64,
) -> Result<es::Done, CheckoutError> {
    checkout_on(
        store,
        &Products,
        cart_id,
        shipping,
        retry,
        metadata,
        idempotency_key,
        now_millis,
    )
    .await
}

/// [`checkout_as`], with the stock of each line reserved where `shelves`
/// keeps it: every line, whichever its shelf, in the one atomic commit.
#[allow(clippy::too_many_arguments)]
pub async fn checkout_on<S: EventStore, H: Shelves>(
    store: &S,
    shelves: &H,
    cart_id: &str,
    shipping: &Shipping,
    retry: es::Retry,
    metadata: es::Metadata,
    idempotency_key: Option<String>,
    now_millis: u64,
) -> Result<es::Done, CheckoutError> {
    shipping
        .check()
        .map_err(|e| CheckoutError::Cart(es::Error::Rejected(e)))?;
    let mut command = es::across(store)
        .with::<Cart>(cart_id)
        .retry(retry)
        .metadata(metadata);
    if let Some(key) = idempotency_key {
        command = command.idempotency_key(key);
    }
    command
        .execute(|d| {
            if d.version::<Cart>(cart_id)? == 0 {
                return Err(CheckoutError::Cart(es::Error::NotFound {
                    aggregate: Cart::NAME,
                    id: cart_id.to_owned(),
                }));
            }
            let cart = d.state::<Cart>(cart_id)?.clone();
            // The cart's own refusal first: a second checkout is refused as
            // one, whatever its products would say.
            if cart.checked_out {
                return Err(CheckoutError::Cart(es::Error::Rejected(
                    CartError::CheckedOut,
                )));
            }
            {
                if let Some((sku, hold)) = cart
                    .holds
                    .iter()
                    .find(|(_, h)| h.until_millis <= now_millis)
                {
                    return Err(CheckoutError::Cart(es::Error::Rejected(
                        CartError::HoldExpired {
                            sku: sku.clone(),
                            until_millis: hold.until_millis,
                        },
                    )));
                }
            }
            for (sku, &quantity) in &cart.lines {
                shelves.reserve(d, sku, cart_id, quantity)?;
            }
            d.append::<Cart>(
                cart_id,
                [CartCheckedOut {
                    customer: shipping.customer.clone(),
                    email: shipping.email.clone(),
                    address: shipping.address.clone(),
                }],
            )?;
            Ok(())
        })
        .await
}

/// How long a buy holds stock unless the cart checks out: 15 minutes.
pub const DEFAULT_HOLD: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// A purchase: `quantity` units of `sku` for `cart_id`, held from
/// `now_millis` for `hold`.
#[derive(Clone, Debug)]
pub struct Purchase<'a> {
    pub sku: &'a str,
    pub cart_id: &'a str,
    pub quantity: u32,
    pub hold: std::time::Duration,
    pub now_millis: u64,
}

/// Buys: the product reserves the units and the cart holds them until
/// `now_millis + hold`, in one command across both. A process manager
/// ([`HoldTimers`]) schedules the hold's expiry.
pub async fn buy<S: EventStore>(
    store: &S,
    purchase: &Purchase<'_>,
    metadata: es::Metadata,
    idempotency_key: Option<String>,
) -> Result<es::Done, ShopError> {
    buy_on(store, &Products, purchase, metadata, idempotency_key).await
}

/// [`buy`], with the units reserved where `shelves` keeps the product's
/// stock.
pub async fn buy_on<S: EventStore, H: Shelves>(
    store: &S,
    shelves: &H,
    purchase: &Purchase<'_>,
    metadata: es::Metadata,
    idempotency_key: Option<String>,
) -> Result<es::Done, ShopError> {
    let Purchase {
        sku,
        cart_id,
        quantity,
        hold,
        now_millis,
    } = *purchase;
    let until_millis =
        now_millis.saturating_add(u64::try_from(hold.as_millis()).unwrap_or(u64::MAX));
    // The product's aggregates are loaded when the decision first asks.
    let mut command = es::across(store).with::<Cart>(cart_id).metadata(metadata);
    if let Some(key) = idempotency_key {
        command = command.idempotency_key(key);
    }
    command
        .execute(|d| {
            shelves.reserve(d, sku, cart_id, quantity)?;
            d.append::<Cart>(
                cart_id,
                [ItemHeld {
                    sku: sku.to_owned(),
                    quantity,
                    until_millis,
                }],
            )?;
            Ok(())
        })
        .await
}

/// Releases a cart's hold on `sku` if it has run out at `now_millis` and the
/// cart has not checked out: the cart records `HoldExpired` and the product
/// `ProductHoldExpired`, in one command across both, with `key` as its
/// idempotency key. Anything else (the cart checked out, the hold was bought
/// again with a later deadline, or is gone) writes nothing: a timer may
/// fire late, or twice.
pub async fn expire_hold<S: EventStore>(
    store: &S,
    cart_id: &str,
    sku: &str,
    now_millis: u64,
    key: &str,
) -> Result<es::Done, ShopError> {
    expire_hold_on(store, &Products, cart_id, sku, now_millis, key).await
}

/// [`expire_hold`], giving the units back where `shelves` keeps the
/// product's stock.
pub async fn expire_hold_on<S: EventStore, H: Shelves>(
    store: &S,
    shelves: &H,
    cart_id: &str,
    sku: &str,
    now_millis: u64,
    key: &str,
) -> Result<es::Done, ShopError> {
    es::across(store)
        .with::<Cart>(cart_id)
        .idempotency_key(key)
        .execute(|d| {
            let cart = d.state::<Cart>(cart_id)?;
            if cart.checked_out {
                return Ok(());
            }
            let Some(hold) = cart.holds.get(sku).cloned() else {
                return Ok(());
            };
            if now_millis < hold.until_millis {
                return Ok(());
            }
            d.append::<Cart>(
                cart_id,
                [HoldExpired {
                    sku: sku.to_owned(),
                }],
            )?;
            // Units a release gave back meanwhile are not released twice.
            shelves.expire(d, sku, cart_id, hold.quantity)
        })
        .await
}

/// The kind of the timers that expire holds.
pub const EXPIRE_HOLD: &str = "ExpireHold";

/// What an expiry timer carries.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ExpireHold {
    pub cart_id: String,
    pub sku: String,
}

/// The id of the timer of a cart's hold on `sku` until `until_millis`: one
/// per deadline, so a buy that extends a hold gets a timer of its own, and
/// the older one finds nothing to do.
pub fn hold_timer_id(cart_id: &str, sku: &str, until_millis: u64) -> String {
    format!("Cart#{cart_id}/hold/{sku}/{until_millis}")
}

/// The process manager of holds: schedules a timer for each hold a buy
/// makes, and cancels a cart's timers when it checks out. It runs on every
/// projection driver, with their ordering guarantees; its timers' ids come
/// from the events, so a redelivered event schedules nothing twice.
pub struct HoldTimers<S, T> {
    pub store: S,
    pub timers: T,
}

#[es::projection(name = "HoldTimers")]
impl<S: EventStore, T: es::TimerStore> HoldTimers<S, T> {
    #[on(ItemHeld)]
    async fn held(&self, e: &ItemHeld, at: &Envelope) -> Result<(), Error> {
        let timer = es::Timer::new(
            hold_timer_id(&at.id, &e.sku, e.until_millis),
            e.until_millis,
            EXPIRE_HOLD,
            &ExpireHold {
                cart_id: at.id.clone(),
                sku: e.sku.clone(),
            },
        )?;
        self.timers.schedule(&timer).await?;
        Ok(())
    }

    #[on(CartCheckedOut)]
    async fn checked_out(&self, _: &CartCheckedOut, at: &Envelope) -> Result<(), Error> {
        // The cart as it checked out: its holds are the timers to cancel.
        let cart = Cart::load_at(&self.store, at.id.clone(), at.version)
            .await
            .map_err(|e| {
                es::StoreError::transient("cancel hold timers", format!("loading the cart: {e}"))
            })?;
        for (sku, hold) in &cart.holds {
            self.timers
                .cancel(&hold_timer_id(&at.id, sku, hold.until_millis))
                .await?;
        }
        Ok(())
    }
}

/// Fires the shop's timers: an expiry timer runs [`expire_hold`] at its due
/// time, with the timer's id as the idempotency key.
pub struct ShopTimers<S, H = Products> {
    pub store: S,
    /// Where the products' stock is kept, to give it back.
    pub shelves: H,
}

impl<S: EventStore, H: Shelves> es::FireTimer for ShopTimers<S, H> {
    type Error = ShopError;

    async fn fire(&self, timer: &es::Timer) -> Result<(), ShopError> {
        match timer.kind.as_str() {
            EXPIRE_HOLD => {
                let ExpireHold { cart_id, sku } = timer.payload()?;
                // The time the timer stands for: a late firing decides as
                // at its deadline, and a timer of an older deadline finds
                // the hold extended.
                expire_hold_on(
                    &self.store,
                    &self.shelves,
                    &cart_id,
                    &sku,
                    timer.due_millis,
                    &timer.id,
                )
                .await
                .map(drop)
            }
            other => Err(ShopError::Store(
                es::StoreError::permanent(
                    "fire timer",
                    format!(
                        "timer {:?} is of kind {other:?}, which the shop does not know",
                        timer.id
                    ),
                )
                .into(),
            )),
        }
    }
}
