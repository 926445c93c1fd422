use es::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct Restocked {
    pub amount: u32,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct Sold {
    pub amount: u32,
}

#[derive(Debug, thiserror::Error)]
#[error("empty restock")]
pub struct EmptyRestock;

#[derive(Debug, thiserror::Error)]
#[error("sold out")]
pub struct SoldOut;

// No `error = ..`: the aggregate's error is `Infallible`.
#[derive(Aggregate, Clone, Debug, Default)]
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

    // Another error type again: each handler is reported on its own.
    #[on(Sold)]
    fn sold(&mut self, e: &Sold) -> Result<(), SoldOut> {
        self.on_hand = self.on_hand.checked_sub(e.amount).ok_or(SoldOut)?;
        Ok(())
    }
}

fn main() {}
