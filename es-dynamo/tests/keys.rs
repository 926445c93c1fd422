//! `DynamoKeys` against DynamoDB Local, with a local master key and (with
//! feature `kms`) moto's KMS: each test on key tables of its own.
//!
//! `scripts/test.sh` starts both and sets `ES_DYNAMODB=1` and `ES_MOTO=1`,
//! which make a missing endpoint a failure; elsewhere these tests skip.
//! Alone: `scripts/dynamodb-local.sh run -- scripts/moto.sh run -- env
//! ES_DYNAMODB=1 ES_MOTO=1 cargo test -p es-dynamo --all-features --test keys`.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use es::erasure::{KeyState, KeyStore, KeyWrap, LocalMasterKey, Sealed, Vault};
use es_dynamo::keys::key_attributes::*;
use es_dynamo::{testing, DynamoKeys};

async fn client() -> Client {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    Client::new(&config)
}

fn master() -> LocalMasterKey {
    LocalMasterKey::random().expect("randomness")
}

/// A vault that asks the key table every time: what another process, or
/// this one after the cache's age, sees.
fn uncached(keys: DynamoKeys) -> Vault {
    Vault::new(keys).cache_ttl(Duration::ZERO)
}

async fn raw_item(client: &Client, table: &str, subject: &str) -> HashMap<String, AttributeValue> {
    client
        .get_item()
        .table_name(table)
        .key(SUBJECT, AttributeValue::S(subject.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem")
        .item
        .unwrap_or_default()
}

async fn put_raw(client: &Client, table: &str, item: HashMap<String, AttributeValue>) {
    client
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .send()
        .await
        .expect("PutItem");
}

// ---- KMS in moto ----------------------------------------------------------

#[cfg(feature = "kms")]
async fn kms_key() -> Option<(aws_sdk_kms::Client, String)> {
    let wrap = testing::kms_wrap_on_new_key().await?;
    Some((wrap.client().clone(), wrap.key_id().to_owned()))
}

#[cfg(feature = "kms")]
async fn kms_wrap() -> Option<es_dynamo::KmsWrap> {
    testing::kms_wrap_on_new_key().await
}

#[cfg(not(feature = "kms"))]
async fn kms_wrap() -> Option<LocalMasterKey> {
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "skipped (KMS part): es-dynamo's feature `kms` is off"
    );
    None
}

// ---- forgetting -------------------------------------------------------------

async fn never_recreated(wrap: impl KeyWrap + Clone, label: &str) {
    let (client, table) = testing::new_key_table(&format!("keys-forget-{label}")).await;
    let keys = DynamoKeys::new(client.clone(), table.clone(), wrap.clone());
    let vault = uncached(keys.clone());
    let sealed = vault.seal("customer-1", "1 Main St").await.expect("seal");
    let other = vault.seal("customer-2", "2 Side St").await.expect("seal");
    assert_eq!(
        vault
            .open::<String>(&sealed)
            .await
            .expect("open")
            .as_deref(),
        Some("1 Main St")
    );
    let item = raw_item(&client, &table, "customer-1").await;
    assert!(
        matches!(item.get(WRAPPED_KEY), Some(AttributeValue::B(b)) if !b.as_ref().is_empty()),
        "{item:?}"
    );
    assert_eq!(
        item.get(WRAPPED_BY),
        Some(&AttributeValue::S(wrap.wrapped_by().to_owned()))
    );
    assert!(
        matches!(item.get(CREATED_AT), Some(AttributeValue::S(t)) if testing::is_timestamp(t)),
        "{item:?}"
    );

    vault.forget("customer-1").await.expect("forget");

    // The key store itself never makes the key again.
    let fetched = keys
        .fetch(&["customer-1".to_owned()], true)
        .await
        .expect("fetch");
    assert!(
        matches!(fetched.as_slice(), [(s, KeyState::Forgotten)] if s == "customer-1"),
        "{fetched:?}"
    );
    // The tombstone holds no key material: the subject and when, nothing else.
    let item = raw_item(&client, &table, "customer-1").await;
    let mut names: Vec<&str> = item.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, [FORGOTTEN_AT, SUBJECT], "{item:?}");
    assert!(
        matches!(item.get(FORGOTTEN_AT), Some(AttributeValue::S(t)) if testing::is_timestamp(t))
    );

    // Another process, with a vault of its own over the same table.
    let elsewhere = uncached(DynamoKeys::new(client.clone(), table.clone(), wrap.clone()));
    match elsewhere.seal("customer-1", "3 New St").await {
        Err(es::Error::Forgotten { subject, .. }) => assert_eq!(subject, "customer-1"),
        other => panic!("sealing for a forgotten subject: {other:?}"),
    }
    assert_eq!(elsewhere.open::<String>(&sealed).await.expect("open"), None);
    assert!(elsewhere.is_forgotten("customer-1").await.expect("read"));
    // Forgetting one subject leaves the others alone.
    assert_eq!(
        elsewhere
            .open::<String>(&other)
            .await
            .expect("open")
            .as_deref(),
        Some("2 Side St")
    );
    // Still a tombstone, and forgetting again is no error.
    elsewhere.forget("customer-1").await.expect("forget again");
    let fetched = keys
        .fetch(&["customer-1".to_owned(), "customer-1".to_owned()], true)
        .await
        .expect("fetch");
    assert!(
        matches!(fetched.as_slice(), [(_, KeyState::Forgotten)]),
        "{fetched:?}"
    );
    // Forgetting a subject that never had a key leaves a tombstone too.
    elsewhere.forget("customer-9").await.expect("forget");
    assert!(matches!(
        elsewhere.seal("customer-9", "x").await,
        Err(es::Error::Forgotten { .. })
    ));
    assert_eq!(testing::scan_items(&client, &table).await.len(), 3);
}

