use es::{Aggregate, Event};
use serde::{Deserialize, Serialize};

// Every misuse of `#[personal]` and `#[subject]` at once: reported together.
#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct TwoSubjects {
    #[subject]
    pub customer: String,
    #[subject]
    pub other: String,
    #[personal(placeholder = "x", replace = "y")]
    pub email: String,
    #[personal]
    #[subject]
    pub both: String,
    #[personal]
    #[serde(flatten)]
    pub flat: std::collections::BTreeMap<String, String>,
    #[subject(strict)]
    pub third: String,
}

// A subject with no personal field to seal.
#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct Lonely {
    #[subject]
    pub customer: String,
}

// Fields without names.
#[derive(Event, Serialize, Deserialize, Clone, Debug)]
pub struct Tuple(#[subject] String, #[personal] String);

// On an aggregate's state, the same rules.
#[derive(Aggregate, Serialize, Deserialize, Clone, Debug, Default)]
pub struct State {
    #[personal]
    pub email: String,
}

fn main() {}
