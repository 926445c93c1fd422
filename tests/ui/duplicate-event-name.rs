use es::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct Restocked {
    pub amount: u32,
}

/// Someone copied `Restocked` and forgot to rename the stored name.
#[derive(Event, Serialize, Deserialize, Clone, Debug)]
#[event(name = "Restocked", version = 2)]
pub struct RestockedV2 {
    pub amount: u32,
    pub batch: String,
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

    #[on(RestockedV2)]
    fn restocked_v2(&mut self, e: &RestockedV2) {
        self.on_hand += e.amount;
    }
}

fn main() {}
