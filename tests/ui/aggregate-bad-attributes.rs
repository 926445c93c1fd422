use es::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct Restocked {
    pub amount: u32,
}

#[derive(Aggregate, Clone, Debug, Default)]
#[aggregate(name = Product, snapshot_schema = 2, error = )]
pub struct Product {
    pub on_hand: u32,
}

#[derive(Aggregate, Clone, Debug, Default)]
#[aggregate(snapshot_every = 10, snapshot_schema = 0)]
pub struct Cart {
    pub items: u32,
}

#[derive(Aggregate, Clone, Debug, Default)]
#[aggregate = "Order"]
pub struct Order;

#[es::handlers]
impl Product {
    #[on(Restocked)]
    fn restocked(&mut self, e: &Restocked) {
        self.on_hand += e.amount;
    }
}

#[es::handlers]
impl Cart {
    #[on(Restocked)]
    fn restocked(&mut self, e: &Restocked) {
        self.items += e.amount;
    }
}

#[es::handlers]
impl Order {
    #[on(Restocked)]
    fn restocked(&mut self, _: &Restocked) {}
}

fn main() {}

#[derive(Aggregate, Clone, Debug, Default)]
#[aggregate(snapshot_every = 0, snapshot_schema = 3)]
pub struct Invoice;

#[es::handlers]
impl Invoice {
    #[on(Restocked)]
    fn restocked(&mut self, _: &Restocked) {}
}