#[tokio::test]
async fn key_is_never_recreated_after_forget() {
    if testing::skip_without_dynamodb() {
        return;
    }
    never_recreated(master(), "local").await;
    if let Some(wrap) = kms_wrap().await {
        never_recreated(wrap, "kms").await;
    }
}

// ---- racing creators ----------------------------------------------------------

async fn one_key_for_concurrent_creators(wrap: impl KeyWrap + Clone, label: &str) {
    let (client, table) = testing::new_key_table(&format!("keys-race-{label}")).await;
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let keys = DynamoKeys::new(client.clone(), table.clone(), wrap.clone());
            tokio::spawn(async move {
                let vault = uncached(keys.clone());
                let sealed = vault
                    .seal("racer", &format!("value {i}"))
                    .await
                    .expect("seal");
                (sealed, keys.stats().snapshot().writes)
            })
        })
        .collect();
    let mut sealed: Vec<Sealed> = Vec::new();
    let mut writes = 0;
    for task in tasks {
        let (s, w) = task.await.expect("task");
        sealed.push(s);
        writes += w;
    }
    // Every creator's value opens with the key a 17th process reads: they
    // all ended with the one key that landed.
    let reader = uncached(DynamoKeys::new(client.clone(), table.clone(), wrap));
    for (i, s) in sealed.iter().enumerate() {
        assert_eq!(
            reader.open::<String>(s).await.expect("open"),
            Some(format!("value {i}"))
        );
    }
    assert_eq!(testing::scan_items(&client, &table).await.len(), 1);
    // Each creator wrote at most once; at least one won.
    assert!((1..=16).contains(&writes), "{writes} PutItems");
}

#[tokio::test]
async fn concurrent_creators_of_one_subject_get_one_key() {
    if testing::skip_without_dynamodb() {
        return;
    }
    one_key_for_concurrent_creators(master(), "local").await;
    if let Some(wrap) = kms_wrap().await {
        one_key_for_concurrent_creators(wrap, "kms").await;
    }
}

#[tokio::test]
async fn a_tombstone_wins_over_a_creator() {
    if testing::skip_without_dynamodb() {
        return;
    }
    let (client, table) = testing::new_key_table("keys-tombstone").await;
    let wrap = master();
    // The tombstone lands between a creator's read and its write: its
    // conditional PutItem fails, and it reads the tombstone back.
    let keys = DynamoKeys::new(client.clone(), table.clone(), wrap.clone());
    keys.forget("late").await.expect("forget");
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let keys = DynamoKeys::new(client.clone(), table.clone(), wrap.clone());
            tokio::spawn(async move { keys.fetch(&["late".to_owned()], true).await })
        })
        .collect();
    for racer in racers {
        let fetched = racer.await.expect("task").expect("fetch");
        assert!(
            matches!(fetched.as_slice(), [(_, KeyState::Forgotten)]),
            "{fetched:?}"
        );
    }
    let item = raw_item(&client, &table, "late").await;
    assert!(!item.contains_key(WRAPPED_KEY), "{item:?}");
}

