//! The one error type every es operation returns.

use std::borrow::Cow;
use std::convert::Infallible;
use std::fmt;

/// Every failure an es operation can report.
///
/// `E` is the aggregate's domain error, the one its handlers return. Store-level
/// operations that cannot produce a domain error use the default, [`Infallible`],
/// and are widened with [`Error::widen`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error<E = Infallible> {
    /// A handler rejected the event: nothing was written.
    #[error("rejected: {0}")]
    Rejected(#[source] E),

    /// Another writer got there first: the aggregate is no longer at `expected`.
    #[error("conflict on {aggregate} {id:?}: expected version {expected}, but it is at {actual}")]
    Conflict {
        /// The aggregate's name.
        aggregate: &'static str,
        /// The aggregate's id.
        id: String,
        /// The version the commit was based on.
        expected: u64,
        /// The version the store holds now: exact, except inside `execute`'s
        /// retries, which ask only for a lower bound (see
        /// [`Commit::exact_conflict`](crate::store::Commit::exact_conflict)).
        actual: u64,
    },

    /// A stored event failed its handler while the aggregate was being replayed.
    /// Replays never skip events, so the load fails instead of producing wrong state.
    #[error("replaying {aggregate} {id:?} failed at version {version}: {source}")]
    Replay {
        /// The aggregate's name.
        aggregate: &'static str,
        /// The aggregate's id.
        id: String,
        /// The version of the event the handler rejected.
        version: u64,
        /// The handler's error.
        #[source]
        source: E,
    },

    /// The aggregate has no events.
    #[error("{aggregate} {id:?} not found")]
    NotFound {
        /// The aggregate's name.
        aggregate: &'static str,
        /// The aggregate's id.
        id: String,
    },

    /// A load as of a version the aggregate has not reached
    /// ([`Root::load_as_of`](crate::Root::load_as_of)).
    #[error("{aggregate} {id:?} has no version {version}: its latest is {latest}")]
    VersionNotFound {
        /// The aggregate's name.
        aggregate: &'static str,
        /// The aggregate's id.
        id: String,
        /// The version asked for.
        version: u64,
        /// The latest version the aggregate has; 0 when it has no events.
        latest: u64,
    },

    /// A commit breaks one of DynamoDB's size limits. Nothing was written.
    #[error("{aggregate} {id:?}: {limit} is {actual}, over the limit of {max}")]
    TooLarge {
        /// The aggregate's name.
        aggregate: &'static str,
        /// The aggregate's id (the first one of a multi-aggregate commit).
        id: String,
        /// Which limit was broken.
        limit: Limit,
        /// The size the commit would have had.
        actual: usize,
        /// The largest size allowed.
        max: usize,
    },

    /// An id the store cannot hold. Nothing was written.
    #[error("invalid id {id:?} for {aggregate}: {reason}")]
    InvalidId {
        /// The aggregate's name.
        aggregate: &'static str,
        /// The offending id, cut to 64 characters when longer.
        id: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// An aggregate name the store cannot hold. Nothing was written.
    #[error("invalid aggregate name {name:?}: {reason}")]
    InvalidName {
        /// The offending name.
        name: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// An idempotency key the store cannot hold. Nothing was written.
    #[error("invalid idempotency key {key:?}: {reason}")]
    InvalidKey {
        /// The offending key, cut to 64 characters when longer.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// An idempotency key already ran a command on another aggregate; keys
    /// name one command. Nothing was written.
    #[error(
        "idempotency key {key:?} already ran a command on {previous}, not on {aggregate} {id:?}"
    )]
    KeyReused {
        /// The idempotency key.
        key: String,
        /// The aggregate this command is on.
        aggregate: &'static str,
        /// The id this command is on.
        id: String,
        /// The aggregates and ids the key's command ran on, as `Name "id"`.
        previous: String,
    },

    /// A stored item could not be decoded, or a stored history is not one
    /// es wrote (a gap in its versions).
    #[error("{} at version {version} is corrupt: {reason}", Item(aggregate, id))]
    Corrupt {
        /// The aggregate's name, as in every other variant; a `Cow`,
        /// because a reader of a foreign item (a stream record, a projection's
        /// raw event) learns the name from the item at run time. Empty when
        /// the item names none (a key without `#`, or no key at all). For a
        /// view row, the view's kind.
        aggregate: Cow<'static, str>,
        /// The aggregate's id; the whole key when it could not be split, and
        /// empty when the item has none.
        id: String,
        /// The version of the bad item (0 when the item's own version is
        /// what is bad, or it has none).
        version: u64,
        /// What could not be decoded.
        reason: String,
    },

    /// An event, its metadata or a snapshot could not be encoded in the
    /// store's form, as when a map has keys that are not strings. Nothing
    /// was written, and nothing stored is wrong.
    #[error("{aggregate} {id:?} at version {version} cannot be encoded: {reason}")]
    Encode {
        /// The aggregate's name.
        aggregate: &'static str,
        /// The aggregate's id.
        id: String,
        /// The version the event would have had.
        version: u64,
        /// What could not be encoded, and why.
        reason: String,
    },

    /// A stored event's type is not one the aggregate handles.
    #[error("{aggregate} {id:?} version {version} holds event {name:?}, which {aggregate} does not handle")]
    UnknownEvent {
        /// The stored event name.
        name: String,
        /// The aggregate's name.
        aggregate: &'static str,
        /// The aggregate's id.
        id: String,
        /// The version of the event.
        version: u64,
    },

    /// A commit would seal personal data for a subject that was forgotten
    /// ([`Vault::forget`](crate::erasure::Vault::forget)): its key is gone
    /// for good, so nothing new is written for it. Nothing was written.
    #[error(
        "{}subject {subject:?} was forgotten, so no personal data is written for it",
        In(aggregate, id)
    )]
    Forgotten {
        /// The aggregate's name; empty outside a commit.
        aggregate: &'static str,
        /// The aggregate's id; empty outside a commit.
        id: String,
        /// The forgotten subject.
        subject: String,
    },

    /// The store itself failed: SDK, network, throttling or bad input to the store.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `"{aggregate} {id:?}: "`, or nothing outside an aggregate.
