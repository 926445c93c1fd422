//! Rebuilding a projection from history: every stored aggregate it listens
//! to, each one's events in order, for a new or changed read model.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::stream::{self, TryStreamExt as _};
use tracing::Instrument as _;

use crate::error::Error;
use crate::limits::stream_key;
use crate::projection::{Projection, ProjectionError};
use crate::projector::Projector;
use crate::store::{Cursor, EventStore};
use crate::view::ViewTable;

/// Starts a rebuild of a projector's projection over every aggregate in its
/// store that it listens to. Set its options, then [`Rebuild::run`] it.
///
/// Aggregates are listed oldest first, a page of ids at a time, and up to
/// [`concurrency`](Rebuild::concurrency) of them are caught up at once
/// ([`Projector::catch_up`]): each one's events after the projection's
/// position for it, in version order. So a rebuild applies only what the
/// projection is missing. It can run beside the live projection, in either
/// order or at once, and an interrupted one can start again: the positions
/// say what was applied. With [`checkpoint`](Rebuild::checkpoint), it also
/// skips the pages of ids it finished.
///
/// Progress goes to `tracing` (an `info` event per page of ids) and to
/// [`on_progress`](Rebuild::on_progress).
///
/// To rebuild a changed read model from scratch, give it an empty table
/// (or a new projection name): positions and views are kept together.
pub fn rebuild<S: EventStore, T: ViewTable, P: Projection>(
    projector: &Projector<S, T, P>,
) -> Rebuild<'_, S, T, P> {
    Rebuild {
        projector,
        concurrency: 16,
        page: 100,
        checkpoint: false,
        progress: None,
    }
}

/// A rebuild being set up; see [`rebuild`].
#[must_use = "a rebuild does nothing until it is run"]
pub struct Rebuild<'a, S, T, P> {
    projector: &'a Projector<S, T, P>,
    concurrency: usize,
    page: usize,
    checkpoint: bool,
    progress: Option<OnProgress<'a>>,
}

/// A caller's progress report.
type OnProgress<'a> = Box<dyn Fn(&Progress) + Send + Sync + 'a>;

/// How far a rebuild has got: reported after each page of ids, and at most
/// four times a second while a page is in progress.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    /// The aggregate type being rebuilt.
    pub aggregate: &'static str,
    /// Pages of ids finished so far, of every type, in this run.
    pub pages: u64,
    /// Aggregates projected so far, of every type, in this run.
    pub aggregates: u64,
    /// Events projected so far in this run.
    pub events: u64,
    /// Time since this run started.
    pub elapsed: Duration,
}

impl Progress {
    /// Events per second so far.
    pub fn events_per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.events as f64 / secs
        } else {
            0.0
        }
    }
}

/// What a finished rebuild did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RebuildReport {
    /// Aggregates projected in this run.
    pub aggregates: u64,
    /// Events projected in this run: those after each aggregate's position.
    pub events: u64,
    /// Events a handler ran for.
    pub applied: u64,
    /// Events of listened aggregates that no handler wants.
    pub ignored: u64,
    /// Whether this run resumed an interrupted one.
    pub resumed: bool,
    /// How long it took.
    pub elapsed: Duration,
}

impl<'a, S: EventStore, T: ViewTable, P: Projection> Rebuild<'a, S, T, P> {
    /// How many aggregates are projected at once (default 16, at least 1).
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// How many ids are listed per page, the unit of progress and of
    /// checkpoints (default 100, at least 1).
    pub fn page_size(mut self, ids: usize) -> Self {
        self.page = ids.max(1);
        self
    }

    /// Called after each page of ids, and at most four times a second while
    /// a page is in progress (after an aggregate is done).
    pub fn on_progress(mut self, report: impl Fn(&Progress) + Send + Sync + 'a) -> Self {
        self.progress = Some(Box::new(report));
        self
    }

