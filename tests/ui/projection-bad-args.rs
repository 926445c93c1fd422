use es::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct Restocked {
    pub amount: u32,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct Reserved {
    pub quantity: u32,
}

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

    #[on(Reserved)]
    fn reserved(&mut self, e: &Reserved) {
        self.on_hand -= e.quantity;
    }
}

pub struct Counter;

#[es::projection(name = "stock#view", error, colour = "red")]
impl Counter {
    #[on(Restocked)]
    async fn restocked(&self, e: &Restocked) {
        let _ = e;
    }
}

fn main() {}
