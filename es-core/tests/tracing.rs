//! `execute` records its attempts and final version on the `es.execute` span,
//! on every path: success after retries, rejection, and a conflict returned.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use es_core::conformance::model::*;
use es_core::{AggregateExt, Error, MemoryStore, Retry};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// The `attempts` and `version` recorded on each `es.execute` span.
#[derive(Clone, Default)]
struct Spans {
    next: Arc<AtomicU64>,
    names: Arc<Mutex<HashMap<u64, &'static str>>>,
    recorded: Arc<Mutex<Vec<(String, u64)>>>,
}

struct Fields<'a>(&'a Mutex<Vec<(String, u64)>>);

impl Visit for Fields<'_> {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if let Ok(mut recorded) = self.0.lock() {
            recorded.push((field.name().to_owned(), value));
        }
    }
    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

impl Subscriber for Spans {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        if let Ok(mut names) = self.names.lock() {
            names.insert(id, attrs.metadata().name());
        }
        Id::from_u64(id)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        let is_execute = self
            .names
            .lock()
            .map(|names| names.get(&span.into_u64()) == Some(&"es.execute"))
            .unwrap_or(false);
        if is_execute {
            values.record(&mut Fields(&self.recorded));
        }
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

impl Spans {
    /// What was recorded since the last call.
    fn take(&self) -> Vec<(String, u64)> {
        self.recorded
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default()
    }
}

fn field(name: &str, value: u64) -> (String, u64) {
    (name.to_owned(), value)
}

#[test]
fn execute_records_attempts_on_every_path() {
    let spans = Spans::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    tracing::subscriber::with_default(spans.clone(), || {
        runtime.block_on(async {
            let store = MemoryStore::new();
            let mut p = Product::load(&store, "sku").await.expect("load");
            p.commit(Restocked { amount: 5 }).await.expect("commit");

            // Success after one conflict: 2 attempts, version 3.
            let stale = Product::load(&store, "sku").await.expect("load");
            p.commit(Restocked { amount: 1 }).await.expect("commit");
            let done = Product::command(&store, "sku")
                .on(stale)
                .execute(|p| p.reserve("c1", 1))
                .await
                .expect("execute");
            assert_eq!((done.attempts, done.version), (2, 3));
            assert_eq!(spans.take(), [field("attempts", 2), field("version", 3)]);

            // A rejection: 1 attempt, no version.
            let err = Product::execute(&store, "sku", |p| p.reserve("c2", 100))
                .await
                .expect_err("sold out");
            assert!(matches!(err, Error::Rejected(_)), "{err:?}");
            assert_eq!(spans.take(), [field("attempts", 1)]);

            // A conflict with no retries left: 1 attempt, returned.
            let stale = Product::load(&store, "sku").await.expect("load");
            p.hydrate().await.expect("hydrate");
            p.commit(Restocked { amount: 1 }).await.expect("commit");
            let err = Product::command(&store, "sku")
                .on(stale)
                .retry(Retry::never())
                .execute(|p| p.reserve("c3", 1))
                .await
                .expect_err("conflict");
            assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
            assert_eq!(spans.take(), [field("attempts", 1)]);
        })
    });
}
