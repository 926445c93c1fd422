//! Checks of commands: `execute` with idempotency keys, on top of a store's
//! command records.

use super::model::*;
use super::{unique, versions_of};
use crate::error::Error;
use crate::ops::AggregateExt;
use crate::store::EventStore;

/// See [`CHECKS`](super::CHECKS).
pub async fn repeated_commands_report_their_first_run<S: EventStore>(store: &S) {
    let id = unique("repeat");
    let key = unique("order");
    let mut p = Product::load(store, &id).await.expect("load");
    p.commit(Restocked { amount: 1 }).await.expect("restock");

    let first = Product::command(store, &id)
        .idempotency_key(&key)
        .execute(|p| p.reserve("c1", 1))
        .await
        .expect("first run");
    assert_eq!((first.version, first.duplicate), (2, false));

    // The repeat's decision now rejects (sold out) or finds nothing to do;
    // either way it is the first run that answers.
    let rejected = Product::command(store, &id)
        .idempotency_key(&key)
        .execute(|p| p.reserve("c1", 1))
        .await
        .expect("a repeat that would be rejected");
    assert_eq!((rejected.version, rejected.duplicate), (2, true));
    let nothing = Product::command(store, &id)
        .idempotency_key(&key)
        .execute(|_| Ok::<_, ProductError>(None::<Reserved>))
        .await
        .expect("a repeat with nothing left to do");
    assert_eq!((nothing.version, nothing.duplicate), (2, true));
    assert_eq!(versions_of(store, &id).await, vec![1, 2]);

    // A command without events and without an earlier run is no duplicate.
    let fresh = Product::command(store, &id)
        .idempotency_key(unique("never-ran"))
        .execute(|_| Ok::<_, ProductError>(None::<Reserved>))
        .await
        .expect("a no-op");
    assert_eq!((fresh.version, fresh.duplicate), (2, false));

    // The key names one command: on another aggregate it is refused.
    let other = unique("other");
    let err = Product::command(store, &other)
        .idempotency_key(&key)
        .execute(|_| Ok::<_, ProductError>(Restocked { amount: 5 }))
        .await
        .expect_err("a key reused on another aggregate");
    match &err {
        Error::KeyReused {
            key: got,
            aggregate,
            id: on,
            previous,
        } => {
            assert_eq!((got, *aggregate, on), (&key, "Product", &other));
            assert!(previous.contains(&id), "{previous:?} names {id:?}");
        }
        other => panic!("expected KeyReused, got {other:?}"),
    }
    assert_eq!(versions_of(store, &other).await, Vec::<u64>::new());

    // A handle on another id cannot stand in for the command's aggregate.
    let handle = Product::load(store, &id).await.expect("load");
    let err = Product::command(store, &other)
        .on(handle)
        .execute(|_| Ok::<_, ProductError>(Restocked { amount: 5 }))
        .await
        .expect_err("a handle on another id");
    assert!(matches!(err, Error::InvalidId { .. }), "got {err:?}");
    assert_eq!(versions_of(store, &id).await, vec![1, 2]);
    assert_eq!(versions_of(store, &other).await, Vec::<u64>::new());
}
