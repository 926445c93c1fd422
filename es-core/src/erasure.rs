//! Erasure by crypto-shredding: personal fields of events and snapshots are
//! encrypted with a key of their data subject, and forgetting the subject
//! deletes the key, which erases every copy of those fields at once.
//!
//! Events are immutable and a table's stream, backups and downstream copies
//! keep them, so deleting personal data item by item cannot work. Instead:
//!
//! - an event declares its personal fields and the field naming whose data
//!   they are (`#[personal]` and `#[subject]` on `#[derive(Event)]` fields);
//! - on commit, each personal field's value is replaced by a [`Sealed`]
//!   string: AES-256-GCM under the subject's data key, the subject's id in
//!   clear in front, so a reader knows which key to ask for;
//! - each subject has one data key, kept by a [`KeyStore`] (in memory, or a
//!   DynamoDB key table with the key wrapped by KMS or a local master key);
//! - [`Vault::forget`] replaces the key by a tombstone. From then on every
//!   read (loads, histories, snapshot loads, projections, rebuilds, stream
//!   batches) sees the field's placeholder, never an error and never the old
//!   value, and no new key is ever made for that subject: a commit of new
//!   personal data for it fails with [`Error::Forgotten`].
//!
//! A [`Vault`] is given to a store (`MemoryStore::with_vault`,
//! `DynamoStore::with_vault`). Keys are cached per process, bounded in
//! number and in age ([`Vault::cache_ttl`]): a forget made in another
//! process is seen here within that age.
//!
//! The wire form of a sealed field is `es1.{subject}.{sealed}`, both parts
//! URL-safe base64 without padding; `{sealed}` is the 12-byte nonce, then
//! the ciphertext of the field's JSON and the 16-byte tag. The additional
//! authenticated data is `es1.{subject}`, so a sealed value cannot be
//! moved to another subject's record unnoticed.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::aggregate::Aggregate;
use crate::error::{Error, StoreError};
use crate::event::EventSet;
use crate::store::{Append, Commit, Committed, EventStore, StoredEvent};

/// The prefix of every sealed value: the format's version.
const PREFIX: &str = "es1";

/// What `#[derive(Event)]` (and `#[derive(Aggregate)]`, for snapshots)
/// records of a type's personal fields: the serialized names of the
/// subject field and of the personal fields, and each field's placeholder.
#[derive(Clone, Copy)]
pub struct Personal {
    subject: &'static str,
    fields: &'static [&'static str],
    placeholder: fn(&str) -> Option<Value>,
}

impl Personal {
    /// For the macros: `subject` and `fields` are serialized names;
    /// `placeholder` gives a field's replacement, serialized, by name.
    #[doc(hidden)]
    pub const fn new(
        subject: &'static str,
        fields: &'static [&'static str],
        placeholder: fn(&str) -> Option<Value>,
    ) -> Self {
        Personal {
            subject,
            fields,
            placeholder,
        }
    }

    /// The serialized name of the field naming the subject.
    pub fn subject(&self) -> &'static str {
        self.subject
    }

    /// The serialized names of the personal fields.
    pub fn fields(&self) -> &'static [&'static str] {
        self.fields
    }

    /// The value a reader sees in `field` once its subject is forgotten.
    fn placeholder(&self, field: &str) -> Value {
        (self.placeholder)(field).unwrap_or(Value::Null)
    }
}

impl fmt::Debug for Personal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Personal")
            .field("subject", &self.subject)
            .field("fields", &self.fields)
            .finish_non_exhaustive()
    }
}

/// A type that names a data subject: a string. The `#[subject]` field of an
/// event has one of these types.
#[diagnostic::on_unimplemented(
    message = "a `#[subject]` field must be a string, not `{Self}`",
    label = "not a string",
    note = "the subject names whose personal data the event holds, such as a customer id: use `String`"
)]
pub trait Subject {}

impl Subject for String {}
impl Subject for str {}
impl Subject for Box<str> {}
impl Subject for Arc<str> {}
impl Subject for std::borrow::Cow<'_, str> {}

/// A personal value, encrypted under its subject's key: what a personal
/// field holds in the store, and what a view may keep instead of the value
/// ([`Envelope::sealed`](crate::Envelope::sealed) hands it over as stored).
/// [`Vault::open`] reads it back, or says the subject is forgotten.
///
/// Its `Debug` shows the subject, never the ciphertext.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sealed(String);

impl Sealed {
    /// The subject whose key sealed it, or `None` when the text is not a
    /// sealed value.
    pub fn subject(&self) -> Option<String> {
        parse(&self.0).ok().map(|(subject, _)| subject)
    }

    /// The stored text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.subject() {
            Some(subject) => write!(f, "Sealed({subject:?})"),
            None => f.write_str("Sealed(<not sealed>)"),
        }
    }
}

/// A subject's data key: 32 random bytes for AES-256-GCM.
#[derive(Clone)]
pub struct DataKey(Arc<LessSafeKey>);

