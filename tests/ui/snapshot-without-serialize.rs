use es::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct Restocked {
    pub amount: u32,
}

/// Snapshots are on, but the state has no serde impls.
#[derive(Aggregate, Clone, Debug, Default)]
#[aggregate(snapshot_every = 100)]
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

fn main() {}
