//! The aggregates the conformance suite and the doc examples use.
//!
//! They are written by hand, without the macros, so that es-core can test
//! itself; they also show exactly what `#[derive(Aggregate)]` and
//! `#[es::handlers]` generate.

use serde::{Deserialize, Serialize};

use crate::aggregate::Aggregate;
use crate::event::{Event, EventSet, HandledBy, IntoEvents};

/// Stock arrived.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Restocked {
    /// Units added.
    pub amount: u32,
}

/// A cart reserved units.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reserved {
    /// The cart.
    pub cart_id: String,
    /// Units taken.
    pub quantity: u32,
}

/// A free-form note, used to make events of a chosen size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Noted {
    /// Any text.
    pub text: String,
}

/// An event with no fields, stored without a payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Discontinued;

impl Event for Restocked {
    const NAME: &'static str = "Restocked";
}
impl Event for Reserved {
    const NAME: &'static str = "Reserved";
}
impl Event for Noted {
    const NAME: &'static str = "Noted";
}
impl Event for Discontinued {
    const NAME: &'static str = "Discontinued";
}

/// The product's domain errors.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProductError {
    /// Fewer units on hand than asked for.
    #[error("sold out: {available} on hand, {requested} requested")]
    SoldOut {
        /// Units on hand.
        available: u32,
        /// Units asked for.
        requested: u32,
    },
    /// A restock of zero units.
    #[error("a restock must add at least one unit")]
    EmptyRestock,
    /// The product was discontinued.
    #[error("the product is discontinued")]
    Discontinued,
}

/// A product with stock.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Product {
    /// Units on hand.
    pub on_hand: u32,
    /// Notes seen.
    pub notes: u64,
    /// Whether it is discontinued.
    pub discontinued: bool,
}

impl Product {
    /// The decision of a reserve command.
    pub fn reserve(&self, cart_id: &str, quantity: u32) -> Result<Reserved, ProductError> {
        if self.on_hand < quantity {
            return Err(ProductError::SoldOut {
                available: self.on_hand,
                requested: quantity,
            });
        }
        Ok(Reserved {
            cart_id: cart_id.to_owned(),
            quantity,
        })
    }
}

/// Every event of [`Product`].
#[derive(Clone, Debug)]
pub enum ProductEvent {
    /// See [`Restocked`].
    Restocked(Restocked),
    /// See [`Reserved`].
    Reserved(Reserved),
    /// See [`Noted`].
    Noted(Noted),
    /// See [`Discontinued`].
    Discontinued(Discontinued),
}

macro_rules! product_event {
    ($($variant:ident),*) => {
        $(
            impl From<$variant> for ProductEvent {
                fn from(e: $variant) -> Self { ProductEvent::$variant(e) }
            }
            impl HandledBy<Product> for $variant {
                fn into_event(self) -> ProductEvent { ProductEvent::$variant(self) }
            }
            impl IntoEvents<Product> for $variant {
                fn into_events(self) -> Vec<ProductEvent> { vec![ProductEvent::$variant(self)] }
            }
        )*
        impl HandledBy<Product> for ProductEvent {
            fn into_event(self) -> ProductEvent { self }
        }
        impl IntoEvents<Product> for ProductEvent {
            fn into_events(self) -> Vec<ProductEvent> { vec![self] }
        }
        impl EventSet for ProductEvent {
            const NAMES: &'static [&'static str] = &[$(<$variant as Event>::NAME),*];
            fn name(&self) -> &'static str {
                match self { $(ProductEvent::$variant(_) => <$variant as Event>::NAME),* }
            }
            fn schema(&self) -> u32 {
                match self { $(ProductEvent::$variant(_) => <$variant as Event>::VERSION),* }
            }
            fn serialize_payload<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self { $(ProductEvent::$variant(e) => Serialize::serialize(e, s)),* }
            }
            fn deserialize_payload<'de, D: serde::Deserializer<'de>>(name: &str, d: D) -> Result<Option<Self>, D::Error> {
                $(
                    if name == <$variant as Event>::NAME {
                        return <$variant as Deserialize>::deserialize(d).map(|e| Some(ProductEvent::$variant(e)));
                    }
                )*
                Ok(None)
            }
        }
    };
}
product_event!(Restocked, Reserved, Noted, Discontinued);

impl Aggregate for Product {
    const NAME: &'static str = "Product";
    type Event = ProductEvent;
    type Error = ProductError;

    fn apply(&mut self, event: &ProductEvent) -> Result<(), ProductError> {
        if self.discontinued {
            return Err(ProductError::Discontinued);
        }
        match event {
            ProductEvent::Restocked(e) => {
                if e.amount == 0 {
                    return Err(ProductError::EmptyRestock);
                }
                self.on_hand += e.amount;
            }
            ProductEvent::Reserved(e) => {
                self.on_hand = self
                    .reserve(&e.cart_id, e.quantity)
                    .map(|_| self.on_hand - e.quantity)?;
            }
            ProductEvent::Noted(_) => self.notes += 1,
            ProductEvent::Discontinued(_) => self.discontinued = true,
        }
        Ok(())
    }
}