    /// Shows a progress line on stderr while the rebuild runs, when stderr
    /// is a terminal (feature `progress`); elsewhere, such as on Lambda or
    /// in CI, the `tracing` events are the report. It takes the place of an
    /// [`on_progress`](Rebuild::on_progress) callback.
    #[cfg(feature = "progress")]
    pub fn progress_bar(self) -> Self {
        use std::io::IsTerminal as _;
        if !std::io::stderr().is_terminal() {
            return self;
        }
        let bar = indicatif::ProgressBar::new_spinner();
        let style = indicatif::ProgressStyle::with_template(
            "{spinner} rebuilding {prefix}: {msg} [{elapsed}]",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
        bar.set_style(style);
        bar.set_prefix(P::NAME);
        bar.enable_steady_tick(Duration::from_millis(120));
        self.on_progress(move |p| {
            bar.set_message(format!(
                "{}, {} aggregates, {} events, {:.0} events/s",
                p.aggregate,
                p.aggregates,
                p.events,
                p.events_per_second()
            ));
        })
    }

    /// Keeps a checkpoint in the projector's table after each page of ids,
    /// under `$rebuild#{projection name}`, and starts from it when one is
    /// there: a rebuild that was interrupted resumes at the page it was in.
    /// A rebuild that finishes removes it.
    pub fn checkpoint(mut self) -> Self {
        self.checkpoint = true;
        self
    }

    /// Runs the rebuild to the end.
    ///
    /// # Errors
    ///
    /// The first event that failed, naming its aggregate, id and version: a
    /// handler's error, an event that does not decode, a history with a
    /// gap, or a store failure. Events after it were not all projected; with
    /// a checkpoint, the next run starts again at the page it failed in.
    pub async fn run(self) -> Result<RebuildReport, ProjectionError<P::Error>> {
        let span = tracing::info_span!("rebuild", projection = P::NAME);
        self.run_in_span().instrument(span).await
    }

    async fn run_in_span(self) -> Result<RebuildReport, ProjectionError<P::Error>> {
        let name = format!("$rebuild#{}", P::NAME);
        let started = Instant::now();
        let fail = |source: Error| ProjectionError::Event {
            projection: P::NAME,
            source,
        };
        let mut aggregates = P::aggregates();
        aggregates.sort_unstable();
        aggregates.dedup();
        let resume = self.load_checkpoint(&name).await.map_err(fail)?;
        let (mut from, mut cursor) = match resume.as_deref().map(parse_checkpoint) {
            Some(Some((aggregate, cursor))) => {
                match aggregates.iter().position(|a| *a == aggregate) {
                    Some(i) => (i, cursor),
                    None => (0, None),
                }
            }
            _ => (0, None),
        };
        let resumed = resume.is_some();
        let counts = Counts::new();
        while let Some(&aggregate) = aggregates.get(from) {
            loop {
                let page = self
                    .projector
                    .store()
                    .list_ids(aggregate, Some(self.page), cursor.clone())
                    .await
                    .map_err(fail)?;
                let keys: Vec<String> = page
                    .items
                    .iter()
                    .map(|id| stream_key(aggregate, id))
                    .collect();
                self.projector.prefetch(&keys).await.map_err(fail)?;
                stream::iter(page.items.iter().map(Ok))
                    .try_for_each_concurrent(self.concurrency, |id| {
                        self.project_one(aggregate, id, &counts)
                    })
                    .await?;
                cursor = page.next;
                let saved = cursor
                    .as_ref()
                    .map(|c| format!("{aggregate}\n{}", c.as_str()));
                match &saved {
                    Some(value) => self.store_checkpoint(&name, Some(value)).await,
                    // This type is done: the next starts from its first page.
                    None => match aggregates.get(from + 1) {
                        Some(next) => {
                            self.store_checkpoint(&name, Some(&format!("{next}\n")))
                                .await
                        }
                        None => Ok(()),
                    },
                }
                .map_err(fail)?;
                counts.pages.fetch_add(1, Ordering::Relaxed);
                let progress = counts.progress(aggregate);
                tracing::info!(
                    aggregate,
                    aggregates = progress.aggregates,
                    events = progress.events,
                    events_per_second = progress.events_per_second() as u64,
                    "rebuilding"
                );
                if let Some(report) = &self.progress {
                    report(&progress);
                }
                if cursor.is_none() {
                    break;
                }
            }
            from += 1;
        }
        self.store_checkpoint(&name, None).await.map_err(fail)?;
        Ok(RebuildReport {
            aggregates: counts.aggregates.load(Ordering::Relaxed),
            events: counts.events.load(Ordering::Relaxed),
            applied: counts.applied.load(Ordering::Relaxed),
            ignored: counts.ignored.load(Ordering::Relaxed),
            resumed,
            elapsed: started.elapsed(),
        })
    }

    async fn load_checkpoint(&self, name: &str) -> Result<Option<String>, Error> {
        if !self.checkpoint {
            return Ok(None);
        }
        self.projector.table().checkpoint(name).await
    }

    async fn store_checkpoint(&self, name: &str, value: Option<&str>) -> Result<(), Error> {
        if !self.checkpoint {
            return Ok(());
        }
        self.projector.table().set_checkpoint(name, value).await
    }

    /// Catches one aggregate up: its events after the projection's
    /// position, in order, checked to run on from it as a load checks them.
    async fn project_one(
        &self,
        aggregate: &'static str,
        id: &str,
        counts: &Counts,
    ) -> Result<(), ProjectionError<P::Error>> {
        let outcome = match self.projector.catch_up(aggregate, id).await {
            Ok(outcome) => outcome,
            Err(halted) => {
                counts.add(&halted.done);
                return Err(halted.error);
            }
        };
        counts.add(&outcome);
        counts.aggregates.fetch_add(1, Ordering::Relaxed);
        if let Some(report) = &self.progress {
            if counts.due() {
                report(&counts.progress(aggregate));
            }
        }
        Ok(())
    }
}

struct Counts {
    started: Instant,
    aggregates: AtomicU64,
    events: AtomicU64,
    applied: AtomicU64,
    ignored: AtomicU64,
    pages: AtomicU64,
    /// When progress was last reported between pages.
    reported: std::sync::Mutex<Instant>,
}

/// The least time between two reports while a page is in progress.
const REPORT_EVERY: Duration = Duration::from_millis(250);

impl Counts {
    fn new() -> Self {
        let now = Instant::now();
        Counts {
            started: now,
            aggregates: AtomicU64::new(0),
            events: AtomicU64::new(0),
            applied: AtomicU64::new(0),
            ignored: AtomicU64::new(0),
            pages: AtomicU64::new(0),
            reported: std::sync::Mutex::new(now),
        }
    }