impl DataKey {
    /// A key from its 32 bytes, or `None` when there are not 32.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        UnboundKey::new(&AES_256_GCM, bytes)
            .ok()
            .map(|k| DataKey(Arc::new(LessSafeKey::new(k))))
    }

    /// A new random key, and its bytes (for a [`KeyWrap`] to wrap).
    pub fn generate() -> Result<(Self, [u8; 32]), StoreError> {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes)
            .map_err(|_| StoreError::permanent("generate key", "no randomness available"))?;
        let key = DataKey::from_bytes(&bytes)
            .ok_or_else(|| StoreError::permanent("generate key", "AES-256-GCM refused a key"))?;
        Ok((key, bytes))
    }

    fn seal(&self, aad: &str, plaintext: &[u8]) -> Result<Vec<u8>, String> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| "no randomness for a nonce".to_owned())?;
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + 16);
        out.extend_from_slice(&nonce);
        let mut in_out = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_bytes()),
                &mut in_out,
            )
            .map_err(|_| "AES-256-GCM refused to seal".to_owned())?;
        out.extend_from_slice(&in_out);
        Ok(out)
    }

    fn open(&self, aad: &str, sealed: &[u8]) -> Result<Vec<u8>, String> {
        if sealed.len() < NONCE_LEN + 16 {
            return Err(format!("{} bytes is too short to be sealed", sealed.len()));
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| "bad nonce".to_owned())?;
        let mut in_out = body.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut in_out)
            .map_err(|_| {
                "it does not open with its subject's key (tampered, or sealed by another key)"
                    .to_owned()
            })?;
        Ok(plain.to_vec())
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(..)")
    }
}

/// What a [`KeyStore`] holds for one subject.
#[derive(Clone, Debug)]
pub enum KeyState {
    /// The subject's key.
    Key(DataKey),
    /// The subject was forgotten: its key is gone, and never comes back.
    Forgotten,
    /// No key and no tombstone: nothing was ever sealed for this subject
    /// (or the key table is not the one the writer used).
    Absent,
}

/// Where subjects' data keys live. [`MemoryKeys`] keeps them in the
/// process; es-dynamo's `DynamoKeys` keeps them in a DynamoDB table,
/// wrapped by KMS or a local master key ([`KeyWrap`]).
///
/// The contract every implementation keeps:
/// - `fetch` with `create` makes a key for each subject that has neither a
///   key nor a tombstone, and two processes creating one subject's key at
///   once end with the same key;
/// - a tombstone is never replaced by a key.
pub trait KeyStore: Send + Sync + 'static {
    /// The state of each of `subjects`, in any order; with `create`, absent
    /// subjects get a new key first.
    fn fetch<'a>(
        &'a self,
        subjects: &'a [String],
        create: bool,
    ) -> BoxFuture<'a, Result<Vec<(String, KeyState)>, StoreError>>;

    /// Deletes `subject`'s key and leaves a tombstone in its place.
    fn forget<'a>(&'a self, subject: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// Wraps data keys for a key table: KMS in production (es-dynamo's
/// `KmsWrap`), [`LocalMasterKey`] in development.
pub trait KeyWrap: Send + Sync + 'static {
    /// A new data key for `subject`, and its wrapped bytes to store.
    fn generate<'a>(
        &'a self,
        subject: &'a str,
    ) -> BoxFuture<'a, Result<(DataKey, Vec<u8>), StoreError>>;

    /// The data key of `subject` from its wrapped bytes.
    fn unwrap_key<'a>(
        &'a self,
        subject: &'a str,
        wrapped: &'a [u8],
    ) -> BoxFuture<'a, Result<DataKey, StoreError>>;

    /// What wraps the keys, as a key table records it beside each wrapped
    /// key (es-dynamo's `wrappedBy`): `"local"` for [`LocalMasterKey`], the
    /// KMS key's id for KMS. It lets an operator tell which master key a
    /// table's keys need, and an error say which one a key that does not
    /// unwrap was made with.
    fn wrapped_by(&self) -> &str {
        "unnamed"
    }
}

/// A master key held by the process, for development and tests: data keys
/// are wrapped with AES-256-GCM under it, bound to their subject. Anyone
/// with the master key and the key table can read every subject's data, so
/// production uses KMS.
#[derive(Clone)]
pub struct LocalMasterKey(DataKey);

impl LocalMasterKey {
    /// A master key from its 32 bytes, or `None` when there are not 32.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        DataKey::from_bytes(bytes).map(LocalMasterKey)
    }

    /// A master key from URL-safe base64 without padding (as
    /// [`LocalMasterKey::generate_text`] prints), such as an environment
    /// variable's value.
    pub fn from_base64(text: &str) -> Result<Self, String> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text.trim())
            .map_err(|e| format!("the master key is not URL-safe base64: {e}"))?;
        LocalMasterKey::from_bytes(&bytes)
            .ok_or_else(|| format!("the master key has {} bytes, not 32", bytes.len()))
    }

    /// A new random master key, as text for [`LocalMasterKey::from_base64`].
    pub fn generate_text() -> Result<String, StoreError> {
        let (_, bytes) = DataKey::generate()?;
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// A new random master key, for tests and processes that need one only
    /// while they run (data sealed under it is unreadable once it is gone).
    pub fn random() -> Result<Self, StoreError> {
        DataKey::generate().map(|(key, _)| LocalMasterKey(key))
    }
}

impl fmt::Debug for LocalMasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LocalMasterKey(..)")
    }
}

