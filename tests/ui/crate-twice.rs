use es::prelude::*;
use serde::{Deserialize, Serialize};

// `crate` given twice in one attribute.
#[derive(Event, Serialize, Deserialize, Clone, Debug)]
#[event(crate = ::es, crate = ::es)]
pub struct Restocked {
    pub amount: u32,
}

#[derive(Aggregate, Clone, Debug, Default)]
#[aggregate(crate = ::es, name = "Product", crate = ::es)]
pub struct Product {
    pub on_hand: u32,
}

#[es::handlers(crate = ::es, crate = ::es)]
impl Product {
    #[on(Restocked)]
    fn restocked(&mut self, e: &Restocked) {
        self.on_hand += e.amount;
    }
}

fn main() {}
