//! Sections 1 and 2: the cold command, timed for six contenders
//! interleaved op by op, with what each one sends and costs.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::ReturnConsumedCapacity;
use cqrs_es::EventStore as _;
use es::prelude::*;

use crate::counter::{trim, Counts};
use crate::domain::{CqrsCommand, Product, ProductError, Restocked};
use crate::report::{median, ms, print_blocks, ratio};
use crate::{raw, restock, Bench, Counted};

impl Bench {
    /// One PutItem baseline, appending the next version to its partition,
    /// asking for the consumed capacity unless `bare`.
    async fn put(&mut self, bare: bool) {
        let (client, key, consumed) = if bare {
            (
                &self.bare_put.client,
                "Product#put-bare",
                ReturnConsumedCapacity::None,
            )
        } else {
            (
                &self.put.client,
                "Product#put-with",
                ReturnConsumedCapacity::Total,
            )
        };
        let version = &mut self.put_versions[usize::from(bare)];
        *version += 1;
        raw::put(client, self.store.table(), key, *version, consumed).await;
    }

    /// Warms up the emulator's JIT and every client's connections on all
    /// six contenders' requests; returns the PutItem's median in the first
    /// and the last tenth of the warm-up.
    pub(crate) async fn warm_up(&mut self, rounds: usize) -> (Duration, Duration) {
        let mut put_t = Vec::with_capacity(rounds);
        for round in 0..rounds {
            let t = Instant::now();
            self.put(false).await;
            put_t.push(t.elapsed());
            self.put(true).await;
            let id = format!("warm-{round}");
            Product::execute(&self.store, id.as_str(), |_| {
                Ok::<_, ProductError>(Restocked {
                    amount: 1,
                    note: String::new(),
                })
            })
            .await
            .expect("es warm-up");
            self.cqrs
                .execute(&id, restock(1))
                .await
                .expect("cqrs-es warm-up");
            let copy = format!("copy-{id}");
            raw::query_then_put(&self.es_copy.client, self.store.table(), &copy).await;
            raw::query_then_transact(&self.cqrs_copy.client, &self.events_table, &copy).await;
        }
        let tenth = (rounds / 10).max(1);
        (
            median(&put_t[..tenth]),
            median(&put_t[put_t.len() - tenth..]),
        )
    }