impl KeyWrap for LocalMasterKey {
    fn generate<'a>(
        &'a self,
        subject: &'a str,
    ) -> BoxFuture<'a, Result<(DataKey, Vec<u8>), StoreError>> {
        Box::pin(async move {
            let (key, bytes) = DataKey::generate()?;
            let wrapped = self
                .0
                .seal(&wrap_aad(subject), &bytes)
                .map_err(|e| StoreError::permanent("wrap key", e))?;
            Ok((key, wrapped))
        })
    }

    fn unwrap_key<'a>(
        &'a self,
        subject: &'a str,
        wrapped: &'a [u8],
    ) -> BoxFuture<'a, Result<DataKey, StoreError>> {
        Box::pin(async move {
            let bytes = self.0.open(&wrap_aad(subject), wrapped).map_err(|e| {
                StoreError::permanent(
                    "unwrap key",
                    format!(
                        "the key of subject {subject:?} does not unwrap with this master key: {e}"
                    ),
                )
            })?;
            DataKey::from_bytes(&bytes).ok_or_else(|| {
                StoreError::permanent(
                    "unwrap key",
                    format!(
                        "the key of subject {subject:?} has {} bytes, not 32",
                        bytes.len()
                    ),
                )
            })
        })
    }

    fn wrapped_by(&self) -> &str {
        "local"
    }
}

fn wrap_aad(subject: &str) -> String {
    format!("es-key.{subject}")
}

/// Keys in the process, for the in-memory store, examples and tests. Its
/// clones share the keys; they are lost with the process, as everything
/// the in-memory store holds.
#[derive(Clone, Debug, Default)]
pub struct MemoryKeys {
    keys: Arc<Mutex<HashMap<String, Option<DataKey>>>>,
}

impl MemoryKeys {
    /// No keys yet.
    pub fn new() -> Self {
        MemoryKeys::default()
    }
}

impl KeyStore for MemoryKeys {
    fn fetch<'a>(
        &'a self,
        subjects: &'a [String],
        create: bool,
    ) -> BoxFuture<'a, Result<Vec<(String, KeyState)>, StoreError>> {
        Box::pin(async move {
            let mut keys = self
                .keys
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let mut out = Vec::with_capacity(subjects.len());
            for subject in subjects {
                let state = match keys.get(subject) {
                    Some(Some(key)) => KeyState::Key(key.clone()),
                    Some(None) => KeyState::Forgotten,
                    None if create => {
                        let (key, _) = DataKey::generate()?;
                        keys.insert(subject.clone(), Some(key.clone()));
                        KeyState::Key(key)
                    }
                    None => KeyState::Absent,
                };
                out.push((subject.clone(), state));
            }
            Ok(out)
        })
    }

    fn forget<'a>(&'a self, subject: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.keys
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .insert(subject.to_owned(), None);
            Ok(())
        })
    }
}

/// A subject's key as a read sees it.
#[derive(Clone, Debug)]
pub(crate) enum Entry {
    Key(DataKey),
    Forgotten,
    Absent,
}

/// The keys one read or commit needs, fetched together.
#[derive(Debug, Default)]
pub(crate) struct Ring(HashMap<String, Entry>);

/// Counters of a [`Vault`]: what keys cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VaultStats {
    /// Subjects answered from the process's cache.
    pub hits: u64,
    /// Subjects the key store was asked for.
    pub fetched: u64,
    /// Calls to the key store (each may cover many subjects).
    pub fetches: u64,
    /// Subjects forgotten through this vault.
    pub forgotten: u64,
}

/// The keys of data subjects, as a store uses them: cached per process,
/// bounded in number and age, in front of a [`KeyStore`]. Clones share the
/// cache.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use es::erasure::Vault;
/// let vault = Vault::in_memory();
/// let sealed = vault.seal("customer-1", &"1 Main St").await?;
/// assert_eq!(vault.open::<String>(&sealed).await?.as_deref(), Some("1 Main St"));
/// vault.forget("customer-1").await?;
/// assert_eq!(vault.open::<String>(&sealed).await?, None);
/// # Ok::<_, es::Error>(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct Vault {
    inner: Arc<Inner>,
}

struct Inner {
    keys: Box<dyn KeyStore>,
    cache: quick_cache::sync::Cache<String, (Entry, Instant)>,
    ttl: Duration,
    hits: AtomicU64,
    fetched: AtomicU64,
    fetches: AtomicU64,
    forgotten: AtomicU64,
}

/// How many subjects' keys a vault keeps by default.
pub const DEFAULT_CACHED_KEYS: usize = 10_000;
/// How long a vault trusts a cached key by default: the longest a forget in
/// another process goes unseen here.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(60);

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("cached", &self.inner.cache.len())
            .field("ttl", &self.inner.ttl)
            .field("stats", &self.stats())
            .finish()
    }
}

/// The vault [`MemoryStore`](crate::MemoryStore) starts with: keys in the
/// process.
impl Default for Vault {
    fn default() -> Self {
        Vault::in_memory()
    }
}

impl Vault {
    /// A vault in front of `keys`, caching up to [`DEFAULT_CACHED_KEYS`]
    /// keys for [`DEFAULT_CACHE_TTL`].
    pub fn new(keys: impl KeyStore) -> Self {
        Vault::build(Box::new(keys), DEFAULT_CACHED_KEYS, DEFAULT_CACHE_TTL)
    }

    /// A vault with its keys in the process ([`MemoryKeys`]).
    pub fn in_memory() -> Self {
        Vault::new(MemoryKeys::new())
    }

