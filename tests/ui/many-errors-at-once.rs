// Several mistakes in one aggregate: every one is reported in one compile,
// and none of them causes a second error elsewhere.
use es::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
#[event(version = 0, label = "x")]
pub struct Restocked {
    pub amount: u32,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct Reserved {
    pub quantity: u32,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct Released {
    pub quantity: u32,
}

#[derive(Debug, thiserror::Error)]
#[error("sold out")]
pub struct SoldOut;

#[derive(Aggregate, Clone, Debug, Default)]
#[aggregate(name = "", error = SoldOut, error = SoldOut, snapshot_every = "often")]
pub struct Product {
    pub on_hand: u32,
}

#[es::handlers(visibility = pub)]
impl Product {
    #[on(Restocked)]
    fn restocked(&self, e: &Restocked) {
        let _ = e;
    }

    #[on(Reserved)]
    fn reserved(&mut self, e: Reserved) -> Result<(), SoldOut> {
        self.on_hand -= e.quantity;
        Ok(())
    }

    #[on(Released, Reserved)]
    fn released(&mut self, e: &Released) {
        self.on_hand += e.quantity;
    }

    #[on(Reserved)]
    const LIMIT: u32 = 10;
}

fn main() {
    // The aggregate is still usable: no cascade of errors here.
    let _ = Product::given([Reserved { quantity: 1 }]);
}
