use es::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct Restocked {
    pub amount: u32,
}

#[derive(Debug, thiserror::Error)]
#[error("sold out")]
pub struct SoldOut;

#[derive(Aggregate, Clone, Debug, Default)]
#[aggregate(name = "Product", errors = SoldOut, snapshot = 10)]
pub struct Product {
    pub on_hand: u32,
}

#[es::handlers]
impl Product {
    #[on(Restocked)]
    fn restocked(&mut self, e: &Restocked) {
        self.on_hand += e.amount;
    }
}

fn main() {}
