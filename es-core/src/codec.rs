//! Turning typed events and state into a store's records and back. Every
//! decoding failure becomes an error naming the item; nothing read panics.

use std::marker::PhantomData;

use serde::de::{DeserializeSeed, Deserializer};
use serde::Serialize;

use crate::aggregate::Aggregate;
use crate::error::Error;
use crate::event::{
    deserialize_event, newer_schema, EmptyPayload, Event, EventSet, Metadata, PayloadOf, Recorded,
    SchemaSeed, StoredSeed,
};
use crate::projection::Codec;
use crate::store::{below_first_version, CodecError, EventStore, StoredEvent, StoredSnapshot};

/// Encodes one new event at `version`, with a snapshot of `state_after` when
/// the version is a multiple of the aggregate's `SNAPSHOT_EVERY`.
pub(crate) fn encode_event<A: Aggregate, S: EventStore>(
    store: &S,
    id: &str,
    version: u64,
    event: &A::Event,
    state_after: &A,
    timestamp: &str,
    metadata: &Metadata,
) -> Result<StoredEvent<S::Payload>, Error<A::Error>> {
    let encoding = |what: &str, reason: CodecError| Error::Encode {
        aggregate: A::NAME,
        id: id.to_owned(),
        version,
        reason: format!("cannot encode {what}: {reason}"),
    };
    let payload = store
        .encode(&PayloadOf(event))
        .map_err(|e| encoding(event.name(), e))?;
    let metadata = if metadata.is_empty() {
        None
    } else {
        Some(
            store
                .encode(metadata)
                .map_err(|e| encoding("metadata", e))?,
        )
    };
    // A state that may hold personal fields' plaintext, with none declared
    // to seal, is not written down.
    let snapshot = if A::SNAPSHOT_EVERY > 0
        && version.is_multiple_of(A::SNAPSHOT_EVERY)
        && !crate::erasure::snapshots_left_out::<A>()
    {
        let state = store
            .encode(&StateOf(state_after))
            .map_err(|e| encoding("snapshot", e))?;
        Some(StoredSnapshot {
            schema: A::SNAPSHOT_SCHEMA,
            state,
        })
    } else {
        None
    };
    Ok(StoredEvent {
        version,
        name: event.name().to_owned(),
        schema: event.schema(),
        timestamp: timestamp.to_owned(),
        payload: Some(payload),
        metadata,
        snapshot,
    })
}

/// Decodes a stored event of aggregate `A` with id `id`, as a load does:
/// its name, payload, schema version and metadata are checked, and a failure
/// names the aggregate, id and version. Public (as `es_core::store::decode_event`)
/// for events a store hands out outside a load, such as a DynamoDB Stream's.
pub fn decode_event<A: Aggregate, S: EventStore>(
    store: &S,
    id: &str,
    stored: StoredEvent<S::Payload>,
) -> Result<Recorded<A::Event>, Error<A::Error>> {
    decode_with::<A, _>(&StoreCodec(store), id, stored).map_err(Error::widen)
}

/// Checks that a stored event of `A` decodes, as [`decode_event`] would.
pub(crate) fn check_event<A: Aggregate, C: Codec>(
    codec: &C,
    id: &str,
    stored: StoredEvent<C::Payload>,
) -> Result<(), Error> {
    decode_with::<A, C>(codec, id, stored).map(drop)
}

/// A store, as the [`Codec`] of its own payloads.
pub(crate) struct StoreCodec<'a, S>(pub(crate) &'a S);

impl<S: EventStore> Codec for StoreCodec<'_, S> {
    type Payload = S::Payload;

    fn decode_payload<T, V>(&self, seed: T, payload: S::Payload) -> Result<V, CodecError>
    where
        T: for<'de> DeserializeSeed<'de, Value = V>,
    {
        self.0.decode(seed, payload)
    }
}

/// Refuses version 0, which no event has: versions start at 1. A store that
/// cannot hold versions below 0 (a `u64`) reports those itself, in the same
/// words ([`below_first_version`]).
pub(crate) fn check_version(aggregate: &str, id: &str, version: u64) -> Result<(), Error> {
    if version == 0 {
        return Err(Error::Corrupt {
            aggregate: aggregate.to_owned().into(),
            id: id.to_owned(),
            version,
            reason: below_first_version(version),
        });
    }
    Ok(())
}

