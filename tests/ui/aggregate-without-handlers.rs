use es::prelude::*;

#[derive(Aggregate, Clone, Debug, Default)]
pub struct Product {
    pub on_hand: u32,
}

fn main() {}
