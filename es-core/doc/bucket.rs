// The `Shelf` bucket that es-core's bucket examples share: each includes it
// in hidden lines, `mod doc { include!("../doc/bucket.rs"); }`.

use es::prelude::*;
use serde::{Deserialize, Serialize};
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Filled {
    pub units: u32,
}
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Taken {
    pub buyer: String,
    pub units: u32,
}
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Moved {
    pub units: u32,
    pub out: bool,
}
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("sold out: {available} left, {requested} wanted")]
pub struct Empty {
    pub available: u64,
    pub requested: u32,
}
#[derive(Aggregate, Serialize, Deserialize, Clone, Debug, Default)]
#[aggregate(error = Empty)]
pub struct Shelf {
    pub units: u32,
}
#[es::handlers]
impl Shelf {
    #[on(Filled)]
    fn filled(&mut self, e: &Filled) {
        self.units += e.units;
    }
    #[on(Taken)]
    fn taken(&mut self, e: &Taken) -> Result<(), Empty> {
        self.units = self.units.checked_sub(e.units).ok_or(Empty {
            available: self.units.into(),
            requested: e.units,
        })?;
        Ok(())
    }
    #[on(Moved)]
    fn moved(&mut self, e: &Moved) -> Result<(), Empty> {
        if e.out {
            self.units = self.units.checked_sub(e.units).ok_or(Empty {
                available: self.units.into(),
                requested: e.units,
            })?;
        } else {
            self.units += e.units;
        }
        Ok(())
    }
    pub fn take(&self, buyer: &str, units: u32) -> Result<Taken, Empty> {
        let event = Taken { buyer: buyer.into(), units };
        self.clone().taken(&event).map(|()| event)
    }
}
impl es::buckets::Bucket for Shelf {
    fn available(&self) -> u64 {
        self.units.into()
    }
    fn sold_out(available: u64, requested: u32) -> Empty {
        Empty { available, requested }
    }
    fn restock(&self, units: u32) -> Result<ShelfEvent, Empty> {
        Ok(Filled { units }.into())
    }
    fn give(&self, units: u32, _to: u32) -> Result<ShelfEvent, Empty> {
        let event = Moved { units, out: true };
        self.clone().moved(&event).map(|()| event.into())
    }
    fn receive(&self, units: u32, _from: u32) -> Result<ShelfEvent, Empty> {
        Ok(Moved { units, out: false }.into())
    }
}