    fn build(keys: Box<dyn KeyStore>, capacity: usize, ttl: Duration) -> Self {
        Vault {
            inner: Arc::new(Inner {
                keys,
                cache: quick_cache::sync::Cache::new(capacity.max(1)),
                ttl,
                hits: AtomicU64::new(0),
                fetched: AtomicU64::new(0),
                fetches: AtomicU64::new(0),
                forgotten: AtomicU64::new(0),
            }),
        }
    }

    /// How long a cached key is trusted: a forget made by another process
    /// takes effect here at most this long after it. `Duration::ZERO`
    /// asks the key store on every read. Keeps the key store; the cache
    /// starts empty.
    pub fn cache_ttl(self, ttl: Duration) -> Self {
        let capacity = self.inner.cache.capacity() as usize;
        Vault::rebuild(self, capacity, ttl)
    }

    /// How many subjects' keys are cached, at most. Keeps the key store;
    /// the cache starts empty.
    pub fn cache_capacity(self, entries: usize) -> Self {
        let ttl = self.inner.ttl;
        Vault::rebuild(self, entries, ttl)
    }

    fn rebuild(self, capacity: usize, ttl: Duration) -> Self {
        match Arc::try_unwrap(self.inner) {
            Ok(inner) => Vault::build(inner.keys, capacity, ttl),
            // A configured vault is shared already: keep it as it is, and
            // say so, rather than build a second cache beside the first.
            Err(inner) => {
                tracing::warn!("Vault settings changed after it was shared; ignored");
                Vault { inner }
            }
        }
    }

    /// What keys cost this vault so far.
    pub fn stats(&self) -> VaultStats {
        VaultStats {
            hits: self.inner.hits.load(Ordering::Relaxed),
            fetched: self.inner.fetched.load(Ordering::Relaxed),
            fetches: self.inner.fetches.load(Ordering::Relaxed),
            forgotten: self.inner.forgotten.load(Ordering::Relaxed),
        }
    }

    /// Forgets `subject`: deletes its key and leaves a tombstone, so that
    /// every personal field sealed for it reads as its placeholder from
    /// now on, everywhere, and no key is ever made for it again. Forgetting
    /// a subject twice, or one with no key, is no error.
    #[tracing::instrument(name = "es.forget", skip(self))]
    pub async fn forget(&self, subject: &str) -> Result<(), Error> {
        check_subject(subject)?;
        self.inner
            .keys
            .forget(subject)
            .await
            .map_err(|e| e.then(format_args!("forgetting subject {subject:?}")))?;
        self.inner
            .cache
            .insert(subject.to_owned(), (Entry::Forgotten, Instant::now()));
        self.inner.forgotten.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Whether `subject` was forgotten.
    pub async fn is_forgotten(&self, subject: &str) -> Result<bool, Error> {
        let ring = self.ring([subject.to_owned()], false).await?;
        Ok(matches!(ring.0.get(subject), Some(Entry::Forgotten)))
    }

    /// Seals `value` under `subject`'s key, making the key if there is none:
    /// for a view that keeps a personal value of its own. Fails with
    /// [`Error::Forgotten`] once the subject is forgotten.
    pub async fn seal<T: Serialize + ?Sized>(
        &self,
        subject: &str,
        value: &T,
    ) -> Result<Sealed, Error> {
        check_subject(subject)?;
        let value = serde_json::to_value(value).map_err(|e| {
            Error::from(StoreError::permanent(
                "seal",
                format!("cannot encode the value: {e}"),
            ))
        })?;
        let ring = self.ring([subject.to_owned()], true).await?;
        match ring.seal(subject, &value) {
            Ok(sealed) => Ok(sealed),
            Err(SealError::Forgotten) => Err(Error::Forgotten {
                aggregate: "",
                id: String::new(),
                subject: subject.to_owned(),
            }),
            Err(SealError::Other(reason)) => Err(StoreError::permanent("seal", reason).into()),
        }
    }

    /// Opens a sealed value: `Some` with the value, or `None` once its
    /// subject is forgotten. Fails when the text is not a sealed value, it
    /// does not open with its subject's key, or it does not decode as `T`.
    pub async fn open<T: DeserializeOwned>(&self, sealed: &Sealed) -> Result<Option<T>, Error> {
        let bad = |reason: String| Error::from(StoreError::permanent("open", reason));
        let (subject, _) = parse(&sealed.0).map_err(bad)?;
        let ring = self.ring([subject.clone()], false).await?;
        match ring.open(&sealed.0).map_err(bad)? {
            Opened::Value(value) => serde_json::from_value(value)
                .map(Some)
                .map_err(|e| bad(format!("the sealed value of subject {subject:?}: {e}"))),
            Opened::Forgotten => Ok(None),
            Opened::Absent => Err(bad(absent(&subject))),
        }
    }

    /// The keys of `subjects`, from the cache where it has them fresh.
    pub(crate) async fn ring(
        &self,
        subjects: impl IntoIterator<Item = String>,
        create: bool,
    ) -> Result<Ring, Error> {
        let now = Instant::now();
        let mut ring = Ring::default();
        let mut missing = Vec::new();
        for subject in subjects {
            if ring.0.contains_key(&subject) || missing.contains(&subject) {
                continue;
            }
            match self.inner.cache.get(&subject) {
                // An absent key is never cached: it may be made any moment.
                Some((entry, at))
                    if !matches!(entry, Entry::Absent)
                        && (matches!(entry, Entry::Forgotten)
                            || now.duration_since(at) < self.inner.ttl) =>
                {
                    self.inner.hits.fetch_add(1, Ordering::Relaxed);
                    ring.0.insert(subject, entry);
                }
                _ => missing.push(subject),
            }
        }
        if missing.is_empty() {
            return Ok(ring);
        }
        self.inner.fetches.fetch_add(1, Ordering::Relaxed);
        self.inner
            .fetched
            .fetch_add(missing.len() as u64, Ordering::Relaxed);
        let fetched = self.inner.keys.fetch(&missing, create).await.map_err(|e| {
            e.then(format_args!(
                "reading the keys of {} subjects",
                missing.len()
            ))
        })?;
        for (subject, state) in fetched {
            let entry = match state {
                KeyState::Key(key) => Entry::Key(key),
                KeyState::Forgotten => Entry::Forgotten,
                KeyState::Absent => Entry::Absent,
            };
            if !matches!(entry, Entry::Absent) {
                self.inner
                    .cache
                    .insert(subject.clone(), (entry.clone(), Instant::now()));
            }
            ring.0.insert(subject, entry);
        }
        Ok(ring)
    }
}

fn check_subject(subject: &str) -> Result<(), Error> {
    if subject.is_empty() {
        return Err(StoreError::permanent("seal", "a subject must not be empty").into());
    }
    Ok(())
}

fn absent(subject: &str) -> String {
    format!(
        "subject {subject:?} has neither a key nor a tombstone in the key table: \
         is this the key table its data was sealed with?"
    )
}

pub(crate) enum SealError {
    Forgotten,
    Other(String),
}

/// What a sealed value holds for a reader.
pub(crate) enum Opened {
    Value(Value),
    Forgotten,
    Absent,
}

impl Ring {
    fn seal(&self, subject: &str, value: &Value) -> Result<Sealed, SealError> {
        let key = match self.0.get(subject) {
            Some(Entry::Key(key)) => key,
            Some(Entry::Forgotten) => return Err(SealError::Forgotten),
            _ => return Err(SealError::Other(format!("no key for subject {subject:?}"))),
        };
        let header = format!("{PREFIX}.{}", URL_SAFE_NO_PAD.encode(subject));
        let plaintext = serde_json::to_vec(value).map_err(|e| SealError::Other(e.to_string()))?;
        let sealed = key.seal(&header, &plaintext).map_err(SealError::Other)?;
        Ok(Sealed(format!(
            "{header}.{}",
            URL_SAFE_NO_PAD.encode(sealed)
        )))
    }