struct In<'a>(&'a str, &'a str);

impl fmt::Display for In<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            "" => Ok(()),
            aggregate => write!(f, "{aggregate} {:?}: ", self.1),
        }
    }
}

/// The subject of a [`Error::Corrupt`]: the aggregate and id as every other
/// variant names them, or as much of them as the item holds.
struct Item<'a>(&'a str, &'a str);

impl fmt::Display for Item<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0, self.1) {
            ("", "") => f.write_str("an item with no key"),
            ("", key) => write!(f, "item {key:?}"),
            (aggregate, "") => write!(f, "an item of {aggregate} with no id"),
            (aggregate, id) => write!(f, "{aggregate} {id:?}"),
        }
    }
}

/// The DynamoDB limit a [`Error::TooLarge`] commit broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// The size of one item, 400 KB.
    ItemBytes,
    /// The number of items in one transaction, 100.
    TransactionItems,
    /// The size of one transaction, 4 MB.
    TransactionBytes,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::ItemBytes => "the item size in bytes",
            Limit::TransactionItems => "the number of items in the transaction",
            Limit::TransactionBytes => "the transaction size in bytes",
        })
    }
}

impl<E> Error<E> {
    /// Whether trying the same operation again could succeed: true for
    /// conflicts and for transient store failures (throttling, timeouts).
    ///
    /// A retryable write error may also be [indeterminate](Error::is_indeterminate):
    /// then a retry that decides again could apply the command twice.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Conflict { .. } => true,
            Error::Store(e) => e.is_retryable(),
            _ => false,
        }
    }

    /// Whether a write's outcome is unknown: the request may have reached
    /// the store, and no answer came back (a timeout after it was sent, a
    /// connection lost mid-response, a server error on a write). The write
    /// may have landed, whole, or not at all; never in part.
    ///
    /// Reads are never indeterminate, and neither is an error that says
    /// what happened (a conflict, a rejection, a refused connection).
    /// [`MemoryStore`](crate::MemoryStore) never produces one.
    ///
    /// What to do: read the aggregate to see whether the write is there, or
    /// send the command again with the same idempotency key, which returns
    /// the first run's outcome if it landed.
    pub fn is_indeterminate(&self) -> bool {
        matches!(self, Error::Store(e) if e.is_indeterminate())
    }

    /// The domain error, when this is a rejection.
    pub fn rejection(&self) -> Option<&E> {
        match self {
            Error::Rejected(e) => Some(e),
            _ => None,
        }
    }
}

