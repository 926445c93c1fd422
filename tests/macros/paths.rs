//! Every path by which the macros are reached: each path to `on`, and es
//! through a re-export with `crate = ..`.

// ---- Every path to `on`, and lifetimes -----------------------------------------

/// `#[es::handlers]` knows `on` by each path that names it: `on`, `es::on`,
/// `es::prelude::on`, with or without a leading `::`. A handler may name its
/// lifetimes: they are not the generics es rejects.
mod on_paths {
    use serde::{Deserialize, Serialize};

    #[derive(es::Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Opened;

    #[derive(es::Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Closed;

    #[derive(es::Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Painted {
        pub color: String,
    }

    #[derive(es::Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Oiled;

    #[derive(es::Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Named {
        pub name: String,
    }

    #[derive(es::Aggregate, Clone, Debug, Default, PartialEq)]
    pub struct Gate {
        pub open: bool,
        pub color: String,
        pub oiled: u32,
        pub name: String,
    }

    #[es::handlers]
    impl Gate {
        #[::es::on(Opened)]
        fn opened(&mut self, _: &Opened) {
            self.open = true;
        }

        #[es::prelude::on(Closed)]
        fn closed(&mut self, _: &Closed) {
            self.open = false;
        }

        #[::es::prelude::on(Painted)]
        fn painted<'a>(&'a mut self, e: &'a Painted) {
            self.color.clone_from(&e.color);
        }

        #[es::on(Oiled)]
        fn oiled(&mut self, _: &Oiled) {
            self.oiled += 1;
        }

        #[on(Named)]
        fn named<'s, 'e: 's>(&'s mut self, e: &'e Named) {
            self.name.clone_from(&e.name);
        }
    }

    #[test]
    fn every_path_to_on_marks_a_handler() {
        use es::{AggregateExt as _, EventSet as _};
        assert_eq!(
            GateEvent::NAMES,
            ["Opened", "Closed", "Painted", "Oiled", "Named"]
        );
        let past: [GateEvent; 4] = [
            Opened.into(),
            Painted {
                color: "green".into(),
            }
            .into(),
            Oiled.into(),
            Named {
                name: "north".into(),
            }
            .into(),
        ];
        Gate::given(past).when(Closed).then_state_eq(Gate {
            open: false,
            color: "green".into(),
            oiled: 1,
            name: "north".into(),
        });
    }
}

// ---- Through a re-export: `crate = ..` -------------------------------------------

/// A crate that re-exports es, as a framework built on it might, uses the
/// macros through that re-export with `crate = path` on each attribute.
mod through_a_reexport {
    use serde::{Deserialize, Serialize};

    /// es, re-exported: the generated code reaches it as `runtime::es`.
    mod runtime {
        pub use ::es;
    }

    use runtime::es::AggregateExt as _;

    #[derive(runtime::es::Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    #[event(crate = runtime::es, name = "TicketOpened", version = 2)]
    pub struct Opened {
        pub seats: u32,
    }

    #[derive(runtime::es::Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    #[event(crate = runtime::es)]
    pub struct Booked {
        pub seats: u32,
    }

    #[derive(Debug, Clone, PartialEq, thiserror::Error)]
    #[error("only {left} seats left")]
    pub struct Full {
        pub left: u32,
    }

    #[derive(runtime::es::Aggregate, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
    #[aggregate(name = "Ticket", error = Full, snapshot_every = 2, crate = runtime::es)]
    pub struct Ticket {
        pub left: u32,
    }

    // `on` by its path through the re-export, or by its own name.
    #[runtime::es::handlers(crate = runtime::es)]
    impl Ticket {
        #[runtime::es::on(Opened)]
        fn opened(&mut self, e: &Opened) {
            self.left = e.seats;
        }

