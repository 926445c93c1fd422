use es::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct Restocked {
    pub amount: u32,
}

/// Not a `std::error::Error`.
#[derive(Debug)]
pub enum ProductError {
    EmptyRestock,
}

#[derive(Aggregate, Clone, Debug, Default)]
#[aggregate(error = ProductError)]
pub struct Product {
    pub on_hand: u32,
}

#[es::handlers]
impl Product {
    #[on(Restocked)]
    fn restocked(&mut self, e: &Restocked) -> Result<(), ProductError> {
        if e.amount == 0 {
            return Err(ProductError::EmptyRestock);
        }
        self.on_hand += e.amount;
        Ok(())
    }
}

fn main() {}
