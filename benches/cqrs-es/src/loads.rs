//! Sections 3 and 4: what each framework's load folds into its state, from
//! a history past 1 MB and from snapshots.

use std::collections::HashMap;

use cqrs_es::persist::{
    EventStoreAggregateContext, PersistedEventRepository as _, PersistedEventStore,
};
use cqrs_es::{AggregateError, CqrsFramework, EventStore as _};
use es::prelude::*;

use crate::domain::{
    CqrsCommand, CqrsEvent, CqrsProduct, Product, ProductError, Restocked, SnappedProduct,
};
use crate::{restock, Bench, Cqrs};

/// Events that pad a history past 1 MB carry a note of this many bytes.
const NOTE_BYTES: usize = 1_000;

impl Bench {
    /// Seeds a cqrs-es aggregate with `n` Restocked events of 1 unit, in
    /// commits of at most 25, dynamo-es's limit per command.
    ///
    /// It commits through dynamo-es's store with the sequence number it
    /// tracks itself, not through `execute`: past 1 MB, `execute` loads too
    /// few events to ever commit again, which is what section 3 shows.
    async fn seed_cqrs(&self, id: &str, n: usize, note: &str) {
        let store = self.cqrs_event_store();
        let mut sequence = 0;
        while sequence < n {
            let chunk = (n - sequence).min(25);
            let context = EventStoreAggregateContext {
                aggregate_id: id.to_owned(),
                aggregate: CqrsProduct::default(),
                current_sequence: sequence,
                current_snapshot: None,
            };
            let events = (0..chunk)
                .map(|_| CqrsEvent::Restocked {
                    amount: 1,
                    note: note.to_owned(),
                })
                .collect();
            store
                .commit(events, context, HashMap::new())
                .await
                .expect("seed cqrs-es");
            sequence += chunk;
        }
    }

    /// Section 3: a history past 1 MB, loaded and then commanded by each.
    pub(crate) async fn long_history(&self, events: usize) {
        let note = "n".repeat(NOTE_BYTES);
        let id = "long";
        let es_before = self.es.counts();
        self.seed_es(id, events, &note).await;
        let es_seed = self.es.counts().since(&es_before);
        let cqrs_before = self.cqrs_client.counts();
        self.seed_cqrs(id, events, &note).await;
        let cqrs_seed = self.cqrs_client.counts().since(&cqrs_before);
        let es_stored = self.es_stored("Product", id).await;
        let cqrs_stored = self.cqrs_stored(id).await;

        // es: a load, then a command.
        let before = self.es.counts();
        let product = Product::load(&self.store, id).await.expect("es load");
        let es_load = self.es.counts().since(&before);
        let es_state = (product.version(), product.applied, product.on_hand);
        let es_outcome = match Product::execute(&self.store, id, |p| p.reserve(1)).await {
            Ok(done) => format!("committed at version {}", done.version),
            Err(e) => format!("failed: {e}"),
        };

        // cqrs-es: a load through its event store, then a command three times,
        // as a caller retrying a conflict would.
        let before = self.cqrs_client.counts();
        let context = self
            .cqrs_event_store()
            .load_aggregate(id)
            .await
            .expect("cqrs-es load");
        let cqrs_load = self.cqrs_client.counts().since(&before);
        let cqrs_state = (
            context.current_sequence,
            context.aggregate.applied,
            context.aggregate.on_hand,
        );
        // dynamo-es's README advises a smaller streaming channel for long
        // histories; its replay stream (what rebuilds views) is the one read
        // that follows pages. Both measured on the same aggregate.
        let advised = PersistedEventStore::<_, CqrsProduct>::new_event_store(
            self.repo().with_streaming_channel_size(100),
        )
        .load_aggregate(id)
        .await
        .expect("cqrs-es load");
        let mut stream = self
            .repo()
            .stream_events::<CqrsProduct>(id)
            .await
            .expect("replay stream");
        let mut streamed = 0;
        while let Some(event) = stream.next::<CqrsProduct>(&[]).await {
            event.expect("replayed event");
            streamed += 1;
        }

        let mut cqrs_outcomes = Vec::new();
        for _ in 0..3 {
            let outcome = match self
                .cqrs
                .execute(id, CqrsCommand::Reserve { quantity: 1 })
                .await
            {
                Ok(()) => "committed".to_owned(),
                Err(AggregateError::AggregateConflict) => "AggregateConflict".to_owned(),
                Err(e) => format!("failed: {e}"),
            };
            cqrs_outcomes.push(outcome);
        }
        let cqrs_after = self.cqrs_stored(id).await;

        println!(
            "Each event carries a {NOTE_BYTES}-byte note. Stored: es {es_stored} events in {:.2} MB; \
             cqrs-es {cqrs_stored} events in {:.2} MB (item bytes as DynamoDB sizes them).\n",
            es_seed.bytes_written as f64 / 1e6,
            cqrs_seed.bytes_written as f64 / 1e6,
        );
        println!("| | es | cqrs-es + dynamo-es |\n|---|---|---|");
        println!(
            "| events folded into the loaded state | {} | {} |",
            es_state.1, cqrs_state.1
        );
        println!(
            "| version / sequence the load ends at | {} | {} |",
            es_state.0, cqrs_state.0
        );
        println!(
            "| stock the load computes (true: {events}) | {} | {} |",
            es_state.2, cqrs_state.2
        );
        println!(
            "| Queries of the load | {} | {} |",
            es_load.calls("Query"),
            cqrs_load.calls("Query")
        );
        println!(
            "| items and MB the load read | {} items, {:.2} MB | {} items, {:.2} MB |",
            es_load.items_read,
            es_load.bytes_read as f64 / 1e6,
            cqrs_load.items_read,
            cqrs_load.bytes_read as f64 / 1e6
        );
        println!(
            "| the same load with `with_streaming_channel_size(100)`, as dynamo-es's README advises | - | {} events folded |",
            advised.aggregate.applied
        );
        println!(
            "| events in dynamo-es's replay stream (`stream_events`, for rebuilding views) | - | {streamed} |"
        );
        println!(
            "| next command (reserve 1) | {es_outcome} | 3 attempts: {} |",
            cqrs_outcomes.join(", ")
        );
        println!(
            "| events stored after it | {} | {cqrs_after} |\n",
            self.es_stored("Product", id).await
        );
    }

