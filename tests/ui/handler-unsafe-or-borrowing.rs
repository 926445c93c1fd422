use es::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct Restocked {
    pub amount: u32,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct Named<'a> {
    pub name: &'a str,
}

#[derive(Aggregate, Clone, Debug, Default)]
pub struct Product {
    pub on_hand: u32,
}

#[es::handlers]
impl Product {
    #[on(Restocked)]
    unsafe fn restocked(&mut self, e: &Restocked) {
        self.on_hand += e.amount;
    }

    #[on(Named<'static>)]
    fn named(&mut self, _: &Named<'static>) {}
}

fn main() {}
