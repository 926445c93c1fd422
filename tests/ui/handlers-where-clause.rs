use es::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct Restocked {
    pub amount: u32,
}

#[derive(Aggregate, Clone, Debug, Default)]
pub struct Product
where
    String: Clone,
{
    pub on_hand: u32,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct Sold
where
    String: Clone,
{
    pub amount: u32,
}

#[es::handlers]
impl Product
where
    String: Clone,
{
    #[on(Restocked)]
    fn restocked(&mut self, e: &Restocked) {
        self.on_hand += e.amount;
    }
}

fn main() {}
