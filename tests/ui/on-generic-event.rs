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

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Changed<T>(T);

impl Event for Changed<u32> {
    const NAME: &'static str = "Changed";
}

#[es::handlers]
impl Product {
    #[on(Changed<u32>)]
    fn changed(&mut self, _: &Changed<u32>) {}
}

fn main() {}