    /// Section 4: ten one-unit restocks through each framework's
    /// snapshotting store (a snapshot every 5 events), then loads.
    pub(crate) async fn snapshots(&self) {
        let id = "snap";
        let snapshot_cqrs: Cqrs = CqrsFramework::new(
            PersistedEventStore::new_snapshot_store(self.repo(), 5),
            vec![],
            (),
        );
        for _ in 0..10 {
            snapshot_cqrs
                .execute(id, restock(1))
                .await
                .expect("cqrs-es snapshot store");
        }
        let from_snapshot =
            PersistedEventStore::<_, CqrsProduct>::new_snapshot_store(self.repo(), 5)
                .load_aggregate(id)
                .await
                .expect("load with snapshots");
        let from_events = self
            .cqrs_event_store()
            .load_aggregate(id)
            .await
            .expect("load from events");
        let cqrs_stored = self.cqrs_stored(id).await;

        for _ in 0..10 {
            SnappedProduct::execute(&self.store, id, |_| {
                Ok::<_, ProductError>(Restocked {
                    amount: 1,
                    note: String::new(),
                })
            })
            .await
            .expect("es snapshots");
        }
        let before = self.es.counts();
        let es = SnappedProduct::load(&self.store, id).await.expect("load");
        let es_load = self.es.counts().since(&before);
        let es_stored = self.es_stored("SnappedProduct", id).await;

        println!("| | es (`snapshot_every = 5`) | cqrs-es (`new_snapshot_store(repo, 5)`) |\n|---|---|---|");
        println!("| events stored | {es_stored} | {cqrs_stored} |");
        println!(
            "| stock loaded with snapshots (true: 10) | {} (version {}; the load read {} item(s)) | {} (sequence {}) |",
            es.on_hand,
            es.version(),
            es_load.items_read,
            from_snapshot.aggregate.on_hand,
            from_snapshot.current_sequence
        );
        println!(
            "| stock replayed from the events alone | - | {} (sequence {}) |\n",
            from_events.aggregate.on_hand, from_events.current_sequence
        );
    }
}
