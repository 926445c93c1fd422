use es::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Event, Serialize, Deserialize, Clone, Debug)]
#[event(version = 2, upcast(with = read_old))]
pub struct Restocked {
    pub amount: u32,
}

/// An upcast function takes the stored payload as JSON and its schema:
/// `fn(serde_json::Value, u32) -> Result<Restocked, impl Display>`.
fn read_old(payload: serde_json::Value) -> Result<Restocked, String> {
    let amount = payload["qty"].as_u64().ok_or("no qty")?;
    Ok(Restocked {
        amount: amount as u32,
    })
}

fn main() {}