impl Error<Infallible> {
    /// Names the aggregate and id a store failure was about; other errors
    /// already name them.
    pub(crate) fn about(self, aggregate: &'static str, id: &str) -> Self {
        match self {
            Error::Store(e) => Error::Store(e.about(aggregate, id)),
            other => other,
        }
    }

    /// Names the versions a failed write tried to write, on a store failure.
    pub(crate) fn writing(self, first: u64, last: u64) -> Self {
        match self {
            Error::Store(e) => Error::Store(e.writing(first, last)),
            other => other,
        }
    }

    /// Turns a store-level error into an aggregate's error type.
    pub fn widen<E>(self) -> Error<E> {
        self.map_domain(|never| match never {}, |_, _, _, never| match never {})
    }
}

impl<E: std::fmt::Display> Error<E> {
    /// Turns an aggregate's error into a store-level one, for a caller that
    /// meets several aggregates' errors (a command across aggregates): a
    /// rejection becomes a permanent store error, a replay that failed a
    /// `Corrupt` naming the event, both with the handler's words.
    pub(crate) fn narrow_store(self) -> Error {
        self.map_domain(
            |rejection| StoreError::permanent("load", format!("refused: {rejection}")).into(),
            |aggregate, id, version, source| Error::Corrupt {
                aggregate: aggregate.into(),
                id,
                version,
                reason: format!("a stored event no longer applies: {source}"),
            },
        )
    }
}

impl<E> Error<E> {
    /// The same error with another domain error type: the two variants that
    /// carry one go through `rejected` and `replay`, every other variant
    /// moves over as it is.
    fn map_domain<F>(
        self,
        rejected: impl FnOnce(E) -> Error<F>,
        replay: impl FnOnce(&'static str, String, u64, E) -> Error<F>,
    ) -> Error<F> {
        match self {
            Error::Rejected(rejection) => rejected(rejection),
            Error::Replay {
                aggregate,
                id,
                version,
                source,
            } => replay(aggregate, id, version, source),
            Error::Conflict {
                aggregate,
                id,
                expected,
                actual,
            } => Error::Conflict {
                aggregate,
                id,
                expected,
                actual,
            },
            Error::NotFound { aggregate, id } => Error::NotFound { aggregate, id },
            Error::VersionNotFound {
                aggregate,
                id,
                version,
                latest,
            } => Error::VersionNotFound {
                aggregate,
                id,
                version,
                latest,
            },
            Error::TooLarge {
                aggregate,
                id,
                limit,
                actual,
                max,
            } => Error::TooLarge {
                aggregate,
                id,
                limit,
                actual,
                max,
            },
            Error::InvalidId {
                aggregate,
                id,
                reason,
            } => Error::InvalidId {
                aggregate,
                id,
                reason,
            },
            Error::InvalidName { name, reason } => Error::InvalidName { name, reason },
            Error::Forgotten {
                aggregate,
                id,
                subject,
            } => Error::Forgotten {
                aggregate,
                id,
                subject,
            },
            Error::InvalidKey { key, reason } => Error::InvalidKey { key, reason },
            Error::KeyReused {
                key,
                aggregate,
                id,
                previous,
            } => Error::KeyReused {
                key,
                aggregate,
                id,
                previous,
            },
            Error::Corrupt {
                aggregate,
                id,
                version,
                reason,
            } => Error::Corrupt {
                aggregate,
                id,
                version,
                reason,
            },
            Error::Encode {
                aggregate,
                id,
                version,
                reason,
            } => Error::Encode {
                aggregate,
                id,
                version,
                reason,
            },
            Error::UnknownEvent {
                name,
                aggregate,
                id,
                version,
            } => Error::UnknownEvent {
                name,
                aggregate,
                id,
                version,
            },
            Error::Store(e) => Error::Store(e),
        }
    }
}

/// A failure of the store itself, as opposed to a domain or consistency error.
///
/// It names the operation and, when the failure came from an operation on one
/// aggregate, that aggregate and id, and for a write the versions it tried to
/// write: `PutItem on Product "sku-1" writing version 3 failed: …`. A write
/// whose outcome is unknown says so: see [`StoreError::is_indeterminate`].
#[derive(Debug, thiserror::Error)]
#[error(
    "{operation}{}{} failed: {message}{unknown}{}",
    Subject(self.subject()),
    Versions(.more.as_ref().and_then(|m| m.versions)),
    Later(.more.as_ref().and_then(|m| m.later.as_deref()))
)]
pub struct StoreError {
    operation: &'static str,
    message: String,
    retryable: bool,
    unknown: Unknown,
    // Boxed, to keep `Error` small: results carry it on every path.
    more: Option<Box<More>>,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// The aggregate and id a store failure concerns, when there is one.
struct Subject<'a>(Option<&'a (&'static str, String)>);

impl fmt::Display for Subject<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some((aggregate, id)) => write!(f, " on {aggregate} {id:?}"),
            None => Ok(()),
        }
    }
}