    /// Sections 1 and 2: the cold command, interleaved. `round` keeps each
    /// comparison's aggregates apart. Returns the es / cqrs-es ratio.
    pub(crate) async fn cold_commands(&mut self, round: usize) -> f64 {
        let n = self.iterations;
        let id = |i: usize| format!("cold-{round}-{i}");
        let copy = |i: usize| format!("copy-cold-{round}-{i}");
        // Every contender's aggregate starts with 10 events, written by the
        // framework whose layout it is in.
        for i in 0..n {
            self.seed_es(&id(i), 10, "").await;
            self.seed_es(&copy(i), 10, "").await;
            for id in [id(i), copy(i)] {
                self.cqrs
                    .execute(&id, restock(10))
                    .await
                    .expect("seed cqrs-es");
            }
        }

        // The contenders, in the order each round runs them.
        let names = [
            ("es `execute`", "es"),
            ("cqrs-es `CqrsFramework::execute` on dynamo-es", "cqrs-es"),
            (
                "es's requests by hand: Query + conditional PutItem",
                "es's by hand",
            ),
            (
                "dynamo-es's requests by hand: Query + one-item TransactWriteItems",
                "dynamo-es's by hand",
            ),
            ("a conditional PutItem alone", "PutItem"),
            (
                "a conditional PutItem alone, without `ReturnConsumedCapacity`",
                "bare PutItem",
            ),
        ];
        const PUT: usize = 4;
        let counted = |b: &Bench| {
            [
                &b.es,
                &b.cqrs_client,
                &b.es_copy,
                &b.cqrs_copy,
                &b.put,
                &b.bare_put,
            ]
            .map(Counted::counts)
        };
        let mut times: [Vec<Duration>; 6] = Default::default();
        let stats = self.store.stats().snapshot();
        let before = counted(self);
        for i in 0..n {
            for (k, samples) in times.iter_mut().enumerate() {
                let t = Instant::now();
                match k {
                    0 => {
                        let done = Product::execute(&self.store, id(i), |p| p.reserve(1))
                            .await
                            .expect("es execute");
                        assert_eq!(done.version, 11);
                    }
                    1 => self
                        .cqrs
                        .execute(&id(i), CqrsCommand::Reserve { quantity: 1 })
                        .await
                        .expect("cqrs-es execute"),
                    2 => {
                        raw::query_then_put(&self.es_copy.client, self.store.table(), &copy(i))
                            .await
                    }
                    3 => {
                        raw::query_then_transact(
                            &self.cqrs_copy.client,
                            &self.events_table,
                            &copy(i),
                        )
                        .await
                    }
                    4 => self.put(false).await,
                    _ => self.put(true).await,
                }
                samples.push(t.elapsed());
            }
        }
        let stats = self.store.stats().snapshot() - stats;
        let costs: Vec<Counts> = counted(self)
            .iter()
            .zip(&before)
            .map(|(a, b)| a.since(b))
            .collect();

        // Every command read its aggregate's 10 events and wrote one item,
        // so no contender timed a smaller request than it stands for.
        for (k, c) in costs.iter().enumerate() {
            let read = if k < PUT { 10 * n as u64 } else { 0 };
            assert_eq!(
                (c.items_read, c.items_written),
                (read, n as u64),
                "{}",
                names[k].0
            );
        }
        // And the first aggregate of each framework loads the state its 11
        // events give.
        let loaded = self
            .cqrs_event_store()
            .load_aggregate(&id(0))
            .await
            .expect("load");
        assert_eq!((loaded.current_sequence, loaded.aggregate.on_hand), (11, 9));
        let es_loaded = Product::load(&self.store, id(0)).await.expect("load");
        assert_eq!((es_loaded.version(), es_loaded.on_hand), (11, 9));

        let m: Vec<Duration> = times.iter().map(|t| median(t)).collect();
        println!("| contender | median | × PutItem | calls per command | HTTP requests per command | RCU + WCU per command | bytes written per command |");
        println!("|---|---|---|---|---|---|---|");
        for (k, (name, _)) in names.iter().enumerate() {
            let c = &costs[k];
            println!(
                "| {name} | {} | {:.3} | {} | {} | {} + {} | {} |",
                ms(m[k]),
                ratio(m[k], m[PUT]),
                c.operations_per(n),
                trim(c.requests as f64 / n as f64),
                trim(c.read_units / n as f64),
                trim(c.write_units / n as f64),
                trim(c.bytes_written as f64 / n as f64),
            );
        }
        let es_vs_cqrs = ratio(m[0], m[1]);
        println!(
            "\n× PutItem divides by the PutItem that asks for its consumed capacity, as es's \
             requests do and as the baseline of benches/dynamodb.rs does."
        );
        println!(
            "\nes / cqrs-es: **{es_vs_cqrs:.3}**. Each against its own requests written by hand: \
             es **{:.3}**, cqrs-es **{:.3}**. A PutItem that asks for its consumed capacity / one \
             that does not: **{:.3}**. es's own `Stats` for the same commands: \
             {} requests ({} read, {} write), {} RCU + {} WCU per command.\n",
            ratio(m[0], m[2]),
            ratio(m[1], m[3]),
            ratio(m[PUT], m[PUT + 1]),
            trim(stats.requests as f64 / n as f64),
            trim(stats.reads as f64 / n as f64),
            trim(stats.writes as f64 / n as f64),
            trim(stats.read_units / n as f64),
            trim(stats.write_units / n as f64),
        );
        println!("By blocks of consecutive commands:\n");
        let contenders: Vec<(&str, &[Duration])> = names
            .iter()
            .zip(&times)
            .map(|((_, short), t)| (*short, t.as_slice()))
            .collect();
        print_blocks(&contenders, &[(0, PUT), (1, PUT), (0, 1)]);
        es_vs_cqrs
    }
}
