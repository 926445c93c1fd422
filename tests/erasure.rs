//! Erasure by crypto-shredding, end to end, on both stores: personal fields
//! are ciphertext in the table, and once their subject is forgotten every
//! read path sees placeholders, never an error and never the old value.

use std::sync::{Arc, Mutex};

use es::erasure::Sealed;
use es::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Address {
    pub street: String,
    pub city: String,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Registered {
    #[subject]
    pub customer_id: String,
    #[personal(placeholder = "[erased]")]
    pub email: String,
    #[personal]
    pub shipping_address: Address,
    pub plan: String,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct EmailChanged {
    #[subject]
    pub customer: String,
    #[personal(placeholder = "[erased]")]
    pub email: String,
}

#[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Upgraded {
    pub plan: String,
}

/// A customer, snapshotted every 2 versions; its state declares its own
/// personal fields, so its snapshots are sealed as its events are.
#[derive(Aggregate, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[aggregate(name = "Customer", snapshot_every = 2)]
pub struct Customer {
    #[subject]
    pub id: String,
    #[personal(placeholder = "[erased]")]
    pub email: String,
    #[personal]
    pub address: Address,
    pub plan: String,
}

#[es::handlers]
impl Customer {
    #[on(Registered)]
    fn registered(&mut self, e: &Registered) {
        self.id = e.customer_id.clone();
        self.email = e.email.clone();
        self.address = e.shipping_address.clone();
        self.plan = e.plan.clone();
    }

    #[on(EmailChanged)]
    fn email_changed(&mut self, e: &EmailChanged) {
        self.email = e.email.clone();
    }

    #[on(Upgraded)]
    fn upgraded(&mut self, e: &Upgraded) {
        self.plan = e.plan.clone();
    }
}

const EMAIL: &str = "ada@example.com";
const NEW_EMAIL: &str = "ada.l@example.org";
const STREET: &str = "12 Analytical Row";

/// One directory row per customer: the plan in clear, the email only as
/// it is stored, sealed; never its plaintext.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct DirectoryEntry {
    pub plan: String,
    pub email: Option<Sealed>,
}

/// A projection that keeps the directory, and notes what its handlers were
/// given, so a test can see what a projection reads.
pub struct Directory<T> {
    entries: Views<DirectoryEntry, T>,
    seen: Arc<Mutex<Vec<String>>>,
}

#[es::projection]
impl<T: ViewTable> Directory<T> {
    #[on(Registered)]
    async fn registered(&self, e: &Registered, at: &Envelope) -> Result<(), Error> {
        self.seen
            .lock()
            .unwrap()
            .push(format!("{}|{}", e.email, e.shipping_address.street));
        let sealed = at.sealed("email").cloned();
        let plan = e.plan.clone();
        self.entries
            .update(&at.id, at, |row| {
                row.plan = plan.clone();
                row.email = sealed.clone();
            })
            .await?;
        Ok(())
    }

    #[on(EmailChanged)]
    async fn email_changed(&self, e: &EmailChanged, at: &Envelope) -> Result<(), Error> {
        self.seen.lock().unwrap().push(e.email.clone());
        let sealed = at.sealed("email").cloned();
        self.entries
            .update(&at.id, at, |row| row.email = sealed.clone())
            .await?;
        Ok(())
    }
}

