//! Atomic commits across aggregates.

use crate::aggregate::Aggregate;
use crate::error::Error;
use crate::event::IntoEvents;
use crate::root::Root;
use crate::store::{Append, Commit, Committed, EventStore};

/// Commits events to several loaded aggregates at once: all or nothing, each
/// at the version its handle was loaded at.
///
/// Each [`Transaction::append`] runs the handlers on a copy of that aggregate's
/// state, so a rejected event is reported before anything is sent. The handles
/// change only after the whole transaction is written. On DynamoDB it is one
/// `TransactWriteItems` call, so it holds at most 100 events in all.
///
/// ```
/// # mod doc { include!("../doc/product.rs"); }
/// # use doc::*;
/// # use es::prelude::*;
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let mut a = Product::load(&store, "a").await?;
/// let mut b = Product::load(&store, "b").await?;
/// let mut tx = Transaction::new(&store);
/// tx.append(&mut a, [Restocked { amount: 1 }])?;
/// tx.append(&mut b, [Restocked { amount: 2 }])?;
/// tx.commit().await?;
/// assert_eq!((a.on_hand, b.on_hand), (1, 2));
/// # Ok::<_, Box<dyn std::error::Error>>(()) }).unwrap();
/// ```
#[must_use = "a transaction writes nothing until `commit` is called"]
pub struct Transaction<'a, S: EventStore> {
    store: S,
    appends: Vec<Append<S::Payload>>,
    // Beside each append: where its personal fields are.
    sealings: Vec<crate::erasure::Sealing>,
    // Moves each aggregate's new state into its handle once the write succeeded.
    advance: Vec<Box<dyn FnOnce() + Send + 'a>>,
}

impl<'a, S: EventStore> Transaction<'a, S> {
    /// An empty transaction on `store`.
    pub fn new(store: &S) -> Self {
        Transaction {
            store: store.clone(),
            appends: Vec::new(),
            sealings: Vec::new(),
            advance: Vec::new(),
        }
    }

    /// Adds events for one aggregate, after checking them with its handlers.
    /// A rejection leaves the transaction as it was.
    pub fn append<A: Aggregate>(
        &mut self,
        root: &'a mut Root<A, S>,
        events: impl IntoEvents<A>,
    ) -> Result<&mut Self, Error<A::Error>> {
        let events = events.into_events();
        if events.is_empty() {
            return Ok(self);
        }
        let crate::root::Staged {
            append,
            next,
            last,
            sealing,
        } = root.stage(&events)?;
        self.appends.push(append);
        self.sealings.push(sealing);
        self.advance
            .push(Box::new(move || root.advance(last, next)));
        Ok(self)
    }

    /// How many events are staged.
    pub fn len(&self) -> usize {
        self.appends.iter().map(|a| a.events.len()).sum()
    }

    /// Whether nothing is staged.
    pub fn is_empty(&self) -> bool {
        self.appends.is_empty()
    }

    /// Writes every staged event atomically. On a conflict nothing is written,
    /// and the error names the aggregate and id that had moved on.
    pub async fn commit(self) -> Result<(), Error> {
        if self.appends.is_empty() {
            return Ok(());
        }
        let span = tracing::info_span!(
            "es.transaction",
            aggregates = self.appends.len(),
            events = self.len()
        );
        let _enter = span.enter();
        drop(_enter);
        let committed = tracing::Instrument::instrument(
            crate::erasure::commit(
                &self.store,
                Commit {
                    appends: self.appends,
                    command: None,
                    exact_conflict: true,
                },
                &self.sealings,
            ),
            span,
        )
        .await?;
        debug_assert_eq!(committed, Committed::Written);
        for advance in self.advance {
            advance();
        }
        Ok(())
    }
}