    fn add(&self, outcome: &crate::projector::Outcome) {
        let events = outcome.applied + outcome.ignored;
        self.events.fetch_add(events, Ordering::Relaxed);
        self.applied.fetch_add(outcome.applied, Ordering::Relaxed);
        self.ignored.fetch_add(outcome.ignored, Ordering::Relaxed);
    }

    fn progress(&self, aggregate: &'static str) -> Progress {
        Progress {
            aggregate,
            pages: self.pages.load(Ordering::Relaxed),
            aggregates: self.aggregates.load(Ordering::Relaxed),
            events: self.events.load(Ordering::Relaxed),
            elapsed: self.started.elapsed(),
        }
    }

    /// Whether a report between pages is due, and if so, marks it made.
    fn due(&self) -> bool {
        // A poisoned lock only means another task panicked mid-report:
        // the instant in it is still an instant.
        let mut last = self
            .reported
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if last.elapsed() < REPORT_EVERY {
            return false;
        }
        *last = Instant::now();
        true
    }
}

/// `"{aggregate}\n{cursor}"`, the cursor empty at a type's first page.
fn parse_checkpoint(value: &str) -> Option<(&str, Option<Cursor>)> {
    let (aggregate, cursor) = value.split_once('\n')?;
    Some((aggregate, (!cursor.is_empty()).then(|| Cursor::new(cursor))))
}
