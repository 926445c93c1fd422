use es::Event;
use serde::{Deserialize, Serialize};

// Personal fields, but nothing says whose: no key could seal them.
#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct CheckedOut {
    #[personal]
    pub email: String,
    #[personal(placeholder = "[erased]")]
    pub address: String,
}

fn main() {}