    pub(crate) fn open(&self, text: &str) -> Result<Opened, String> {
        let (subject, body) = parse(text)?;
        match self.0.get(&subject) {
            Some(Entry::Key(key)) => {
                let header = &text[..text.len() - body.len() - 1];
                let plain = key.open(
                    header,
                    &URL_SAFE_NO_PAD.decode(body).map_err(|e| {
                        format!("the sealed value of subject {subject:?} is not base64: {e}")
                    })?,
                )?;
                serde_json::from_slice(&plain)
                    .map(Opened::Value)
                    .map_err(|e| format!("the sealed value of subject {subject:?}: {e}"))
            }
            Some(Entry::Forgotten) => Ok(Opened::Forgotten),
            Some(Entry::Absent) | None => Ok(Opened::Absent),
        }
    }
}

/// The subject and the sealed part of a sealed value's text.
fn parse(text: &str) -> Result<(String, &str), String> {
    let not = || "not a sealed value (expected `es1.{subject}.{sealed}`)".to_owned();
    let rest = text
        .strip_prefix(PREFIX)
        .and_then(|r| r.strip_prefix('.'))
        .ok_or_else(not)?;
    let (subject, body) = rest.split_once('.').ok_or_else(not)?;
    let subject = URL_SAFE_NO_PAD
        .decode(subject)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(not)?;
    Ok((subject, body))
}

/// The subject a payload's personal fields are sealed for, from its subject
/// field, checked.
pub(crate) fn subject_of<'v>(value: &'v Value, personal: &Personal) -> Result<&'v str, String> {
    match value.get(personal.subject) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) => Err(format!("the subject field `{}` is empty", personal.subject)),
        Some(other) => Err(format!(
            "the subject field `{}` is not a string but {other}",
            personal.subject
        )),
        None => Err(format!(
            "the payload has no subject field `{}` (is it skipped by serde?)",
            personal.subject
        )),
    }
}

/// Replaces each personal field of `value` with its sealed form.
pub(crate) fn seal_value(
    value: &mut Value,
    personal: &Personal,
    ring: &Ring,
) -> Result<(), SealError> {
    let subject = subject_of(value, personal)
        .map_err(SealError::Other)?
        .to_owned();
    let Value::Object(fields) = value else {
        return Err(SealError::Other("the payload is not a map".to_owned()));
    };
    for name in personal.fields {
        // A field serde skipped (as `skip_serializing_if`) holds nothing
        // to seal.
        if let Some(field) = fields.get_mut(*name) {
            let sealed = ring.seal(&subject, field)?;
            *field = Value::String(sealed.0);
        }
    }
    Ok(())
}

