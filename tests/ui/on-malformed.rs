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

#[es::handlers]
impl Product {
    #[on]
    fn a(&mut self, _: &Restocked) {}

    #[on()]
    fn b(&mut self, _: &Restocked) {}

    #[on(&Restocked)]
    fn c(&mut self, _: &Restocked) {}

    #[on = Restocked]
    fn d(&mut self, _: &Restocked) {}

    #[on(Restocked)]
    #[on(Restocked)]
    fn e(&mut self, _: &Restocked) {}
}

fn main() {}
