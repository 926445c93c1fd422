//! Errors name what they are about, each in its own variant: an event that
//! cannot be encoded is `Encode` (nothing stored is wrong), a bad aggregate
//! name is `InvalidName`, a bad idempotency key is `InvalidKey`, and a
//! stored item that cannot be decoded is `Corrupt` with its aggregate and
//! id apart. On the in-memory store; `es-dynamo`'s tests check DynamoDB's.

use std::collections::BTreeMap;

use es::prelude::*;
use serde::{Deserialize, Serialize};

/// A map keyed by pairs: serde serializes it, but no JSON object (and no
/// DynamoDB map) can hold keys that are not strings.
#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Tallied {
    pub counts: BTreeMap<(u8, u8), u32>,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Noted {
    pub text: String,
}

#[derive(Aggregate, Serialize, Deserialize, Clone, Debug, Default)]
#[aggregate(name = "Ledger")]
pub struct Ledger {
    pub notes: u32,
}

#[es::handlers]
impl Ledger {
    #[on(Tallied)]
    fn tallied(&mut self, _: &Tallied) {}

    #[on(Noted)]
    fn noted(&mut self, _: &Noted) {
        self.notes += 1;
    }
}

#[tokio::test]
async fn an_event_that_cannot_be_encoded_is_an_encode_error() {
    let store = MemoryStore::new();
    let mut ledger = Ledger::load(&store, "l-1").await.expect("load");
    ledger.commit(Noted { text: "a".into() }).await.expect("v1");
    let err = ledger
        .commit(Tallied {
            counts: BTreeMap::from([((1, 2), 3)]),
        })
        .await
        .expect_err("keys that are not strings");
    match &err {
        Error::Encode {
            aggregate,
            id,
            version,
            reason,
        } => {
            assert_eq!((*aggregate, id.as_str(), *version), ("Ledger", "l-1", 2));
            assert!(reason.starts_with("cannot encode Tallied: "), "{reason}");
        }
        other => panic!("expected Encode, got {other:?}"),
    }
    assert!(
        err.to_string()
            .starts_with(r#"Ledger "l-1" at version 2 cannot be encoded: cannot encode Tallied"#),
        "{err}"
    );
    assert!(!err.is_retryable() && !err.is_indeterminate());
    // Nothing was written, and what was is intact.
    let ledger = Ledger::load(&store, "l-1").await.expect("still loads");
    assert_eq!((ledger.version(), ledger.notes), (1, 1));
}

#[tokio::test]
async fn a_bad_idempotency_key_is_its_own_error() {
    let store = MemoryStore::new();
    for bad in [String::new(), "k".repeat(1025)] {
        let err = Ledger::command(&store, "l-2")
            .idempotency_key(bad.clone())
            .execute(|_| Ok::<_, std::convert::Infallible>(Noted { text: "a".into() }))
            .await
            .expect_err("an invalid key");
        match &err {
            Error::InvalidKey { key, reason } => {
                assert_eq!(*key, bad.chars().take(64).collect::<String>());
                assert!(reason.starts_with("an idempotency key must"), "{reason}");
            }
            other => panic!("expected InvalidKey, got {other:?}"),
        }
        assert!(
            err.to_string().starts_with("invalid idempotency key"),
            "{err}"
        );
    }
    assert_eq!(
        Ledger::load(&store, "l-2").await.expect("load").version(),
        0,
        "nothing was written"
    );
}

#[tokio::test]
async fn a_stored_item_that_does_not_decode_names_aggregate_and_id_apart() {
    use es::store::{Append, Commit, StoredEvent};

    let store = MemoryStore::new();
    let event = StoredEvent {
        version: 1,
        name: "Noted".to_owned(),
        schema: 1,
        timestamp: es::store::now(),
        payload: Some(serde_json::json!({ "text": 7 })),
        metadata: None,
        snapshot: None,
    };
    store
        .commit(Commit {
            appends: vec![Append {
                aggregate: "Ledger",
                id: "a#b".to_owned(),
                expected: 0,
                events: vec![event],
            }],
            command: None,
            exact_conflict: true,
        })
        .await
        .expect("a raw write");
    let err = Ledger::load(&store, "a#b")
        .await
        .expect_err("a bad payload");
    match &err {
        Error::Corrupt {
            aggregate,
            id,
            version,
            reason,
        } => {
            // The id keeps its `#`: nothing is split back out of a key.
            assert_eq!(
                (aggregate.as_ref(), id.as_str(), *version),
                ("Ledger", "a#b", 1)
            );
            assert!(reason.contains("field `text`"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert!(
        err.to_string()
            .starts_with(r#"Ledger "a#b" at version 1 is corrupt: payload of Noted: field `text`"#),
        "{err}"
    );
}