        #[on(Booked)]
        fn booked(&mut self, e: &Booked) -> Result<(), Full> {
            if e.seats > self.left {
                return Err(Full { left: self.left });
            }
            self.left -= e.seats;
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_macros_work_through_the_path_given_with_crate(
    ) -> Result<(), runtime::es::Error<Full>> {
        use runtime::es::{Aggregate as _, Event as _, EventSet as _, EventStore as _};
        assert_eq!((Opened::NAME, Opened::VERSION), ("TicketOpened", 2));
        assert_eq!((Ticket::NAME, Ticket::SNAPSHOT_EVERY), ("Ticket", 2));
        assert_eq!(TicketEvent::NAMES, ["TicketOpened", "Booked"]);

        let store = runtime::es::MemoryStore::new();
        let mut ticket = Ticket::load(&store, "t-1").await?;
        ticket.commit(Opened { seats: 5 }).await?;
        ticket
            .commit_all([Booked { seats: 2 }, Booked { seats: 1 }])
            .await?;
        let err = ticket.commit(Booked { seats: 3 }).await.unwrap_err();
        assert!(
            matches!(err, runtime::es::Error::Rejected(Full { left: 2 })),
            "{err:?}"
        );

        // Loaded back from the snapshot at version 2 and the event after it:
        // one page of `snapshot_every` items, versions 3 and 2, and no replay.
        let before = store.stats().snapshot();
        let reloaded = Ticket::load(&store, "t-1").await?;
        let cost = store.stats().snapshot() - before;
        assert_eq!((reloaded.version(), reloaded.left), (3, 2));
        assert_eq!((cost.reads, cost.items_read), (1, 2));
        let text = serde_json::to_string(&TicketEvent::from(Booked { seats: 1 })).unwrap();
        assert_eq!(text, r#"{"type":"Booked","payload":{"seats":1}}"#);
        Ok(())
    }
}

/// es under another name, `crate::paths::counting::rt`, whose `__private` is es's
/// but for `serialize_tagged`, which counts its calls: the generated enum's
/// `Serialize` reaches es through the path given with `crate = ..`, not `::es`.
mod counting {
    pub mod rt {
        pub use ::es::*;

        pub mod __private {
            use std::sync::atomic::{AtomicUsize, Ordering};

            pub use ::es::__private::*;

            pub static SERIALIZED: AtomicUsize = AtomicUsize::new(0);

            pub fn serialize_tagged<E: ::es::EventSet, S: serde::Serializer>(
                event: &E,
                serializer: S,
            ) -> Result<S::Ok, S::Error> {
                SERIALIZED.fetch_add(1, Ordering::SeqCst);
                ::es::__private::serialize_tagged(event, serializer)
            }
        }
    }

    use serde::{Deserialize, Serialize};

    #[derive(rt::Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    #[event(crate = crate::paths::counting::rt)]
    pub struct Rang;

    #[derive(rt::Aggregate, Clone, Debug, Default, PartialEq)]
    #[aggregate(crate = crate::paths::counting::rt)]
    pub struct Bell {
        pub rung: u32,
    }

    #[rt::handlers(crate = crate::paths::counting::rt)]
    impl Bell {
        #[crate::paths::counting::rt::prelude::on(Rang)]
        fn rang(&mut self, _: &Rang) {
            self.rung += 1;
        }
    }

    #[tokio::test]
    async fn generated_code_goes_through_the_given_path() -> Result<(), rt::Error> {
        use std::sync::atomic::Ordering;

        use rt::AggregateExt as _;

        let store = rt::MemoryStore::new();
        let mut bell = Bell::load(&store, "b").await?;
        bell.commit_all([Rang, Rang]).await?;
        assert_eq!(Bell::load(&store, "b").await?.rung, 2);

        let before = rt::__private::SERIALIZED.load(Ordering::SeqCst);
        let text = serde_json::to_string(&BellEvent::from(Rang)).unwrap();
        assert_eq!(text, r#"{"type":"Rang","payload":null}"#);
        assert_eq!(rt::__private::SERIALIZED.load(Ordering::SeqCst), before + 1);
        Ok(())
    }
}
