//! Given/when/then tests for aggregates, with no store at all.
//!
//! ```
//! # mod doc { include!("../doc/product.rs"); }
//! # use doc::*;
//! # use es::prelude::*;
//! Product::given([Restocked { amount: 2 }])
//!     .when(Reserved { cart_id: "c1".into(), quantity: 3 })
//!     .then_error(SoldOut { available: 2, requested: 3 });
//!
//! Product::given([Restocked { amount: 2 }])
//!     .when_command(|p| p.reserve("c1", 2))
//!     .then_events([Reserved { cart_id: "c1".into(), quantity: 2 }])
//!     .then_state(|p| assert_eq!(p.on_hand, 0));
//! ```

use std::fmt::Debug;

use crate::aggregate::Aggregate;
use crate::event::{EventSet, HandledBy, IntoEvents, PayloadOf};

/// A test's past: the state after the given events.
#[must_use = "a scenario asserts nothing until `when` and a `then_*` are called"]
pub struct Given<A: Aggregate> {
    state: A,
    failure: Option<String>,
}

impl<A: Aggregate> Given<A> {
    /// Applies the past events. A past event that its handler rejects fails
    /// the test at the `when` step, naming the event.
    pub fn new(events: Vec<A::Event>) -> Self {
        let mut state = A::default();
        for (n, event) in events.iter().enumerate() {
            if let Err(e) = state.apply(event) {
                return Given {
                    state,
                    failure: Some(format!(
                        "given event {} ({}) was rejected: {e}",
                        n + 1,
                        event.name()
                    )),
                };
            }
        }
        Given {
            state,
            failure: None,
        }
    }

    /// Applies one event, as a commit would.
    #[track_caller]
    pub fn when(self, event: impl HandledBy<A>) -> Then<A> {
        let event = event.into_event();
        self.run(|_| Ok(vec![event]))
    }

    /// Applies several events atomically, as `commit_all` would: on a
    /// rejection the state stays as it was.
    #[track_caller]
    pub fn when_all(self, events: impl IntoEvents<A>) -> Then<A> {
        let events = events.into_events();
        self.run(|_| Ok(events))
    }

    /// Runs a command's decision, then applies the events it returns.
    #[track_caller]
    pub fn when_command<R: IntoEvents<A>>(
        self,
        decide: impl FnOnce(&A) -> Result<R, A::Error>,
    ) -> Then<A> {
        self.run(|state| decide(state).map(IntoEvents::into_events))
    }

    #[track_caller]
    fn run(self, decide: impl FnOnce(&A) -> Result<Vec<A::Event>, A::Error>) -> Then<A> {
        if let Some(failure) = self.failure {
            panic!("{failure}");
        }
        let result = decide(&self.state).and_then(|events| {
            let mut next = self.state.clone();
            for event in &events {
                next.apply(event)?;
            }
            Ok((events, next))
        });
        match result {
            Ok((events, next)) => Then {
                state: next,
                result: Ok(events),
            },
            Err(e) => Then {
                state: self.state,
                result: Err(e),
            },
        }
    }
}

/// A test's outcome: the state and the events or error, to assert on.
#[derive(Debug)]
pub struct Then<A: Aggregate> {
    state: A,
    result: Result<Vec<A::Event>, A::Error>,
}

impl<A: Aggregate> Then<A> {
    /// The state afterwards (unchanged when the events were rejected).
    pub fn state(&self) -> &A {
        &self.state
    }

    /// The emitted events, or the rejection.
    pub fn result(&self) -> Result<&[A::Event], &A::Error> {
        self.result.as_deref()
    }

    /// Asserts that nothing was rejected.
    #[track_caller]
    pub fn then_ok(self) -> Self {
        if let Err(e) = &self.result {
            panic!("expected success, got the rejection {e:?}");
        }
        self
    }

    /// Asserts on the state.
    #[track_caller]
    pub fn then_state(self, check: impl FnOnce(&A)) -> Self {
        check(&self.state);
        self
    }

    /// Asserts that the state equals `expected`.
    #[track_caller]
    pub fn then_state_eq(self, expected: A) -> Self
    where
        A: PartialEq,
    {
        assert_eq!(self.state, expected, "unexpected state");
        self
    }

    /// Asserts that the events were rejected with exactly `expected`.
    #[track_caller]
    pub fn then_error(self, expected: A::Error) -> Self
    where
        A::Error: PartialEq,
    {
        match &self.result {
            Err(e) => assert_eq!(e, &expected, "unexpected rejection"),
            Ok(events) => panic!("expected the rejection {expected:?}, but it emitted {events:?}"),
        }
        self
    }

    /// Asserts that the events were rejected with an error that passes `check`.
    #[track_caller]
    pub fn then_error_matches(self, check: impl FnOnce(&A::Error) -> bool) -> Self {
        match &self.result {
            Err(e) => assert!(check(e), "the rejection {e:?} does not match"),
            Ok(events) => panic!("expected a rejection, but it emitted {events:?}"),
        }
        self
    }

    /// Asserts that exactly these events were emitted, in order. Events are
    /// compared by name and serialized payload, so they need not be `PartialEq`.
    #[track_caller]
    pub fn then_events(self, expected: impl IntoEvents<A>) -> Self {
        let expected = expected.into_events();
        match &self.result {
            Ok(events) => {
                let got: Vec<_> = events.iter().map(fingerprint).collect();
                let want: Vec<_> = expected.iter().map(fingerprint).collect();
                assert_eq!(got, want, "unexpected events");
            }
            Err(e) => panic!("expected events {expected:?}, got the rejection {e:?}"),
        }
        self
    }
}

fn fingerprint<E: EventSet + Debug>(event: &E) -> (&'static str, String) {
    let payload = serde_json::to_string(&PayloadOf(event))
        .unwrap_or_else(|e| format!("unserializable: {e}: {event:?}"));
    (event.name(), payload)
}