/// What only some store errors tell.
#[derive(Debug, Default)]
struct More {
    /// The aggregate and id the failed operation was about.
    subject: Option<(&'static str, String)>,
    /// The first and last versions a failed write tried to write.
    versions: Option<(u64, u64)>,
    /// A failure that came after this one.
    later: Option<String>,
}

/// The versions a failed write tried to write, when known.
struct Versions(Option<(u64, u64)>);

impl fmt::Display for Versions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some((first, last)) if first == last => write!(f, " writing version {last}"),
            Some((first, last)) => write!(f, " writing versions {first} to {last}"),
            None => Ok(()),
        }
    }
}

/// Whether the failed operation was a write that may have landed.
#[derive(Debug, Default)]
struct Unknown(bool);

impl fmt::Display for Unknown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 {
            f.write_str("; the write may or may not have landed")
        } else {
            Ok(())
        }
    }
}

/// A failure that came after this one, such as the read that was to catch
/// up after the failed write: told, so that it does not hide the write's.
struct Later<'a>(Option<&'a str>);

impl fmt::Display for Later<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(later) => write!(f, "; then {later}"),
            None => Ok(()),
        }
    }
}

impl StoreError {
    /// A failure that retrying will not fix, such as a missing table or bad input.
    pub fn permanent(operation: &'static str, message: impl Into<String>) -> Self {
        StoreError {
            operation,
            message: message.into(),
            retryable: false,
            unknown: Unknown::default(),
            more: None,
            source: None,
        }
    }

    /// A failure that may pass, such as throttling or a timeout.
    pub fn transient(operation: &'static str, message: impl Into<String>) -> Self {
        StoreError {
            retryable: true,
            ..StoreError::permanent(operation, message)
        }
    }

    /// A write whose outcome is unknown: it may have reached the store and
    /// no answer came back, such as a timeout after the request was sent.
    /// Retryable, and [indeterminate](StoreError::is_indeterminate).
    pub fn indeterminate(operation: &'static str, message: impl Into<String>) -> Self {
        StoreError {
            unknown: Unknown(true),
            ..StoreError::transient(operation, message)
        }
    }

    /// Attaches the underlying error.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Names the aggregate and id the failed operation was about, unless a
    /// store already did.
    pub fn about(mut self, aggregate: &'static str, id: &str) -> Self {
        let more = self.more.get_or_insert_with(Box::default);
        if more.subject.is_none() {
            more.subject = Some((aggregate, id.to_owned()));
        }
        self
    }

    /// Names the versions, `first` to `last`, that the failed write tried
    /// to write, unless a store already did.
    pub fn writing(mut self, first: u64, last: u64) -> Self {
        let more = self.more.get_or_insert_with(Box::default);
        if more.versions.is_none() {
            more.versions = Some((first, last));
        }
        self
    }