// ---- bad keys and items -------------------------------------------------------

/// The error of opening `sealed` through `vault`, as text.
async fn open_error(vault: &Vault, sealed: &Sealed) -> String {
    match vault.open::<String>(sealed).await {
        Err(e) => {
            if std::env::var_os("ES_SHOW_ERRORS").is_some() {
                eprintln!("error: {e}");
            }
            format!("{e} {:?}", std::error::Error::source(&e))
        }
        Ok(v) => panic!("expected an error, opened {v:?}"),
    }
}

#[tokio::test]
async fn a_wrong_master_key_or_a_tampered_item_is_a_clear_error() {
    if testing::skip_without_dynamodb() {
        return;
    }
    let (client, table) = testing::new_key_table("keys-bad").await;
    let vault = uncached(DynamoKeys::new(client.clone(), table.clone(), master()));
    let sealed = vault.seal("alice", "secret").await.expect("seal");

    // Another master key: the key does not unwrap.
    let wrong = uncached(DynamoKeys::new(client.clone(), table.clone(), master()));
    let text = open_error(&wrong, &sealed).await;
    for part in [table.as_str(), "\"alice\"", WRAPPED_KEY, "local"] {
        assert!(text.contains(part), "{part:?} not in {text}");
    }
    assert!(matches!(
        wrong.seal("alice", "x").await,
        Err(es::Error::Store(_))
    ));

    // Tampered items, each read by a fresh vault.
    let item = raw_item(&client, &table, "alice").await;
    let cases: Vec<(&str, HashMap<String, AttributeValue>, &str)> = vec![
        (
            "the wrapped key as a string",
            with(&item, WRAPPED_KEY, AttributeValue::S("abc".into())),
            "is S, not B",
        ),
        (
            "a flipped byte",
            with(&item, WRAPPED_KEY, {
                let mut bytes = match item.get(WRAPPED_KEY) {
                    Some(AttributeValue::B(b)) => b.as_ref().to_vec(),
                    _ => unreachable!("checked above"),
                };
                bytes[20] ^= 1;
                AttributeValue::B(Blob::new(bytes))
            }),
            "does not unwrap",
        ),
        (
            "no key and no tombstone",
            without(&item, WRAPPED_KEY),
            "is missing",
        ),
        (
            "wrappedBy as a number",
            with(&item, WRAPPED_BY, AttributeValue::N("1".into())),
            "is N, not S",
        ),
    ];
    for (case, item, expected) in cases {
        put_raw(&client, &table, item).await;
        let fresh = uncached(DynamoKeys::new(client.clone(), table.clone(), master()));
        let text = open_error(&fresh, &sealed).await;
        for part in [table.as_str(), "\"alice\"", expected] {
            assert!(text.contains(part), "{case}: {part:?} not in {text}");
        }
    }

    // Bob's wrapped key copied onto alice's item: bound to bob, it does
    // not unwrap for alice.
    let right = master();
    let vault = uncached(DynamoKeys::new(
        client.clone(),
        table.clone(),
        right.clone(),
    ));
    let sealed_c = vault.seal("carol", "c").await.expect("seal");
    vault.seal("bob", "b").await.expect("seal");
    let bob = raw_item(&client, &table, "bob").await;
    put_raw(
        &client,
        &table,
        with(&bob, SUBJECT, AttributeValue::S("carol".into())),
    )
    .await;
    let fresh = uncached(DynamoKeys::new(client.clone(), table.clone(), right));
    let text = open_error(&fresh, &sealed_c).await;
    assert!(
        text.contains("\"carol\"") && text.contains("does not unwrap"),
        "{text}"
    );

    #[cfg(feature = "kms")]
    kms_errors(&client).await;
}