impl<T: ViewTable> Directory<T> {
    fn new(table: T) -> Self {
        Directory {
            entries: Views::new(table, "directory"),
            seen: Arc::default(),
        }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

async fn register<S: EventStore>(store: &S, id: &str) {
    let mut customer = Customer::load(store, id).await.expect("load");
    customer
        .commit_all(vec![
            CustomerEvent::from(Registered {
                customer_id: id.to_owned(),
                email: EMAIL.to_owned(),
                shipping_address: Address {
                    street: STREET.to_owned(),
                    city: "London".to_owned(),
                },
                plan: "free".to_owned(),
            }),
            CustomerEvent::from(EmailChanged {
                customer: id.to_owned(),
                email: NEW_EMAIL.to_owned(),
            }),
            CustomerEvent::from(Upgraded {
                plan: "pro".to_owned(),
            }),
        ])
        .await
        .expect("commit");
}

fn forgotten_state(id: &str) -> Customer {
    Customer {
        id: id.to_owned(),
        email: "[erased]".to_owned(),
        address: Address::default(),
        plan: "pro".to_owned(),
    }
}

/// Every read path, before and after the forget, on one store whose
/// events' table the projector reads. `lambda` runs a Lambda batch of the
/// table's stream, on DynamoDB.
async fn reads_as_placeholder_everywhere<S, V, F, Fut>(store: S, views: V, fresh_views: F)
where
    S: EventStore,
    V: ViewTable,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = V>,
{
    let id = "cust-ada";
    register(&store, id).await;
    let vault = store.vault().expect("a vault").clone();

    // Before: every reader sees the plaintext.
    let customer = Customer::load(&store, id).await.expect("load");
    assert_eq!(customer.email, NEW_EMAIL);
    assert_eq!(customer.address.street, STREET);
    let projector = Projector::new(store.clone(), views.clone(), Directory::new(views));
    es::rebuild(&projector).run().await.expect("rebuild");
    assert_eq!(
        projector.projection().seen(),
        [format!("{EMAIL}|{STREET}"), NEW_EMAIL.to_owned()]
    );
    let entry = projector
        .projection()
        .entries
        .get(id)
        .await
        .expect("read the view")
        .expect("a row");
    let sealed = entry.email.clone().expect("the sealed email");
    assert!(!sealed.as_str().contains("example"), "{sealed:?}");
    assert_eq!(
        vault
            .open::<String>(&sealed)
            .await
            .expect("open")
            .as_deref(),
        Some(NEW_EMAIL)
    );

    vault.forget(id).await.expect("forget");

    // Load: the snapshot at version 2 and the event after it.
    let before = store.stats().snapshot();
    let customer = Customer::load(&store, id).await.expect("load after forget");
    // Through the snapshot: 2 items (the snapshot's event and the one
    // after it), not the 3 of a replay.
    let cost = store.stats().snapshot() - before;
    assert_eq!((cost.reads, cost.items_read), (1, 2), "{cost:?}");
    assert_eq!(customer.state(), &forgotten_state(id));
    assert_eq!(customer.version(), 3);
    // A load as of version 1, from the first event alone.
    let at_one = Customer::load_at(&store, id, 1).await.expect("load at 1");
    assert_eq!(at_one.email, "[erased]");
    // History.
    let history: Vec<_> = customer
        .history()
        .try_collect::<Vec<_>>()
        .await
        .expect("history");
    match &history[0].event {
        CustomerEvent::Registered(e) => {
            assert_eq!(e.email, "[erased]");
            assert_eq!(e.shipping_address, Address::default());
            assert_eq!(e.customer_id, id);
            assert_eq!(e.plan, "free");
        }
        other => panic!("{other:?}"),
    }
    match &history[1].event {
        CustomerEvent::EmailChanged(e) => assert_eq!(e.email, "[erased]"),
        other => panic!("{other:?}"),
    }
    // The view's sealed copy opens to nothing.
    assert_eq!(vault.open::<String>(&sealed).await.expect("open"), None);
    // A rebuild into fresh views: the handlers see placeholders.
    let table = fresh_views().await;
    let rebuilt = Projector::new(store.clone(), table.clone(), Directory::new(table));
    es::rebuild(&rebuilt)
        .run()
        .await
        .expect("rebuild after forget");
    assert_eq!(rebuilt.projection().seen(), ["[erased]|", "[erased]"]);
    let entry = rebuilt
        .projection()
        .entries
        .get(id)
        .await
        .expect("read")
        .expect("a row");
    assert_eq!(entry.plan, "free");
    assert_eq!(
        vault
            .open::<String>(entry.email.as_ref().expect("sealed"))
            .await
            .expect("open"),
        None
    );
    // No new personal data is written for a forgotten subject.
    let mut customer = customer;
    let refused = customer
        .commit(EmailChanged {
            customer: id.to_owned(),
            email: "back@example.com".to_owned(),
        })
        .await
        .expect_err("forgotten");
    assert!(
        matches!(&refused, es::Error::Forgotten { subject, aggregate: "Customer", .. } if subject == id),
        "{refused:?}"
    );
    // Events without personal data still commit.
    customer
        .commit(Upgraded {
            plan: "team".to_owned(),
        })
        .await
        .expect("a commit with no personal data");
}

#[tokio::test]
async fn forgotten_subject_reads_as_placeholder_everywhere_memory() {
    reads_as_placeholder_everywhere(MemoryStore::new(), MemoryViews::new(), || async {
        MemoryViews::new()
    })
    .await;
}

#[tokio::test]
async fn forgotten_subject_reads_as_placeholder_everywhere_dynamo() {
    if es_dynamo::testing::skip_without_dynamodb() {
        return;
    }
    // Keys in a DynamoDB key table, wrapped by moto's KMS when it runs.
    let store = es_dynamo::testing::store_on_new_table("erasure")
        .await
        .with_vault(es_dynamo::testing::vault_on_new_key_table("erasure").await);
    let views = es_dynamo::testing::views_on_new_table("erasure-positions").await;
    reads_as_placeholder_everywhere(store.clone(), views, || {
        es_dynamo::testing::views_on_new_table("erasure-views")
    })
    .await;

    // A Lambda batch of the table's stream, as AWS delivers it, after the
    // forget: the handlers see placeholders.
    let records = es_dynamo::testing::stream_records(&store).await;
    assert_eq!(records.len(), 4, "{records:?}");
    let table = es_dynamo::testing::views_on_new_table("erasure-lambda").await;
    let projector = Projector::new(store.clone(), table.clone(), Directory::new(table));
    let answer = es::dynamo::lambda::handle(&projector, es_dynamo::testing::lambda_event(&records))
        .await
        .expect("the batch");
    assert!(answer.batch_item_failures.is_empty(), "{answer:?}");
    assert_eq!(projector.projection().seen(), ["[erased]|", "[erased]"]);
    // A stream image decoded on its own, too.
    let image = records[0].new_image.clone();
    let decoded = store
        .decode_stream_image::<Customer>(image)
        .await
        .expect("decodes")
        .expect("a Customer event");
    match decoded.recorded.event {
        CustomerEvent::Registered(e) => assert_eq!(e.email, "[erased]"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn personal_fields_are_ciphertext_in_the_table() {
    if es_dynamo::testing::skip_without_dynamodb() {
        return;
    }
    // Keys in a DynamoDB key table, wrapped by moto's KMS when it runs.
    let store = es_dynamo::testing::store_on_new_table("ciphertext")
        .await
        .with_vault(es_dynamo::testing::vault_on_new_key_table("ciphertext").await);
    register(&store, "cust-1").await;
    let items = es_dynamo::testing::scan(&store).await;
    assert_eq!(items.len(), 3);
    let raw = format!("{items:?}");
    for plaintext in [EMAIL, NEW_EMAIL, STREET, "London", "example"] {
        assert!(!raw.contains(plaintext), "{plaintext:?} in {raw}");
    }
    // The fields are there, as sealed strings, beside the clear ones.
    let first = items
        .iter()
        .find(|i| matches!(i.get("version"), Some(aws_sdk_dynamodb::types::AttributeValue::N(n)) if n == "1"))
        .expect("version 1");
    let payload = first["payload"].as_m().expect("a map payload");
    let email = payload["email"].as_s().expect("a string");
    assert!(email.starts_with("es1."), "{email}");
    assert_eq!(payload["plan"].as_s().map(String::as_str), Ok("free"));
    assert_eq!(
        payload["customerId"].as_s().map(String::as_str),
        Ok("cust-1")
    );
    // The snapshot at version 2 is sealed too.
    assert!(raw.contains("snapshot"), "{raw}");
}

#[tokio::test]
async fn personal_fields_are_sealed_in_the_memory_store() {
    let store = MemoryStore::new();
    register(&store, "cust-1").await;
    let changes = store.changes(0, 10);
    assert_eq!(changes.len(), 3);
    let text = format!("{changes:?}");
    assert!(!text.contains("example.com"), "{text}");
    assert!(!text.contains(STREET), "{text}");
    assert!(text.contains("cust-1"));
}

#[tokio::test]
async fn an_aggregate_with_personal_events_and_no_declared_state_takes_no_snapshot() {
    #[derive(Event, Serialize, Deserialize, Clone, Debug, PartialEq)]
    struct ContactEmail {
        #[subject]
        customer: String,
        #[personal(placeholder = "[erased]")]
        email: String,
    }
    #[derive(Aggregate, Serialize, Deserialize, Clone, Debug, Default)]
    #[aggregate(name = "Contact", snapshot_every = 1)]
    struct Contact {
        email: String,
    }
    #[es::handlers]
    impl Contact {
        #[on(ContactEmail)]
        fn changed(&mut self, e: &ContactEmail) {
            self.email = e.email.clone();
        }
    }
    let store = MemoryStore::new();
    let mut contact = Contact::load(&store, "c").await.expect("load");
    contact
        .commit(ContactEmail {
            customer: "c".to_owned(),
            email: EMAIL.to_owned(),
        })
        .await
        .expect("commit");
    let text = format!("{:?}", store.changes(0, 10));
    assert!(!text.contains(EMAIL), "{text}");
    store
        .vault()
        .expect("vault")
        .forget("c")
        .await
        .expect("forget");
    let contact = Contact::load(&store, "c").await.expect("load");
    assert_eq!(contact.email, "[erased]");
}

#[tokio::test]
async fn a_cached_aggregate_does_not_keep_personal_data_past_a_forget() {
    let store = MemoryStore::new().with_cache(1_000);
    register(&store, "cust-2").await;
    // A command decides on the state this process keeps, when it keeps one.
    let seen = Customer::execute(&store, "cust-2", |c| {
        assert_eq!(c.email, NEW_EMAIL);
        Ok::<_, std::convert::Infallible>(Upgraded {
            plan: "team".to_owned(),
        })
    })
    .await
    .expect("a command");
    assert_eq!(seen.version, 4);
    store
        .vault()
        .expect("vault")
        .forget("cust-2")
        .await
        .expect("forget");
    let after = Customer::execute(&store, "cust-2", |c| {
        let email = c.email.clone();
        Ok::<_, std::convert::Infallible>(Upgraded { plan: email })
    })
    .await
    .expect("a command after the forget");
    assert_eq!(
        after.root.plan, "[erased]",
        "decided on a kept plaintext state"
    );
}
