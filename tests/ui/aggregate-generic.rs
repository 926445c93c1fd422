use es::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct Restocked {
    pub amount: u32,
}

#[derive(Aggregate, Clone, Debug, Default)]
pub struct Product<T> {
    pub on_hand: T,
}

#[es::handlers]
impl<T> Product<T> {
    #[on(Restocked)]
    fn restocked(&mut self, e: &Restocked) {
        let _ = e;
    }
}

fn main() {}
