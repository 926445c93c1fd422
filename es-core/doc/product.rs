// The `Product` that es-core's doc examples share: each includes it in hidden
// lines, `mod doc { include!("../doc/product.rs"); }`. It is written with the
// facade's macros, as a user writes an aggregate.

use es::prelude::*;
use serde::{Deserialize, Serialize};
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Restocked {
    pub amount: u32,
}
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Reserved {
    pub cart_id: String,
    pub quantity: u32,
}
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("sold out: {available} on hand, {requested} requested")]
pub struct SoldOut {
    pub available: u32,
    pub requested: u32,
}
#[derive(Aggregate, Serialize, Deserialize, Clone, Debug, Default)]
#[aggregate(error = SoldOut)]
pub struct Product {
    pub on_hand: u32,
}
#[es::handlers]
impl Product {
    #[on(Restocked)]
    fn restocked(&mut self, e: &Restocked) {
        self.on_hand += e.amount;
    }
    #[on(Reserved)]
    fn reserved(&mut self, e: &Reserved) -> Result<(), SoldOut> {
        if e.quantity > self.on_hand {
            return Err(SoldOut {
                available: self.on_hand,
                requested: e.quantity,
            });
        }
        self.on_hand -= e.quantity;
        Ok(())
    }
    pub fn reserve(&self, cart_id: &str, quantity: u32) -> Result<Reserved, SoldOut> {
        let event = Reserved {
            cart_id: cart_id.into(),
            quantity,
        };
        self.clone().reserved(&event).map(|()| event)
    }
}
