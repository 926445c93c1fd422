//! Which handler an event reaches: by its aggregate and its name together,
//! so that two aggregates with events of one name are never confused; and
//! what happens to events no handler wants.

use std::sync::Mutex;

use es::prelude::*;
use es::store::StoredEvent;
use es::{Projected, RawEvent};
use serde::{Deserialize, Serialize};

/// A shelf and a crate both have an event stored as "Moved", of different
/// types; both also take the same `Labelled` type.
mod shelf {
    use super::*;

    #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    #[event(name = "Moved")]
    pub struct Moved {
        pub aisle: u32,
    }

    #[derive(Aggregate, Clone, Debug, Default)]
    pub struct Shelf {
        pub aisle: u32,
    }

    #[es::handlers]
    impl Shelf {
        #[on(Moved)]
        fn moved(&mut self, e: &Moved) {
            self.aisle = e.aisle;
        }
        #[on(super::Labelled)]
        fn labelled(&mut self, _: &super::Labelled) {}
    }
}

mod crates {
    use super::*;

    #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    #[event(name = "Moved")]
    pub struct Moved {
        pub truck: String,
    }

    #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Sealed;

    #[derive(Aggregate, Clone, Debug, Default)]
    pub struct Crate {
        pub truck: String,
    }

    #[es::handlers]
    impl Crate {
        #[on(Moved)]
        fn moved(&mut self, e: &Moved) {
            self.truck = e.truck.clone();
        }
        #[on(Sealed)]
        fn sealed(&mut self, _: &Sealed) {}
        #[on(super::Labelled)]
        fn labelled(&mut self, _: &super::Labelled) {}
    }
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Labelled {
    pub text: String,
}

#[derive(Aggregate, Clone, Debug, Default)]
pub struct Pallet;

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[event(name = "Moved")]
pub struct PalletMoved;

#[es::handlers]
impl Pallet {
    #[on(PalletMoved)]
    fn moved(&mut self, _: &PalletMoved) {}
}

/// What reached which handler.
#[derive(Default)]
struct Log(Mutex<Vec<String>>);

impl Log {
    fn push(&self, line: String) {
        self.0.lock().expect("lock").push(line);
    }
}

#[es::projection(name = "warehouse")]
impl Log {
    #[on(shelf::Moved)]
    async fn shelf_moved(&self, e: &shelf::Moved, at: &Envelope) {
        self.push(format!(
            "shelf {} to aisle {} (v{})",
            at.id, e.aisle, at.version
        ));
    }

    #[on(crates::Moved)]
    async fn crate_moved(&self, e: &crates::Moved, at: &Envelope) {
        self.push(format!(
            "crate {} onto {} (v{})",
            at.id, e.truck, at.version
        ));
    }

    // One type, two aggregates: each handler names its aggregate.
    #[on(Labelled, aggregate = shelf::Shelf)]
    async fn shelf_labelled(&self, e: &Labelled) {
        self.push(format!("shelf labelled {}", e.text));
    }

    #[on(Labelled, aggregate = crates::Crate)]
    async fn crate_labelled(&self, e: &Labelled, at: &Envelope) {
        self.push(format!("crate {} labelled {}", at.id, e.text));
    }
}

fn raw(
    aggregate: &str,
    id: &str,
    version: u64,
    name: &str,
    payload: Option<serde_json::Value>,
) -> RawEvent<serde_json::Value> {
    RawEvent::new(
        aggregate,
        id,
        StoredEvent {
            version,
            name: name.to_owned(),
            schema: 1,
            timestamp: "2026-12-02T00:00:00.000Z".to_owned(),
            payload,
            metadata: None,
            snapshot: None,
        },
    )
}

#[tokio::test]
async fn events_of_two_aggregates_with_one_name_are_not_confused() {
    let store = MemoryStore::new();
    shelf::Shelf::load(&store, "s1")
        .await
        .unwrap()
        .commit(shelf::Moved { aisle: 4 })
        .await
        .unwrap();
    crates::Crate::load(&store, "c1")
        .await
        .unwrap()
        .commit_all([crates::Moved { truck: "T9".into() }])
        .await
        .unwrap();
    let mut crate_root = crates::Crate::load(&store, "c1").await.unwrap();
    crate_root
        .commit(Labelled {
            text: "fragile".into(),
        })
        .await
        .unwrap();
    crate_root.commit(crates::Sealed).await.unwrap();
    Pallet::load(&store, "p1")
        .await
        .unwrap()
        .commit(PalletMoved)
        .await
        .unwrap();
    shelf::Shelf::load(&store, "s1")
        .await
        .unwrap()
        .commit(Labelled { text: "A".into() })
        .await
        .unwrap();

    assert_eq!(Log::aggregates(), ["Shelf", "Crate"]);
    let log = Log::default();
    let mut outcomes = Vec::new();
    for change in store.changes(0, 100) {
        outcomes.push(log.project(&store, change.event).await.expect("project"));
    }
    assert_eq!(
        *log.0.lock().unwrap(),
        [
            "shelf s1 to aisle 4 (v1)",
            "crate c1 onto T9 (v1)",
            "crate c1 labelled fragile",
            "shelf labelled A",
        ]
    );
    assert_eq!(
        outcomes,
        [
            Projected::Applied,
            Projected::Applied,
            Projected::Applied,
            // The crate's seal: a listened aggregate's event no handler wants.
            Projected::Ignored,
            // The pallet's "Moved": an aggregate the projection does not hear.
            Projected::NotListened,
            Projected::Applied,
        ]
    );
}

#[tokio::test]
async fn an_event_of_a_listened_aggregate_that_does_not_decode_is_an_error() {
    let store = MemoryStore::new();
    let log = Log::default();
    let bad = raw(
        "Shelf",
        "s1",
        3,
        "Moved",
        Some(serde_json::json!({ "aisle": "four" })),
    );
    let err = log
        .project(&store, bad)
        .await
        .expect_err("a string is no aisle");
    assert!(
        err.to_string().starts_with("warehouse: Shelf \"s1\" at version 3 is corrupt: payload of Moved: field `aisle`: invalid type: string \"four\", expected u32"),
        "{err}"
    );
    // An event the shelf does not know: not skipped, an error naming it.
    let unknown = raw("Shelf", "s1", 4, "Painted", None);
    let err = log.project(&store, unknown).await.expect_err("unknown");
    assert_eq!(
        err.to_string(),
        "warehouse: Shelf \"s1\" version 4 holds event \"Painted\", which Shelf does not handle"
    );
    // An ignored event is checked as well.
    let sealed = raw("Crate", "c1", 5, "Sealed", None);
    assert_eq!(
        log.project(&store, sealed).await.expect("a unit event"),
        Projected::Ignored
    );
    let wrong = raw(
        "Crate",
        "c1",
        5,
        "Moved",
        Some(serde_json::json!({ "truck": 7 })),
    );
    assert!(log.project(&store, wrong).await.is_err());
    // Events of aggregates it does not listen to are not even decoded.
    let other = raw(
        "Invoice",
        "i1",
        1,
        "Moved",
        Some(serde_json::json!("not a map")),
    );
    assert_eq!(
        log.project(&store, other).await.expect("skipped"),
        Projected::NotListened
    );
    assert!(log.0.lock().unwrap().is_empty());
}
