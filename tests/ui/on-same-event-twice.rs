use es::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct Restocked {
    pub amount: u32,
}

pub type Refilled = Restocked;

#[derive(Aggregate, Clone, Debug, Default)]
pub struct Product {
    pub on_hand: u32,
}

#[es::handlers]
impl Product {
    #[on(Restocked)]
    fn restocked(&mut self, e: &Restocked) {
        self.on_hand += e.amount;
    }

    // The same type by another path.
    #[on(crate::Restocked)]
    fn restocked_again(&mut self, e: &Restocked) {
        self.on_hand += e.amount;
    }

    // The same type through an alias.
    #[on(Refilled)]
    fn refilled(&mut self, e: &Refilled) {
        self.on_hand += e.amount;
    }
}

fn main() {}
