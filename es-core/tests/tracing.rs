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
            // The conflicting writes come from another process: this one's
            // own writes never conflict with its commands.
            let elsewhere = store.as_another_process();
            let mut p = Product::load(&elsewhere, "sku").await.expect("load");
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

/// The warnings logged: their message and `version` field.
#[derive(Clone, Default)]
struct Warnings(Arc<Mutex<Vec<(String, u64)>>>);

struct WarningFields {
    message: String,
    version: u64,
}

impl Visit for WarningFields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "version" {
            self.version = value;
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        }
    }
}

impl Subscriber for Warnings {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        if *event.metadata().level() != tracing::Level::WARN {
            return;
        }
        let mut fields = WarningFields {
            message: String::new(),
            version: 0,
        };
        event.record(&mut fields);
        if let Ok(mut warnings) = self.0.lock() {
            warnings.push((fields.message, fields.version));
        }
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// A snapshot too large for its item is left out with a warning naming its
/// version, and the commit succeeds (the conformance check
/// `oversized_snapshot_never_blocks_a_commit` shows the rest on both stores).
#[test]
fn an_oversized_snapshot_is_left_out_with_a_warning() {
    let warnings = Warnings::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    tracing::subscriber::with_default(warnings.clone(), || {
        runtime.block_on(async {
            let store = MemoryStore::new();
            let mut j = Journal::load(&store, "j").await.expect("load");
            for n in 1..=4 {
                j.commit(Wrote {
                    text: format!("{n}-{}", "w".repeat(150 * 1024)),
                    keep: true,
                })
                .await
                .expect("commit");
            }
            assert_eq!(j.version(), 4);
        })
    });
    let logged = warnings.0.lock().map(|w| w.clone()).unwrap_or_default();
    assert!(
        logged
            .iter()
            .any(|(message, version)| *version == 4 && message.contains("leaving out a snapshot")),
        "{logged:?}"
    );
}
