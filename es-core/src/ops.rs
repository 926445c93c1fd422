//! The operations every aggregate has: load, find, execute and test.

use std::future::Future;

use futures::future::{BoxFuture, FutureExt as _};
use futures::stream::{self, Stream, StreamExt, TryStreamExt};

use crate::aggregate::Aggregate;
use crate::command::{Command, Executed};
use crate::error::Error;
use crate::event::IntoEvents;
use crate::root::Root;
use crate::store::{Cursor, EventStore};
use crate::testing::Given;

/// What [`AggregateExt::execute`] returns.
type Executing<'s, A, S> = BoxFuture<'s, Result<Executed<A, S>, Error<<A as Aggregate>::Error>>>;

/// The operations of every [`Aggregate`], as associated functions:
/// `Product::load(&store, "sku-1")`.
pub trait AggregateExt: Aggregate {
    /// Loads an aggregate. One with no events loads at version 0 with the
    /// default state, ready for its first commit.
    fn load<S: EventStore>(
        store: &S,
        id: impl Into<String>,
    ) -> impl Future<Output = Result<Root<Self, S>, Error<Self::Error>>> + Send {
        Root::load(store, id)
    }

    /// Loads an aggregate as it was right after `version`; see
    /// [`Root::load_as_of`]. Version 0 is the default state.
    fn load_at<S: EventStore>(
        store: &S,
        id: impl Into<String>,
        version: u64,
    ) -> impl Future<Output = Result<Root<Self, S>, Error<Self::Error>>> + Send {
        Root::load_as_of(store, id, version)
    }

    /// Loads an aggregate, or `None` when it has no events.
    fn find_one<S: EventStore>(
        store: &S,
        id: impl Into<String>,
    ) -> impl Future<Output = Result<Option<Root<Self, S>>, Error<Self::Error>>> + Send {
        let load = Root::load(store, id);
        async move {
            let root: Root<Self, S> = load.await?;
            Ok((root.version() > 0).then_some(root))
        }
    }

    /// Loads an aggregate, or fails with [`Error::NotFound`] when it has no events.
    fn get<S: EventStore>(
        store: &S,
        id: impl Into<String>,
    ) -> impl Future<Output = Result<Root<Self, S>, Error<Self::Error>>> + Send {
        let load = Root::load(store, id);
        async move {
            let root: Root<Self, S> = load.await?;
            if root.version() == 0 {
                return Err(Error::NotFound {
                    aggregate: Self::NAME,
                    id: root.id().to_owned(),
                });
            }
            Ok(root)
        }
    }

    /// Every aggregate of this type, oldest first, loaded lazily: ids are
    /// listed one page at a time, and each aggregate is loaded when the stream
    /// reaches it.
    fn find_all<S: EventStore>(
        store: &S,
    ) -> impl Stream<Item = Result<Root<Self, S>, Error<Self::Error>>> + Send + '_ {
        Self::ids(store)
            .and_then(move |id| Root::load(store, id))
            .boxed()
    }

    /// The ids of every aggregate of this type, oldest first, listed lazily.
    fn ids<S: EventStore>(
        store: &S,
    ) -> impl Stream<Item = Result<String, Error<Self::Error>>> + Send + '_ {
        let pages = stream::try_unfold(Some(None::<Cursor>), move |state| async move {
            let Some(cursor) = state else {
                return Ok::<_, Error<Self::Error>>(None);
            };
            let page = store
                .list_ids(Self::NAME, None, cursor)
                .await
                .map_err(Error::widen)?;
            let ids = page.items.into_iter().map(Ok::<_, Error<Self::Error>>);
            Ok(Some((stream::iter(ids), page.next.map(Some))))
        });
        pages.try_flatten().boxed()
    }

    /// Runs a command: decides with `decide` on the current state, commits the
    /// events it returns, and on a conflict catches up and decides again.
    /// Use [`AggregateExt::command`] for idempotency keys and retry settings.
    ///
    /// The future is boxed so that its type does not name the decision's:
    /// a decision that returns an event this aggregate has no handler for is
    /// then reported once, at the call, and not again at its `.await`.
    fn execute<'s, S, F, R>(
        store: &'s S,
        id: impl Into<String>,
        decide: F,
    ) -> Executing<'s, Self, S>
    where
        S: EventStore,
        F: FnMut(&Self) -> Result<R, Self::Error> + Send + 's,
        R: IntoEvents<Self> + Send + 's,
    {
        Command::new(store, id.into()).execute(decide).boxed()
    }

    /// A command with options: an idempotency key, a retry policy.
    fn command<S: EventStore>(store: &S, id: impl Into<String>) -> Command<'_, Self, S> {
        Command::new(store, id.into())
    }

    /// Starts a given/when/then test from these past events.
    fn given(events: impl IntoEvents<Self>) -> Given<Self> {
        Given::new(events.into_events())
    }
}

impl<A: Aggregate> AggregateExt for A {}