    /// Tells of a failure that came after this one, such as the read that
    /// was to catch up after this failed write, so that the later failure
    /// never hides whether the write may have landed.
    pub fn then(mut self, what: impl fmt::Display) -> Self {
        let what = what.to_string();
        let more = self.more.get_or_insert_with(Box::default);
        more.later = Some(match more.later.take() {
            Some(earlier) => format!("{earlier}; then {what}"),
            None => what,
        });
        self
    }

    /// The aggregate the failed operation was about, when it was about one.
    pub fn aggregate(&self) -> Option<&'static str> {
        self.subject().map(|(aggregate, _)| *aggregate)
    }

    /// The id the failed operation was about, when it was about one.
    pub fn id(&self) -> Option<&str> {
        self.subject().map(|(_, id)| id.as_str())
    }

    fn subject(&self) -> Option<&(&'static str, String)> {
        self.more.as_ref().and_then(|m| m.subject.as_ref())
    }

    /// The store operation that failed, such as `"Query"` or `"PutItem"`.
    pub fn operation(&self) -> &'static str {
        self.operation
    }

    /// The versions, first and last, that the failed write tried to write,
    /// when it was a write on one aggregate.
    pub fn versions(&self) -> Option<(u64, u64)> {
        self.more.as_ref().and_then(|m| m.versions)
    }

    /// Whether a retry could help.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    /// Whether this was a write whose outcome is unknown: it may have
    /// landed (whole) or not. See [`Error::is_indeterminate`].
    pub fn is_indeterminate(&self) -> bool {
        self.unknown.0
    }
}

#[cfg(test)]
mod store_error_tests {
    use super::*;

    #[test]
    fn a_store_error_names_what_it_was_about_once() {
        let plain = StoreError::transient("Query", "throttled");
        assert_eq!(plain.to_string(), "Query failed: throttled");
        assert_eq!((plain.aggregate(), plain.id()), (None, None));

        let about = plain.about("Product", "sku 1").about("Cart", "c1");
        assert_eq!(
            about.to_string(),
            r#"Query on Product "sku 1" failed: throttled"#
        );
        assert_eq!(
            (about.aggregate(), about.id()),
            (Some("Product"), Some("sku 1"))
        );
        assert!(about.is_retryable());

        assert!(!about.is_indeterminate(), "a throttled read is not");

        let unknown = StoreError::indeterminate("PutItem", "the request timed out")
            .about("Product", "sku 1")
            .writing(3, 3)
            .writing(4, 5)
            .then("catching up failed: Query timed out");
        assert_eq!(
            unknown.to_string(),
            "PutItem on Product \"sku 1\" writing version 3 failed: the request timed out; \
             the write may or may not have landed; then catching up failed: Query timed out"
        );
        assert!(unknown.is_indeterminate() && unknown.is_retryable());
        assert_eq!(unknown.versions(), Some((3, 3)));
        assert!(Error::<Infallible>::Store(unknown).is_indeterminate());
        assert_eq!(
            StoreError::permanent("TransactWriteItems", "denied")
                .writing(2, 4)
                .to_string(),
            "TransactWriteItems writing versions 2 to 4 failed: denied"
        );

        let corrupt = |aggregate: &'static str, id: &str| -> Error {
            Error::Corrupt {
                aggregate: aggregate.into(),
                id: id.to_owned(),
                version: 3,
                reason: "bad".into(),
            }
        };
        assert_eq!(
            corrupt("Product", "sku-1").to_string(),
            r#"Product "sku-1" at version 3 is corrupt: bad"#
        );
        assert_eq!(
            corrupt("", "Other#x").to_string(),
            r#"item "Other#x" at version 3 is corrupt: bad"#
        );
        assert_eq!(
            corrupt("Product", "").to_string(),
            "an item of Product with no id at version 3 is corrupt: bad"
        );
        assert_eq!(
            corrupt("", "").to_string(),
            "an item with no key at version 3 is corrupt: bad"
        );
        assert!(!corrupt("P", "1").is_retryable() && !corrupt("P", "1").is_indeterminate());

        let conflict: Error = Error::Conflict {
            aggregate: "Product",
            id: "a".into(),
            expected: 1,
            actual: 2,
        };
        assert!(matches!(
            conflict.about("Cart", "b"),
            Error::Conflict {
                aggregate: "Product",
                ..
            }
        ));
    }
}
