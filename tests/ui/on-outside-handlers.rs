use es::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct Restocked {
    pub amount: u32,
}

pub struct Product {
    pub on_hand: u32,
}

// No `#[es::handlers]` on the block.
impl Product {
    #[on(Restocked)]
    fn restocked(&mut self, e: &Restocked) {
        self.on_hand += e.amount;
    }
}

fn main() {
    let mut p = Product { on_hand: 0 };
    p.restocked(&Restocked { amount: 1 });
}
