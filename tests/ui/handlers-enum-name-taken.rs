use es::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct Restocked {
    pub amount: u32,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct Added {
    pub n: u32,
}

// The name `#[es::handlers]` gives the enum of `Product`.
pub struct ProductEvent;

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
}

pub struct Counting;

#[derive(Aggregate, Clone, Debug, Default)]
pub struct Counter {
    pub total: u32,
}

#[es::handlers(event = Counting)]
impl Counter {
    #[on(Added)]
    fn added(&mut self, e: &Added) {
        self.total += e.n;
    }
}

fn main() {}