/// A running total that snapshots every 4 versions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counter {
    /// The sum of everything added.
    pub total: u64,
    /// How many events were applied (a snapshot must restore it too).
    pub applied: u64,
}

/// Adds to a [`Counter`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Added {
    /// How much.
    pub n: u64,
}

impl Event for Added {
    const NAME: &'static str = "Added";
}

/// Every event of [`Counter`].
#[derive(Clone, Debug)]
pub enum CounterEvent {
    /// See [`Added`].
    Added(Added),
}

impl From<Added> for CounterEvent {
    fn from(e: Added) -> Self {
        CounterEvent::Added(e)
    }
}

impl HandledBy<Counter> for Added {
    fn into_event(self) -> CounterEvent {
        CounterEvent::Added(self)
    }
}

impl HandledBy<Counter> for CounterEvent {
    fn into_event(self) -> CounterEvent {
        self
    }
}

impl IntoEvents<Counter> for Added {
    fn into_events(self) -> Vec<CounterEvent> {
        vec![CounterEvent::Added(self)]
    }
}

impl IntoEvents<Counter> for CounterEvent {
    fn into_events(self) -> Vec<CounterEvent> {
        vec![self]
    }
}

impl EventSet for CounterEvent {
    const NAMES: &'static [&'static str] = &["Added"];
    fn name(&self) -> &'static str {
        Added::NAME
    }
    fn schema(&self) -> u32 {
        Added::VERSION
    }
    fn serialize_payload<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let CounterEvent::Added(e) = self;
        e.serialize(s)
    }
    fn deserialize_payload<'de, D: serde::Deserializer<'de>>(
        name: &str,
        d: D,
    ) -> Result<Option<Self>, D::Error> {
        if name == Added::NAME {
            return Added::deserialize(d).map(|e| Some(CounterEvent::Added(e)));
        }
        Ok(None)
    }
}

impl Aggregate for Counter {
    const NAME: &'static str = "Counter";
    const SNAPSHOT_EVERY: u64 = 4;
    type Event = CounterEvent;
    type Error = std::convert::Infallible;

    fn apply(&mut self, event: &CounterEvent) -> Result<(), Self::Error> {
        let CounterEvent::Added(e) = event;
        self.total += e.n;
        self.applied += 1;
        Ok(())
    }

    fn serialize_state<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.serialize(s)
    }

    fn deserialize_state<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::deserialize(d)
    }
}

/// A journal of lines, with a snapshot every 4 versions: its events can be
/// large, and so can its state, which keeps the lines written with `keep`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Journal {
    /// The lines kept.
    pub lines: Vec<String>,
    /// How many lines were written, kept or not.
    pub written: u64,
}

/// A line written to a [`Journal`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Wrote {
    /// The line.
    pub text: String,
    /// Whether the journal's state keeps it.
    pub keep: bool,
}

impl Event for Wrote {
    const NAME: &'static str = "Wrote";
}

/// Every event of [`Journal`].
#[derive(Clone, Debug)]
pub enum JournalEvent {
    /// See [`Wrote`].
    Wrote(Wrote),
}

impl From<Wrote> for JournalEvent {
    fn from(e: Wrote) -> Self {
        JournalEvent::Wrote(e)
    }
}

impl HandledBy<Journal> for Wrote {
    fn into_event(self) -> JournalEvent {
        JournalEvent::Wrote(self)
    }
}

impl HandledBy<Journal> for JournalEvent {
    fn into_event(self) -> JournalEvent {
        self
    }
}

impl IntoEvents<Journal> for Wrote {
    fn into_events(self) -> Vec<JournalEvent> {
        vec![JournalEvent::Wrote(self)]
    }
}

impl IntoEvents<Journal> for JournalEvent {
    fn into_events(self) -> Vec<JournalEvent> {
        vec![self]
    }
}

impl EventSet for JournalEvent {
    const NAMES: &'static [&'static str] = &["Wrote"];
    fn name(&self) -> &'static str {
        Wrote::NAME
    }
    fn schema(&self) -> u32 {
        Wrote::VERSION
    }
    fn serialize_payload<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let JournalEvent::Wrote(e) = self;
        e.serialize(s)
    }
    fn deserialize_payload<'de, D: serde::Deserializer<'de>>(
        name: &str,
        d: D,
    ) -> Result<Option<Self>, D::Error> {
        if name == Wrote::NAME {
            return Wrote::deserialize(d).map(|e| Some(JournalEvent::Wrote(e)));
        }
        Ok(None)
    }
}

impl Aggregate for Journal {
    const NAME: &'static str = "Journal";
    const SNAPSHOT_EVERY: u64 = 4;
    type Event = JournalEvent;
    type Error = std::convert::Infallible;

    fn apply(&mut self, event: &JournalEvent) -> Result<(), Self::Error> {
        let JournalEvent::Wrote(e) = event;
        if e.keep {
            self.lines.push(e.text.clone());
        }
        self.written += 1;
        Ok(())
    }

    fn serialize_state<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.serialize(s)
    }

    fn deserialize_state<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::deserialize(d)
    }
}
