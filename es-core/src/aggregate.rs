//! The [`Aggregate`] trait: a consistency boundary rebuilt from its events.

use std::fmt::Debug;

use serde::de::Deserializer;
use serde::Serializer;

use crate::erasure::Personal;
use crate::event::EventSet;

/// A domain object whose state is the fold of its events.
///
/// Implement it with `#[derive(Aggregate)]` on the struct and `#[es::handlers]`
/// on the impl block that holds its `#[on(Event)]` handlers. The operations a
/// user calls (`load`, `find_one`, `find_all`, `execute`, `given`) live on
/// [`AggregateExt`](crate::AggregateExt), which every aggregate has.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an aggregate",
    label = "`{Self}` does not implement `es::Aggregate`",
    note = "add `#[derive(Aggregate)]` to `{Self}`, with `#[aggregate(..)]` for its name, error type and snapshots"
)]
pub trait Aggregate: Default + Clone + Debug + Send + Sync + 'static {
    /// The aggregate's name, the prefix of its stored key. It must not contain
    /// `#` or start with `$`, which es reserves for its own records.
    const NAME: &'static str;

    /// Store a snapshot of the state every this many versions; 0 never does.
    const SNAPSHOT_EVERY: u64 = 0;

    /// The schema version of the snapshot. A stored snapshot with another
    /// schema is ignored, and the state is rebuilt from older data.
    const SNAPSHOT_SCHEMA: u32 = 1;

    /// The state's personal fields and their subject, declared with
    /// `#[personal]` and `#[subject]` on `#[derive(Aggregate)]` fields:
    /// snapshots seal them as events do (see [`erasure`](crate::erasure)).
    /// An aggregate with personal events and no such declaration takes no
    /// snapshots, since its state may hold their plaintext.
    const PERSONAL: Option<&'static Personal> = None;

    /// The events this aggregate handles, generated as `{Aggregate}Event`.
    type Event: EventSet;

    /// The domain error its handlers return.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Applies one event: runs its handler.
    fn apply(&mut self, event: &Self::Event) -> Result<(), Self::Error>;

    /// Serializes the state for a snapshot. `#[derive(Aggregate)]` with
    /// `snapshot_every` implements it with serde.
    fn serialize_state<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let _ = serializer;
        Err(S::Error::custom(format_args!(
            "{} does not take snapshots",
            Self::NAME
        )))
    }

    /// Decodes a snapshot written by [`Aggregate::serialize_state`].
    fn deserialize_state<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let _ = deserializer;
        Err(D::Error::custom(format_args!(
            "{} does not take snapshots",
            Self::NAME
        )))
    }
}

/// The dispatch `#[es::handlers]` generates: which handler runs for which event.
///
/// `#[derive(Aggregate)]` wires it into [`Aggregate::apply`], so every event in
/// the set has exactly one handler, checked by the compiler.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no `#[es::handlers]` impl block",
    label = "the aggregate's events and handlers come from `#[es::handlers]`",
    note = "add `#[es::handlers] impl {Self} {{ #[on(SomeEvent)] fn some(&mut self, e: &SomeEvent) {{ .. }} }}`"
)]
pub trait Handlers: Sized {
    /// The generated `{Aggregate}Event` enum.
    type Event: EventSet;
    /// The error the handlers return.
    type Error;
    /// Runs the handler of `event`.
    fn dispatch(&mut self, event: &Self::Event) -> Result<(), Self::Error>;
}

/// What a handler returns: `()` when it cannot fail, or `Result<(), E>`
/// where `E` is the aggregate's error type.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "this handler returns `{Self}`, but the aggregate's error type is `{E}`",
    label = "expected `()` or `Result<(), {E}>`",
    note = "set the aggregate's error type with `#[aggregate(error = ..)]`, or return `Result<(), {E}>`; \
            a handler that cannot fail returns nothing"
)]
pub trait HandlerResult<E> {
    fn into_result(self) -> Result<(), E>;
}

impl<E> HandlerResult<E> for () {
    fn into_result(self) -> Result<(), E> {
        Ok(())
    }
}

impl<E> HandlerResult<E> for Result<(), E> {
    fn into_result(self) -> Result<(), E> {
        self
    }
}
