use es::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct Restocked {
    pub amount: u32,
}

#[derive(Debug, thiserror::Error)]
#[error("sold out")]
pub struct SoldOut;

#[derive(Debug, thiserror::Error)]
#[error("empty restock")]
pub struct EmptyRestock;

#[derive(Aggregate, Clone, Debug, Default)]
#[aggregate(error = SoldOut)]
pub struct Product {
    pub on_hand: u32,
}

#[es::handlers]
impl Product {
    #[on(Restocked)]
    fn restocked(&mut self, e: &Restocked) -> Result<(), EmptyRestock> {
        if e.amount == 0 {
            return Err(EmptyRestock);
        }
        self.on_hand += e.amount;
        Ok(())
    }
}

fn main() {}