/// The one decoding of a stored event of `A`, behind every load, history,
/// projection and stream read: the name may be an alias, an older schema is
/// upcast, and any failure names the aggregate, id and version.
fn decode_with<A: Aggregate, C: Codec>(
    codec: &C,
    id: &str,
    stored: StoredEvent<C::Payload>,
) -> Result<Recorded<A::Event>, Error> {
    check_version(A::NAME, id, stored.version)?;
    let corrupt = |reason: String| Error::Corrupt {
        aggregate: A::NAME.into(),
        id: id.to_owned(),
        version: stored.version,
        reason,
    };
    let decoded = match stored.payload {
        Some(payload) => codec.decode_payload(
            StoredSeed::<A::Event> {
                name: &stored.name,
                schema: stored.schema,
                marker: PhantomData,
            },
            payload,
        ),
        None => A::Event::deserialize_stored(&stored.name, stored.schema, EmptyPayload)
            .map_err(CodecError::new),
    };
    let event = match decoded {
        Ok(Some(event)) => event,
        Ok(None) => {
            return Err(Error::UnknownEvent {
                name: stored.name,
                aggregate: A::NAME,
                id: id.to_owned(),
                version: stored.version,
            })
        }
        Err(reason) => return Err(corrupt(format!("payload of {}: {reason}", stored.name))),
    };
    // A generated set refuses a newer schema before decoding; one written by
    // hand may not, and an event written by a newer schema may carry meaning
    // this build cannot see.
    if stored.schema > event.schema() {
        return Err(corrupt(format!(
            "payload of {}: {}",
            stored.name,
            newer_schema(stored.schema, event.schema())
        )));
    }
    let metadata = decode_metadata(codec, stored.metadata).map_err(corrupt)?;
    Ok(Recorded {
        version: stored.version,
        timestamp: stored.timestamp,
        event,
        metadata,
    })
}

/// Decodes one stored event as the event type `E` of aggregate `aggregate`,
/// as [`decode_with`] decodes it as one of a set: what a projection's
/// handler of `E` reads. The caller has checked the name.
pub(crate) fn decode_one<E: Event, C: Codec>(
    codec: &C,
    aggregate: &str,
    id: &str,
    stored: StoredEvent<C::Payload>,
) -> Result<(E, u64, String, Metadata), Error> {
    check_version(aggregate, id, stored.version)?;
    let corrupt = |reason: String| Error::Corrupt {
        aggregate: aggregate.to_owned().into(),
        id: id.to_owned(),
        version: stored.version,
        reason,
    };
    let decoded = match stored.payload {
        Some(payload) => codec.decode_payload(
            SchemaSeed::<E> {
                schema: stored.schema,
                marker: PhantomData,
            },
            payload,
        ),
        None => deserialize_event::<E, _>(stored.schema, EmptyPayload).map_err(CodecError::new),
    };
    let event =
        decoded.map_err(|reason| corrupt(format!("payload of {}: {reason}", stored.name)))?;
    let metadata = decode_metadata(codec, stored.metadata).map_err(corrupt)?;
    Ok((event, stored.version, stored.timestamp, metadata))
}

fn decode_metadata<C: Codec>(codec: &C, metadata: Option<C::Payload>) -> Result<Metadata, String> {
    match metadata {
        Some(m) => codec
            .decode_payload(PhantomData::<Metadata>, m)
            .map_err(|e| format!("metadata: {e}")),
        None => Ok(Metadata::default()),
    }
}

/// Decodes an inline snapshot, or says why it cannot be used.
pub(crate) fn decode_snapshot<A: Aggregate, S: EventStore>(
    store: &S,
    snapshot: StoredSnapshot<S::Payload>,
) -> Result<A, String> {
    if snapshot.schema != A::SNAPSHOT_SCHEMA {
        return Err(format!(
            "snapshot schema {} is not the aggregate's {}",
            snapshot.schema,
            A::SNAPSHOT_SCHEMA
        ));
    }
    store
        .decode(StateSeed::<A>(PhantomData), snapshot.state)
        .map_err(|e| e.to_string())
}

struct StateOf<'a, A>(&'a A);

impl<A: Aggregate> Serialize for StateOf<'_, A> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_state(serializer)
    }
}

struct StateSeed<A>(PhantomData<fn() -> A>);

impl<'de, A: Aggregate> DeserializeSeed<'de> for StateSeed<A> {
    type Value = A;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<A, D::Error> {
        A::deserialize_state(deserializer)
    }
}
