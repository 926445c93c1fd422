use es::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct Restocked {
    pub amount: u32,
}

// An event, but `Product` has no `#[on(Discontinued)]` handler.
#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct Discontinued;

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

async fn discontinue(store: &MemoryStore) {
    let _ = Product::execute(store, "p-1", |_| Ok(Discontinued)).await;
}

fn main() {}