/// With KMS: a key wrapped by another KMS key, or moved to another subject
/// (its encryption context), is KMS's refusal, naming the subject and key.
#[cfg(feature = "kms")]
async fn kms_errors(client: &Client) {
    let (Some((kms, first)), Some((_, second))) = (kms_key().await, kms_key().await) else {
        return;
    };
    let table = testing::unique_table_name("keys-bad-kms");
    DynamoKeys::create_table(client, &table)
        .await
        .expect("create table");
    let wrap = es_dynamo::KmsWrap::new(kms.clone(), first.clone());
    let vault = uncached(DynamoKeys::new(client.clone(), table.clone(), wrap.clone()));
    let sealed = vault.seal("dave", "d").await.expect("seal");
    vault.seal("erin", "e").await.expect("seal");

    let other = es_dynamo::KmsWrap::new(kms.clone(), second.clone());
    let wrong = uncached(DynamoKeys::new(client.clone(), table.clone(), other));
    let text = open_error(&wrong, &sealed).await;
    for part in [table.as_str(), "\"dave\"", WRAPPED_KEY, &second, &first] {
        assert!(text.contains(part), "{part:?} not in {text}");
    }

    // erin's wrapped key on dave's item: the encryption context differs.
    let erin = raw_item(client, &table, "erin").await;
    put_raw(
        client,
        &table,
        with(&erin, SUBJECT, AttributeValue::S("dave".into())),
    )
    .await;
    let fresh = uncached(DynamoKeys::new(client.clone(), table.clone(), wrap));
    let text = open_error(&fresh, &sealed).await;
    for part in ["\"dave\"", &first, "Decrypt"] {
        assert!(text.contains(part), "{part:?} not in {text}");
    }
}

fn with(
    item: &HashMap<String, AttributeValue>,
    name: &str,
    value: AttributeValue,
) -> HashMap<String, AttributeValue> {
    let mut item = item.clone();
    item.insert(name.to_owned(), value);
    item
}

fn without(item: &HashMap<String, AttributeValue>, name: &str) -> HashMap<String, AttributeValue> {
    let mut item = item.clone();
    item.remove(name);
    item
}

// ---- batches ----------------------------------------------------------------

#[tokio::test]
async fn a_fetch_of_more_than_100_subjects_works() {
    if testing::skip_without_dynamodb() {
        return;
    }
    let (client, table) = testing::new_key_table("keys-batch").await;
    let wrap = master();
    let keys = DynamoKeys::new(client.clone(), table.clone(), wrap.clone());
    // 250 subjects, one of them twice.
    let mut subjects: Vec<String> = (0..250).map(|i| format!("s-{i:03}")).collect();
    subjects.push("s-007".to_owned());
    let created = keys.fetch(&subjects, true).await.expect("fetch");
    assert_eq!(created.len(), 250);
    assert!(created.iter().all(|(_, s)| matches!(s, KeyState::Key(_))));
    let stats = keys.stats().snapshot();
    // Three BatchGetItems (100 + 100 + 50), then 250 conditional PutItems.
    assert_eq!((stats.reads, stats.writes), (3, 250), "{stats:?}");
    assert_eq!(keys.wrap_stats().generated, 250);

    keys.forget("s-100").await.expect("forget");
    keys.forget("s-249").await.expect("forget");
    let mut asked = subjects.clone();
    asked.push("never-seen".to_owned());
    let reader = DynamoKeys::new(client.clone(), table.clone(), wrap);
    let fetched: HashMap<String, KeyState> = reader
        .fetch(&asked, false)
        .await
        .expect("fetch")
        .into_iter()
        .collect();
    assert_eq!(fetched.len(), 251);
    for (subject, state) in &fetched {
        match subject.as_str() {
            "s-100" | "s-249" => assert!(matches!(state, KeyState::Forgotten), "{subject}"),
            "never-seen" => assert!(matches!(state, KeyState::Absent), "{subject}"),
            _ => assert!(matches!(state, KeyState::Key(_)), "{subject}"),
        }
    }
    let stats = reader.stats().snapshot();
    assert_eq!((stats.reads, stats.writes), (3, 0), "{stats:?}");
    assert_eq!(reader.wrap_stats().unwrapped, 248);
}

#[tokio::test]
async fn ensure_table_makes_or_checks_the_key_table() {
    if testing::skip_without_dynamodb() {
        return;
    }
    let client = client().await;
    let table = testing::unique_table_name("keys-ensure");
    let keys = DynamoKeys::new(client.clone(), table.clone(), master());
    keys.ensure_table().await.expect("created");
    keys.ensure_table().await.expect("exists");
    assert!(DynamoKeys::create_table(&client, &table).await.is_err());
    // An events table is no key table.
    let events = testing::store_on_new_table("keys-not").await;
    let wrong = DynamoKeys::new(client.clone(), events.table(), master());
    let e = wrong.ensure_table().await.expect_err("not a key table");
    assert!(e.to_string().contains("not a key table"), "{e}");
}
