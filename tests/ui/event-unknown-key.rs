use es::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
#[event(rename = "ProductRestocked", version = 2)]
pub struct Restocked {
    pub amount: u32,
}

fn main() {
    // The type is still an event: no second error here.
    assert_eq!(<Restocked as Event>::NAME, "Restocked");
}
