use es::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct Restocked {
    pub amount: u32,
}

#[derive(Aggregate, Clone, Debug, Default)]
pub struct Product {
    pub on_hand: u32,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct Reserved;

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct Released;

#[es::handlers]
impl Product {
    #[on(Restocked)]
    fn restocked(&self, e: &Restocked) {
        let _ = e;
    }

    #[on(Reserved)]
    fn reserved(self, _: &Reserved) {}

    #[on(Released)]
    fn released(e: &Released) {
        let _ = e;
    }
}

fn main() {}
