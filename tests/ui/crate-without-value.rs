use es::prelude::*;
use serde::{Deserialize, Serialize};

// `crate` needs a path after it: `crate =` and a bare `crate` both lack one.
#[derive(Event, Serialize, Deserialize, Clone, Debug)]
#[event(crate =)]
pub struct Restocked {
    pub amount: u32,
}

#[derive(Aggregate, Clone, Debug, Default)]
#[aggregate(crate)]
pub struct Product {
    pub on_hand: u32,
}

#[es::handlers(crate =, vis = pub)]
impl Product {
    #[on(Restocked)]
    fn restocked(&mut self, e: &Restocked) {
        self.on_hand += e.amount;
    }
}

fn main() {}
