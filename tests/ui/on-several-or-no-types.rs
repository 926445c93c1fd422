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

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct Lost {
    pub amount: u32,
}

#[derive(Aggregate, Clone, Debug, Default)]
pub struct Product {
    pub on_hand: u32,
}

#[es::handlers]
impl Product {
    #[on(Restocked, Sold)]
    fn restocked(&mut self, e: &Restocked) {
        self.on_hand += e.amount;
    }

    #[on()]
    fn lost(&mut self, e: &Lost) {
        self.on_hand -= e.amount;
    }
}

// Both handlers are kept: the only errors are the two above.
fn main() {
    let _: ProductEvent = Restocked { amount: 1 }.into();
    let _: ProductEvent = Lost { amount: 1 }.into();
}
