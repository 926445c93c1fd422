use es::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct Restocked {
    pub amount: u32,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct Counted;

#[derive(Aggregate, Clone, Debug, Default)]
pub struct Product {
    pub on_hand: u32,
}

#[es::handlers]
impl Product {
    #[on(Restocked)]
    fn restocked(&mut self, e: &Restocked) -> u32 {
        self.on_hand += e.amount;
        self.on_hand
    }

    #[on(Counted)]
    fn counted(&mut self, _: &Counted) -> Result<u32, std::convert::Infallible> {
        Ok(self.on_hand)
    }
}

fn main() {}
