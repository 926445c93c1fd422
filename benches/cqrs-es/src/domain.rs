//! One small domain, written once for each framework: a product whose stock
//! is restocked and reserved. Both versions keep the same state, including
//! `applied`, the number of events folded into it, so that a load can be
//! checked against the number of events stored.

use cqrs_es::event_sink::EventSink;
use cqrs_es::DomainEvent;
use es::prelude::*;
use serde::{Deserialize, Serialize};

/// The domain error, shared by both frameworks.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProductError {
    /// A reservation asked for more than is on hand.
    #[error("sold out")]
    SoldOut,
}

// ---- es ---------------------------------------------------------------------

/// Stock was added. `note` is empty except in the long-history section, where
/// it pads each event to about 1 KB.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Restocked {
    pub amount: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// Stock was set aside for a cart.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Reserved {
    pub cart_id: String,
    pub quantity: u32,
}

/// The es aggregate.
#[derive(Aggregate, Serialize, Deserialize, Clone, Debug, Default)]
#[aggregate(name = "Product", error = ProductError)]
pub struct Product {
    pub on_hand: u64,
    pub applied: u64,
}

#[es::handlers]
impl Product {
    #[on(Restocked)]
    fn restocked(&mut self, e: &Restocked) {
        self.on_hand += u64::from(e.amount);
        self.applied += 1;
    }

    #[on(Reserved)]
    fn reserved(&mut self, e: &Reserved) -> Result<(), ProductError> {
        self.on_hand = self
            .on_hand
            .checked_sub(u64::from(e.quantity))
            .ok_or(ProductError::SoldOut)?;
        self.applied += 1;
        Ok(())
    }
}

impl Product {
    /// The command's decision: reserve `quantity` if it is on hand.
    pub fn reserve(&self, quantity: u32) -> Result<Reserved, ProductError> {
        if self.on_hand < u64::from(quantity) {
            return Err(ProductError::SoldOut);
        }
        Ok(Reserved {
            cart_id: "cart".to_owned(),
            quantity,
        })
    }
}

/// The same product, snapshotting every 5 versions, for the snapshot section.
#[derive(Aggregate, Serialize, Deserialize, Clone, Debug, Default)]
#[aggregate(name = "SnappedProduct", error = ProductError, snapshot_every = 5)]
pub struct SnappedProduct {
    pub on_hand: u64,
    pub applied: u64,
}

#[es::handlers]
impl SnappedProduct {
    #[on(Restocked)]
    fn restocked(&mut self, e: &Restocked) {
        self.on_hand += u64::from(e.amount);
        self.applied += 1;
    }
}

// ---- cqrs-es ----------------------------------------------------------------

/// cqrs-es's events are one enum; its serde is the externally tagged JSON
/// dynamo-es stores in a binary `Payload` attribute.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub enum CqrsEvent {
    Restocked { amount: u32, note: String },
    Reserved { cart_id: String, quantity: u32 },
}

impl DomainEvent for CqrsEvent {
    fn event_type(&self) -> String {
        match self {
            CqrsEvent::Restocked { .. } => "Restocked",
            CqrsEvent::Reserved { .. } => "Reserved",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

/// cqrs-es's commands are values its `handle` matches on.
#[derive(Clone, Debug)]
pub enum CqrsCommand {
    /// Emit `times` Restocked events of `amount` each, in one commit.
    Restock {
        amount: u32,
        times: usize,
        note: String,
    },
    /// Emit one Reserved event, if `quantity` is on hand.
    Reserve { quantity: u32 },
}

/// The cqrs-es aggregate, with the same state as [`Product`].
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct CqrsProduct {
    pub on_hand: u64,
    pub applied: u64,
}

impl cqrs_es::Aggregate for CqrsProduct {
    // The same name as es's, so both frameworks' keys read alike.
    const TYPE: &'static str = "Product";
    type Command = CqrsCommand;
    type Event = CqrsEvent;
    type Error = ProductError;
    type Services = ();

    async fn handle(
        &mut self,
        command: CqrsCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), ProductError> {
        // `EventSink::write` takes the aggregate and applies the event to it,
        // as cqrs-es's own documentation writes it: `sink.write(event, self)`.
        match command {
            CqrsCommand::Restock {
                amount,
                times,
                note,
            } => {
                for _ in 0..times {
                    let note = note.clone();
                    sink.write(CqrsEvent::Restocked { amount, note }, self)
                        .await;
                }
            }
            CqrsCommand::Reserve { quantity } => {
                if self.on_hand < u64::from(quantity) {
                    return Err(ProductError::SoldOut);
                }
                let cart_id = "cart".to_owned();
                sink.write(CqrsEvent::Reserved { cart_id, quantity }, self)
                    .await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: CqrsEvent) {
        match event {
            CqrsEvent::Restocked { amount, .. } => self.on_hand += u64::from(amount),
            // cqrs-es's `apply` cannot fail: a stored reservation beyond the
            // stock saturates rather than aborting the load.
            CqrsEvent::Reserved { quantity, .. } => {
                self.on_hand = self.on_hand.saturating_sub(u64::from(quantity));
            }
        }
        self.applied += 1;
    }
}
