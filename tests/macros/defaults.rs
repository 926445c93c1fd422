//! What the macros do with no attributes, and without the prelude.

use super::*;

mod doors {
    use super::*;

    #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Opened;

    #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct Closed;
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Locked {
    pub code: u32,
}

type DoorResult<T> = Result<T, Infallible>;

/// An enum aggregate, a state machine, with no `#[aggregate(..)]` at all:
/// its name is the type's, it never fails and takes no snapshots.
/// Its event enum is as private as it is, with `vis`.
#[derive(Aggregate, Clone, Debug, Default, PartialEq)]
pub(crate) enum Door {
    #[default]
    Closed,
    Open,
    Locked(u32),
}

#[es::handlers(vis = pub(crate))]
impl Door {
    #[on(doors::Opened)]
    fn opened(&mut self, _: &doors::Opened) -> DoorResult<()> {
        *self = Door::Open;
        Ok(())
    }

    #[es::on(doors::Closed)]
    #[allow(clippy::unused_unit)]
    fn closed(&mut self, _: &doors::Closed) -> () {
        *self = Door::Closed;
    }

    #[on(Locked)]
    fn locked(&mut self, e: &Locked) -> Result<(), Infallible> {
        *self = Door::Locked(e.code);
        Ok(())
    }
}

#[test]
fn without_attributes_the_names_are_the_types_and_nothing_fails() {
    assert_eq!(<Door as Aggregate>::NAME, "Door");
    assert_eq!((Door::SNAPSHOT_EVERY, Door::SNAPSHOT_SCHEMA), (0, 1));
    fn infallible<A: Aggregate<Error = Infallible>>() {}
    infallible::<Door>();
    assert_eq!(DoorEvent::NAMES, ["Opened", "Closed", "Locked"]);

    Door::given([DoorEvent::from(doors::Opened)])
        .when(doors::Closed)
        .then_state_eq(Door::Closed);
    Door::given([doors::Opened])
        .when(Locked { code: 7 })
        .then_state_eq(Door::Locked(7));
}

#[test]
fn variants_are_named_after_the_last_segment_of_the_event_path() {
    let events = [
        DoorEvent::from(doors::Opened),
        DoorEvent::from(doors::Closed),
        DoorEvent::from(Locked { code: 1 }),
    ];
    assert!(matches!(
        events,
        [
            DoorEvent::Opened(doors::Opened),
            DoorEvent::Closed(doors::Closed),
            DoorEvent::Locked(Locked { code: 1 })
        ]
    ));
}

// ---- Without the prelude -----------------------------------------------------

/// `#[on(..)]` needs no import: `#[es::handlers]` reads and removes it.
///
/// The module is private, so clippy lints its items as it would a binary's:
/// the events all start with `Order`, as events often do, and the generated
/// enum must not trip `enum_variant_names` for it.
mod without_the_prelude {
    use serde::{Deserialize, Serialize};

    #[derive(es::Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct OrderPlaced;

    /// An enum is an event too: its payload is the enum, as serde writes it.
    #[derive(es::Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub enum OrderPaymentChanged {
        Card { last4: String },
        Cash,
    }

    #[derive(es::Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    pub struct OrderShipped;

    #[derive(es::Aggregate, Clone, Debug, Default, PartialEq)]
    pub struct Order {
        pub placed: bool,
        pub by_card: bool,
        pub shipped: bool,
    }

    #[es::handlers]
    impl Order {
        #[on(OrderPlaced)]
        fn placed(&mut self, _: &OrderPlaced) {
            self.placed = true;
        }

        #[on(OrderPaymentChanged)]
        fn payment_changed(&mut self, e: &OrderPaymentChanged) {
            self.by_card = matches!(e, OrderPaymentChanged::Card { .. });
        }

        #[on(OrderShipped)]
        fn shipped(&mut self, _: &OrderShipped) {
            self.shipped = true;
        }
    }

    #[test]
    fn handlers_work_without_importing_on() {
        use es::{AggregateExt as _, EventSet as _};
        let card = OrderPaymentChanged::Card {
            last4: "4242".into(),
        };
        let past: [OrderEvent; 2] = [OrderPlaced.into(), OrderPaymentChanged::Cash.into()];
        Order::given(past).when(card.clone()).then_state_eq(Order {
            placed: true,
            by_card: true,
            shipped: false,
        });
        let text = serde_json::to_string(&OrderEvent::from(card)).unwrap();
        assert_eq!(
            text,
            r#"{"type":"OrderPaymentChanged","payload":{"Card":{"last4":"4242"}}}"#
        );
        assert_eq!(
            OrderEvent::NAMES,
            ["OrderPlaced", "OrderPaymentChanged", "OrderShipped"]
        );
    }
}
