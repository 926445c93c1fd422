//! What durable timers cost on DynamoDB Local, and how close to their due
//! time they fire. Prints a Markdown report and a headline JSON line.
//!
//! ```text
//! scripts/dynamodb-local.sh run -- cargo bench --bench timers
//! ```
//!
//! 1. **Requests and write units per timer**: scheduled, cancelled, fired
//!    (the sweep's share of its `Query` and the mark), counted by the timer
//!    table's own `Stats`.
//! 2. **An idle sweep**: what the sweeper costs when nothing is due (once a
//!    minute on AWS).
//! 3. **Precision**: 200 timers due at random times over the next 4
//!    seconds, swept every 100 ms by a loop: how late each fired.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use es::{Clock, FireTimer, Sweeper, SystemClock, Timer, TimerStore};
use es_dynamo::DynamoTimers;

const TIMERS: usize = 200;

/// Records when each timer fired, against when it was due.
#[derive(Clone, Default)]
struct Lateness(Arc<Mutex<Vec<u64>>>);

impl FireTimer for Lateness {
    type Error = std::convert::Infallible;

    async fn fire(&self, timer: &Timer) -> Result<(), Self::Error> {
        let late = SystemClock.now_millis().saturating_sub(timer.due_millis);
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(late);
        Ok(())
    }
}

#[tokio::main]
async fn main() {
    if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_none() {
        eprintln!("timers bench: no AWS_ENDPOINT_URL_DYNAMODB; run it under scripts/dynamodb-local.sh run --");
        return;
    }
    let timers =
        DynamoTimers::from_env(es_dynamo::testing::unique_table_name("bench-timers")).await;
    timers.ensure_table().await.expect("the timers table");
    let far = SystemClock.now_millis() + 3_600_000;
    let timer = |n: usize, due: u64| {
        Timer::new(
            format!("bench-{n}"),
            due,
            "Bench",
            &serde_json::json!({"cart_id": format!("cart-{n}"), "sku": "mug"}),
        )
        .expect("a timer")
    };

    // 1. Per timer.
    let n = 100u64;
    let before = timers.stats().snapshot();
    for i in 0..n as usize {
        timers.schedule(&timer(i, far)).await.expect("schedule");
    }
    let scheduled = timers.stats().snapshot() - before;
    let before = timers.stats().snapshot();
    for i in 0..(n / 2) as usize {
        timers.cancel(&format!("bench-{i}")).await.expect("cancel");
    }
    let cancelled = timers.stats().snapshot() - before;
    let before = timers.stats().snapshot();
    let fired_report = Sweeper::new(timers.clone(), Lateness::default(), FixedClock(far))
        .sweep()
        .await
        .expect("sweep");
    let fired = timers.stats().snapshot() - before;
    assert_eq!(fired_report.fired, n / 2);
    let per = |requests: u64, count: u64| requests as f64 / count as f64;

    // 2. An idle sweep.
    let before = timers.stats().snapshot();
    let idle = Sweeper::new(timers.clone(), Lateness::default(), SystemClock)
        .sweep()
        .await
        .expect("sweep");
    let idle_used = timers.stats().snapshot() - before;
    assert_eq!(idle.fired, 0);

    // 3. Precision.
    let start = SystemClock.now_millis() + 200;
    let mut rng = fastrand::Rng::with_seed(11);
    for i in 0..TIMERS {
        timers
            .schedule(&timer(1_000 + i, start + rng.u64(0..4_000)))
            .await
            .expect("schedule");
    }
    let lateness = Lateness::default();
    let sweeper = Sweeper::new(timers.clone(), lateness.clone(), SystemClock);
    let seen = lateness.clone();
    sweeper
        .run_until(Duration::from_millis(100), async move {
            while seen.0.lock().unwrap_or_else(|p| p.into_inner()).len() < TIMERS {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
    let mut late = lateness.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
    late.sort_unstable();
    let quantile = |q: f64| late[((late.len() - 1) as f64 * q).round() as usize];

    println!("## Durable timers on DynamoDB Local\n");
    println!("| operation | requests per timer | write units per timer | read units per timer |\n|---|---|---|---|");
    println!(
        "| schedule (conditional `PutItem`; the index holds a copy) | {:.2} | {:.2} | 0 |",
        per(scheduled.requests, n),
        scheduled.write_units / n as f64
    );
    println!(
        "| cancel (conditional `UpdateItem`; the timer leaves the index) | {:.2} | {:.2} | 0 |",
        per(cancelled.requests, n / 2),
        cancelled.write_units / (n / 2) as f64
    );
    println!(
        "| fire (its share of the sweep's `Query`, and the conditional `UpdateItem` that marks it) | {:.2} | {:.2} | {:.3} |",
        per(fired.requests, n / 2),
        fired.write_units / (n / 2) as f64,
        fired.read_units / (n / 2) as f64
    );
    println!(
        "\nAn idle sweep (nothing due): {} request, {:.1} read units; at one sweep a minute, {} requests and {:.0} read units a day.\n",
        idle_used.requests,
        idle_used.read_units,
        idle_used.requests * 1_440,
        idle_used.read_units * 1_440.0
    );
    println!(
        "Precision: {TIMERS} timers due over 4 s, a sweep every 100 ms: late by {} ms at the median, {} ms at p99, {} ms at most.\n",
        quantile(0.5),
        quantile(0.99),
        late.last().copied().unwrap_or(0)
    );
    println!("Headline figures, as one JSON line:\n");
    println!(
        "{{\"timer_schedule_requests\":{:.2},\"timer_schedule_wcu\":{:.2},\"timer_cancel_requests\":{:.2},\"timer_fire_requests\":{:.2},\"sweep_idle_requests\":{},\"timer_late_ms_p50\":{},\"timer_late_ms_p99\":{}}}",
        per(scheduled.requests, n),
        scheduled.write_units / n as f64,
        per(cancelled.requests, n / 2),
        per(fired.requests, n / 2),
        idle_used.requests,
        quantile(0.5),
        quantile(0.99)
    );
}

/// A clock stopped at one instant.
#[derive(Clone, Copy)]
struct FixedClock(u64);

impl Clock for FixedClock {
    fn now_millis(&self) -> u64 {
        self.0
    }
}