/// The subjects whose keys opening `value`'s sealed fields needs.
pub(crate) fn sealed_subjects(value: &Value, personal: &Personal, into: &mut Vec<String>) {
    for name in personal.fields {
        if let Some(Value::String(text)) = value.get(*name) {
            if let Ok((subject, _)) = parse(text) {
                into.push(subject);
            }
        }
    }
}

/// Opens each sealed personal field of `value` in place, or puts its
/// placeholder there when its subject is forgotten. Returns the sealed
/// texts, by field, for [`Envelope::sealed`](crate::Envelope::sealed).
pub(crate) fn open_value(
    value: &mut Value,
    personal: &Personal,
    ring: &Ring,
) -> Result<BTreeMap<String, Sealed>, String> {
    let mut sealed = BTreeMap::new();
    let Value::Object(fields) = value else {
        return Ok(sealed);
    };
    for name in personal.fields {
        let Some(field) = fields.get_mut(*name) else {
            continue;
        };
        let Value::String(text) = field else {
            // Written before the field was personal, or by a writer that
            // does not seal: plaintext, as it was stored.
            continue;
        };
        if !text.starts_with(PREFIX) || parse(text).is_err() {
            continue;
        }
        let opened = ring
            .open(text)
            .map_err(|e| format!("personal field `{name}`: {e}"))?;
        let text = std::mem::take(text);
        *field = match opened {
            Opened::Value(v) => v,
            Opened::Forgotten => personal.placeholder(name),
            Opened::Absent => {
                let subject = parse(&text).map(|(s, _)| s).unwrap_or_default();
                return Err(format!("personal field `{name}`: {}", absent(&subject)));
            }
        };
        sealed.insert((*name).to_owned(), Sealed(text));
    }
    Ok(sealed)
}

/// Where the personal fields of one aggregate's records are: its events'
/// (by stored name) and its snapshots'. A commit keeps one per append, so
/// that sealing, just before the write, knows each append's types.
#[derive(Clone, Copy)]
pub(crate) struct Sealing {
    events: fn(&str) -> Option<&'static Personal>,
    state: Option<&'static Personal>,
    any: bool,
}

impl Sealing {
    pub(crate) fn of<A: Aggregate>() -> Self {
        Sealing {
            events: <A::Event as EventSet>::personal_of,
            state: A::PERSONAL,
            any: <A::Event as EventSet>::ANY_PERSONAL || A::PERSONAL.is_some(),
        }
    }
}

/// Whether an aggregate's snapshots are left out: its events carry personal
/// data its state may hold, and the state declares no personal fields of
/// its own to seal.
pub(crate) fn snapshots_left_out<A: Aggregate>() -> bool {
    <A::Event as EventSet>::ANY_PERSONAL && A::PERSONAL.is_none()
}

fn no_vault(what: &str) -> String {
    format!(
        "{what}, but the store has no vault: give it one with `with_vault` \
         (es::erasure::Vault; MemoryStore has one by default)"
    )
}

/// One payload or snapshot of a commit to seal: where it is, its decoded
/// value, what of it is personal, and whose it is.
struct ToSeal {
    append: usize,
    event: usize,
    is_state: bool,
    value: Value,
    personal: &'static Personal,
    subject: String,
}

