use es::prelude::*;
use serde::{Deserialize, Serialize};

// A path that does not resolve: one error per attribute, at the path.
#[derive(Event, Serialize, Deserialize, Clone, Debug)]
#[event(crate = nope::es)]
pub struct Restocked {
    pub amount: u32,
}

#[derive(Aggregate, Clone, Debug, Default)]
#[aggregate(crate = nope::es)]
pub struct Product {
    pub on_hand: u32,
}

#[es::handlers(crate = nope::es)]
impl Product {
    #[on(Restocked)]
    fn restocked(&mut self, e: &Restocked) {
        self.on_hand += e.amount;
    }
}

fn main() {}
