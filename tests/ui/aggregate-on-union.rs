use es::prelude::*;

#[derive(Aggregate)]
pub union Product {
    pub on_hand: u32,
    pub bits: f32,
}

fn main() {}