/// Seals the personal fields of every append's events and snapshots, in
/// place, making keys for new subjects. `sealings[i]` describes
/// `appends[i]`. Nothing is done, and nothing read, for appends without
/// personal data.
pub(crate) async fn seal<S: EventStore>(
    store: &S,
    appends: &mut [Append<S::Payload>],
    sealings: &[Sealing],
) -> Result<(), Error> {
    if !sealings.iter().any(|s| s.any) {
        return Ok(());
    }
    // Decoded once: the subjects are read from them, then they are sealed.
    let mut decoded: Vec<ToSeal> = Vec::new();
    let mut unsealable = Vec::new();
    for (a, (append, sealing)) in appends.iter().zip(sealings).enumerate() {
        if !sealing.any {
            continue;
        }
        for (e, event) in append.events.iter().enumerate() {
            let encode = |reason: String| Error::Encode {
                aggregate: append.aggregate,
                id: append.id.clone(),
                version: event.version,
                reason,
            };
            let mut parts = Vec::new();
            if let (Some(personal), Some(payload)) = ((sealing.events)(&event.name), &event.payload)
            {
                parts.push((false, personal, payload));
            }
            if let (Some(personal), Some(snapshot)) = (sealing.state, &event.snapshot) {
                parts.push((true, personal, &snapshot.state));
            }
            for (is_state, personal, payload) in parts {
                let value: Value = store
                    .decode(std::marker::PhantomData::<Value>, payload.clone())
                    .map_err(|e| encode(format!("cannot read back its payload to seal it: {e}")))?;
                let subject = match subject_of(&value, personal) {
                    Ok(subject) => subject.to_owned(),
                    // A state whose subject is not known yet (an aggregate
                    // whose first events name nobody) has no key to seal it
                    // under: its snapshot is left out, and loads replay.
                    Err(_) if is_state => {
                        unsealable.push((a, e));
                        continue;
                    }
                    Err(why) => {
                        return Err(encode(format!(
                            "{} has personal fields, but {why}",
                            event.name
                        )))
                    }
                };
                decoded.push(ToSeal {
                    append: a,
                    event: e,
                    is_state,
                    value,
                    personal,
                    subject,
                });
            }
        }
    }
    for (a, e) in unsealable {
        appends[a].events[e].snapshot = None;
    }
    let Some(first) = decoded.first() else {
        return Ok(());
    };
    let Some(vault) = store.vault() else {
        let append = &appends[first.append];
        return Err(Error::Encode {
            aggregate: append.aggregate,
            id: append.id.clone(),
            version: append.events[first.event].version,
            reason: no_vault(&format!(
                "{} has personal fields",
                append.events[first.event].name
            )),
        });
    };
    let ring = vault
        .ring(decoded.iter().map(|d| d.subject.clone()), true)
        .await?;
    for mut part in decoded {
        let append = &mut appends[part.append];
        let event = &mut append.events[part.event];
        match seal_value(&mut part.value, part.personal, &ring) {
            Ok(()) => {}
            // A snapshot is a cache of the events: one of a forgotten
            // subject's state is left out, and never blocks the commit.
            Err(SealError::Forgotten) if part.is_state => {
                event.snapshot = None;
                continue;
            }
            Err(SealError::Forgotten) => {
                return Err(Error::Forgotten {
                    aggregate: append.aggregate,
                    id: append.id.clone(),
                    subject: part.subject,
                })
            }
            Err(SealError::Other(reason)) => {
                return Err(Error::Encode {
                    aggregate: append.aggregate,
                    id: append.id.clone(),
                    version: event.version,
                    reason: format!("cannot seal its personal fields: {reason}"),
                })
            }
        }
        let encoded = store.encode(&part.value).map_err(|e| Error::Encode {
            aggregate: append.aggregate,
            id: append.id.clone(),
            version: event.version,
            reason: format!("cannot encode its sealed payload: {e}"),
        })?;
        if part.is_state {
            if let Some(snapshot) = &mut event.snapshot {
                snapshot.state = encoded;
            }
        } else {
            event.payload = Some(encoded);
        }
    }
    Ok(())
}

/// Seals the commit's personal data ([`seal`]), then writes it: what every
/// commit in es-core goes through.
pub(crate) async fn commit<S: EventStore>(
    store: &S,
    mut commit: Commit<S::Payload>,
    sealings: &[Sealing],
) -> Result<Committed, Error> {
    seal(store, &mut commit.appends, sealings).await?;
    store.commit(commit).await
}

/// Opens the sealed personal fields of stored events of aggregate `A` in
/// place (their payloads and snapshots), as every load does before it
/// decodes them, or puts their placeholders there once the subject is
/// forgotten. For a store's own reads outside a load, such as a stream's.
pub async fn open_stored<A: Aggregate, S: EventStore>(
    store: &S,
    id: &str,
    items: &mut [StoredEvent<S::Payload>],
) -> Result<(), Error> {
    let sealing = Sealing::of::<A>();
    if !sealing.any {
        return Ok(());
    }
    let mut refs: Vec<&mut StoredEvent<S::Payload>> = items.iter_mut().collect();
    open(
        store,
        A::NAME,
        id,
        &sealing.events,
        sealing.state,
        &mut refs,
    )
    .await
    .map(drop)
}

/// Opens, in place, the sealed personal fields of stored events of one
/// aggregate (payloads and snapshots), or puts their placeholders there
/// for forgotten subjects. Returns, per event, the sealed values as stored,
/// by field. Events without personal fields cost nothing.
pub(crate) async fn open<S: EventStore>(
    store: &S,
    aggregate: &str,
    id: &str,
    lookup: &(dyn Fn(&str) -> Option<&'static Personal> + Sync),
    state: Option<&'static Personal>,
    events: &mut [&mut StoredEvent<S::Payload>],
) -> Result<Vec<BTreeMap<String, Sealed>>, Error> {
    let mut sealed = Vec::new();
    let mut decoded: Vec<(usize, bool, Value, &'static Personal)> = Vec::new();
    let mut subjects = Vec::new();
    for (i, event) in events.iter().enumerate() {
        let corrupt = |reason: String| Error::Corrupt {
            aggregate: aggregate.to_owned().into(),
            id: id.to_owned(),
            version: event.version,
            reason,
        };
        let mut parts = Vec::new();
        if let (Some(personal), Some(payload)) = (lookup(&event.name), &event.payload) {
            parts.push((false, personal, payload));
        }
        if let (Some(personal), Some(snapshot)) = (state, &event.snapshot) {
            parts.push((true, personal, &snapshot.state));
        }
        for (is_state, personal, payload) in parts {
            let value: Value =
                match store.decode(std::marker::PhantomData::<Value>, payload.clone()) {
                    Ok(value) => value,
                    // The load's own decoding names what is wrong.
                    Err(_) if !is_state => continue,
                    Err(e) => return Err(corrupt(format!("snapshot: {e}"))),
                };
            let before = subjects.len();
            sealed_subjects(&value, personal, &mut subjects);
            if subjects.len() > before {
                decoded.push((i, is_state, value, personal));
            }
        }
    }
    if decoded.is_empty() {
        return Ok(sealed);
    }
    let Some(vault) = store.vault() else {
        let (i, _, _, _) = decoded[0];
        return Err(Error::Corrupt {
            aggregate: aggregate.to_owned().into(),
            id: id.to_owned(),
            version: events[i].version,
            reason: no_vault(&format!("{} holds sealed personal fields", events[i].name)),
        });
    };
    let ring = vault.ring(subjects, false).await?;
    sealed.resize_with(events.len(), BTreeMap::new);
    for (i, is_state, mut value, personal) in decoded {
        let event = &mut events[i];
        let corrupt = |reason: String| Error::Corrupt {
            aggregate: aggregate.to_owned().into(),
            id: id.to_owned(),
            version: event.version,
            reason,
        };
        let fields = open_value(&mut value, personal, &ring).map_err(|e| {
            corrupt(format!(
                "{}: {e}",
                if is_state { "snapshot" } else { &event.name }
            ))
        })?;
        let encoded = store
            .encode(&value)
            .map_err(|e| corrupt(format!("cannot encode its opened payload: {e}")))?;
        if is_state {
            if let Some(snapshot) = &mut event.snapshot {
                snapshot.state = encoded;
            }
        } else {
            event.payload = Some(encoded);
            sealed[i] = fields;
        }
    }
    Ok(sealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn personal() -> Personal {
        fn placeholder(field: &str) -> Option<Value> {
            (field == "email").then(|| Value::String("[erased]".into()))
        }
        Personal::new("customer", &["email", "address"], placeholder)
    }

    #[tokio::test]
    async fn seals_opens_and_forgets() {
        let vault = Vault::in_memory();
        let p = personal();
        let mut value = serde_json::json!({
            "customer": "c-1", "email": "a@example.com", "address": {"street": "1 Main St"}, "n": 3
        });
        let ring = vault.ring(["c-1".to_owned()], true).await.unwrap();
        assert!(seal_value(&mut value, &p, &ring).is_ok());
        let text = value.to_string();
        assert!(
            !text.contains("a@example.com") && !text.contains("Main St"),
            "{text}"
        );
        let mut subjects = Vec::new();
        sealed_subjects(&value, &p, &mut subjects);
        assert_eq!(subjects, ["c-1", "c-1"]);

        let mut opened = value.clone();
        let sealed = open_value(&mut opened, &p, &ring).unwrap();
        assert_eq!(opened["email"], "a@example.com");
        assert_eq!(opened["address"]["street"], "1 Main St");
        assert_eq!(sealed.len(), 2);

        vault.forget("c-1").await.unwrap();
        let ring = vault.ring(["c-1".to_owned()], false).await.unwrap();
        let mut forgotten = value.clone();
        open_value(&mut forgotten, &p, &ring).unwrap();
        assert_eq!(forgotten["email"], "[erased]");
        assert_eq!(forgotten["address"], Value::Null);
        assert_eq!(forgotten["n"], 3);
        // No key is made again.
        let ring = vault.ring(["c-1".to_owned()], true).await.unwrap();
        assert!(matches!(ring.0.get("c-1"), Some(Entry::Forgotten)));
    }

    #[tokio::test]
    async fn a_tampered_or_moved_value_does_not_open() {
        let vault = Vault::in_memory();
        let a = vault.seal("a", &"secret").await.unwrap();
        let b = vault.seal("b", &"other").await.unwrap();
        // a's ciphertext under b's header: the subject is authenticated.
        let (_, body) = parse(&a.0).unwrap();
        let moved = Sealed(format!("{PREFIX}.{}.{body}", URL_SAFE_NO_PAD.encode("b")));
        assert!(vault.open::<String>(&moved).await.is_err());
        let mut tampered = b.0.clone();
        tampered.pop();
        tampered.push(if b.0.ends_with('A') { 'B' } else { 'A' });
        assert!(vault.open::<String>(&Sealed(tampered)).await.is_err());
        assert!(vault.open::<String>(&Sealed("plain".into())).await.is_err());
    }

    #[tokio::test]
    async fn local_master_key_wraps_per_subject() {
        let master = LocalMasterKey::random().unwrap();
        let (key, wrapped) = master.generate("s").await.unwrap();
        let again = master.unwrap_key("s", &wrapped).await.unwrap();
        let ring = Ring(HashMap::from([("s".to_owned(), Entry::Key(key))]));
        let sealed = ring.seal("s", &Value::from(5)).ok().unwrap();
        let ring2 = Ring(HashMap::from([("s".to_owned(), Entry::Key(again))]));
        assert!(matches!(ring2.open(&sealed.0), Ok(Opened::Value(v)) if v == 5));
        // Bound to its subject.
        assert!(master.unwrap_key("t", &wrapped).await.is_err());
        assert!(LocalMasterKey::from_base64("short").is_err());
    }

    #[tokio::test]
    async fn cache_hits_until_ttl() {
        let vault = Vault::in_memory();
        vault.ring(["x".to_owned()], true).await.unwrap();
        vault.ring(["x".to_owned()], false).await.unwrap();
        let s = vault.stats();
        assert_eq!((s.fetches, s.hits), (1, 1));
        let vault = Vault::in_memory().cache_ttl(Duration::ZERO);
        vault.ring(["x".to_owned()], true).await.unwrap();
        vault.ring(["x".to_owned()], false).await.unwrap();
        assert_eq!(vault.stats().fetches, 2);
    }
}
