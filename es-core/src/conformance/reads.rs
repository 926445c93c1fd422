//! Checks of reads: paging, catching up, listing, snapshots, odd ids and cursors.

use std::collections::HashSet;

use futures::TryStreamExt;

use super::model::*;
use super::{commit_raw, notes_of, unique};
use crate::error::Error;
use crate::event::EventSet;
use crate::ops::AggregateExt;
use crate::root::Root;
use crate::store::{Cursor, Direction, EventStore, Page, ReadRequest, StoredEvent};

/// See [`CHECKS`](super::CHECKS).
pub async fn loads_follow_every_page<S: EventStore>(store: &S) {
    let id = unique("paged");
    let mut p = Product::load(store, &id).await.expect("load");
    // 48 events of 40 KB: 1.9 MB, so at least two 1 MB pages in any store.
    for batch in 0..6 {
        let events: Vec<ProductEvent> = (0..8)
            .map(|n| {
                Noted {
                    text: format!("{batch}-{n}-{}", "x".repeat(40 * 1024)),
                }
                .into()
            })
            .collect();
        p.commit_all(events).await.expect("commit a batch");
    }
    let before = store.stats().snapshot();
    let loaded = Product::load(store, &id).await.expect("load");
    let cost = store.stats().snapshot() - before;
    assert_eq!(
        (loaded.version(), loaded.notes),
        (48, 48),
        "every page is applied"
    );
    assert!(
        cost.reads >= 2,
        "1.9 MB cannot come in one page (reads: {})",
        cost.reads
    );
    assert_eq!(cost.items_read, 48, "each event is read once");
    let texts: Vec<_> = notes_of(store, &id)
        .await
        .iter()
        .map(|(_, text)| text.split('-').take(2).collect::<Vec<_>>().join("-"))
        .collect();
    let expected: Vec<_> = (0..6)
        .flat_map(|b| (0..8).map(move |n| format!("{b}-{n}")))
        .collect();
    assert_eq!(texts, expected, "history streams every event in order");
}

/// See [`CHECKS`](super::CHECKS).
pub async fn hydrate_reads_only_new_events<S: EventStore>(store: &S) {
    let id = unique("hydrate");
    let mut writer = Product::load(store, &id).await.expect("load");
    for _ in 0..10 {
        writer
            .commit(Restocked { amount: 1 })
            .await
            .expect("commit");
    }
    let mut reader = Product::load(store, &id).await.expect("load");
    writer
        .commit_all([Restocked { amount: 1 }, Restocked { amount: 1 }])
        .await
        .expect("commit");
    let before = store.stats().snapshot();
    assert_eq!(reader.hydrate().await.expect("hydrate"), 2);
    let cost = store.stats().snapshot() - before;
    assert_eq!(
        (cost.reads, cost.items_read),
        (1, 2),
        "hydrate is one read of the two new events"
    );
    assert_eq!((reader.version(), reader.on_hand), (12, 12));
    let before = store.stats().snapshot();
    assert_eq!(reader.hydrate().await.expect("hydrate"), 0);
    assert_eq!((store.stats().snapshot() - before).items_read, 0);
}

/// See [`CHECKS`](super::CHECKS).
pub async fn backward_reads_page_newest_first<S: EventStore>(store: &S) {
    let id = unique("backward");
    let mut p = Product::load(store, &id).await.expect("load");
    p.commit_all(
        (0..7)
            .map(|_| ProductEvent::from(Restocked { amount: 1 }))
            .collect::<Vec<_>>(),
    )
    .await
    .expect("commit");
    let pages = read_pages(
        store,
        ReadRequest {
            aggregate: "Product",
            id: &id,
            after: 2,
            until: None,
            direction: Direction::Backward,
            limit: Some(2),
            cursor: None,
        },
    )
    .await;
    assert!(
        pages.iter().all(|page| page.items.len() <= 2),
        "a page holds at most `limit` items"
    );
    let seen: Vec<u64> = pages
        .iter()
        .flat_map(|page| &page.items)
        .map(|e| e.version)
        .collect();
    assert_eq!(
        seen,
        vec![7, 6, 5, 4, 3],
        "newest first, above `after`, each once"
    );
    let page = store
        .read(ReadRequest {
            aggregate: "Product",
            id: &id,
            after: 0,
            until: None,
            direction: Direction::Forward,
            limit: Some(3),
            cursor: None,
        })
        .await
        .expect("read");
    assert_eq!(
        page.items.iter().map(|e| e.version).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert!(page.next.is_some(), "a page cut by the limit has a cursor");
}

/// See [`CHECKS`](super::CHECKS).
pub async fn list_ids_pages_through_every_id<S: EventStore>(store: &S) {
    let prefix = unique("ids");
    let ids: Vec<String> = (0..25).map(|n| format!("{prefix}-{n:02}")).collect();
    for id in &ids {
        let mut p = Product::load(store, id).await.expect("load");
        p.commit(Restocked { amount: 1 }).await.expect("commit");
        p.commit(Restocked { amount: 1 })
            .await
            .expect("a second event adds no id");
    }
    let mut listed = Vec::new();
    let mut cursor: Option<Cursor> = None;
    let mut pages = 0;
    loop {
        let page = store
            .list_ids("Product", Some(10), cursor)
            .await
            .expect("list_ids");
        assert!(page.items.len() <= 10, "a page holds at most `limit` ids");
        pages += 1;
        listed.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(pages < 100, "list_ids never ends");
    }
    let mine: Vec<_> = listed
        .iter()
        .filter(|id| id.starts_with(&prefix))
        .cloned()
        .collect();
    assert_eq!(mine, ids, "every id once, oldest first");
    assert!(
        pages >= 3,
        "25 ids in pages of 10 take at least 3 pages, took {pages}"
    );
    let unique: HashSet<_> = listed.iter().collect();
    assert_eq!(unique.len(), listed.len(), "no id twice");
    let counters = store
        .list_ids("Counter", None, None)
        .await
        .expect("list_ids");
    assert!(
        counters.items.iter().all(|id| !id.starts_with(&prefix)),
        "ids are listed per aggregate type"
    );
}

/// See [`CHECKS`](super::CHECKS).
pub async fn find_all_loads_every_aggregate<S: EventStore>(store: &S) {
    let prefix = unique("find");
    for n in 1..=5u32 {
        let mut p = Product::load(store, format!("{prefix}-{n}"))
            .await
            .expect("load");
        p.commit_all(
            (0..n)
                .map(|_| ProductEvent::from(Restocked { amount: 10 }))
                .collect::<Vec<_>>(),
        )
        .await
        .expect("commit");
    }
    let all: Vec<Root<Product, S>> = Product::find_all(store)
        .try_collect()
        .await
        .expect("find_all");
    let mine: Vec<_> = all
        .iter()
        .filter(|r| r.id().starts_with(&prefix))
        .map(|r| (r.id().to_owned(), r.version(), r.on_hand))
        .collect();
    let expected: Vec<_> = (1..=5u32)
        .map(|n| (format!("{prefix}-{n}"), u64::from(n), n * 10))
        .collect();
    assert_eq!(mine, expected);
    assert!(
        Product::find_one(store, unique("missing"))
            .await
            .expect("find_one")
            .is_none(),
        "no events: None"
    );
    let one = Product::find_one(store, format!("{prefix}-3"))
        .await
        .expect("find_one")
        .expect("exists");
    assert_eq!(one.on_hand, 30);
    let missing = Product::get(store, unique("missing"))
        .await
        .expect_err("get of nothing");
    assert!(
        matches!(
            missing,
            Error::NotFound {
                aggregate: "Product",
                ..
            }
        ),
        "got {missing:?}"
    );
}

/// See [`CHECKS`](super::CHECKS).
pub async fn snapshots_bound_loads<S: EventStore>(store: &S) {
    let id = unique("snap");
    let mut c = Counter::load(store, &id).await.expect("load");
    for n in 1..=10u64 {
        c.commit(Added { n }).await.expect("commit");
    }
    let pages = read_pages(
        store,
        ReadRequest {
            aggregate: "Counter",
            id: &id,
            after: 0,
            until: None,
            direction: Direction::Forward,
            limit: None,
            cursor: None,
        },
    )
    .await;
    let with_snapshots: Vec<u64> = pages
        .iter()
        .flat_map(|page| &page.items)
        .filter(|e| e.snapshot.is_some())
        .map(|e| e.version)
        .collect();
    assert_eq!(
        with_snapshots,
        vec![4, 8],
        "a snapshot on every 4th version"
    );
    let before = store.stats().snapshot();
    let loaded = Counter::load(store, &id).await.expect("load");
    let cost = store.stats().snapshot() - before;
    assert_eq!(
        loaded.state(),
        &Counter {
            total: 55,
            applied: 10
        },
        "snapshot + later events = full replay"
    );
    assert_eq!(loaded.version(), 10);
    // One read in any store whose pages hold SNAPSHOT_EVERY items; stores
    // with tinier pages (test configurations) may take two.
    assert!(
        cost.reads <= 2,
        "a load through a snapshot takes one read, took {}",
        cost.reads
    );
    assert!(
        cost.items_read <= 4,
        "a load reads at most SNAPSHOT_EVERY items, read {}",
        cost.items_read
    );
    let history: Vec<_> = loaded.history().try_collect().await.expect("history");
    assert_eq!(history.len(), 10, "snapshots do not replace history");
}

/// See [`CHECKS`](super::CHECKS).
pub async fn odd_ids_round_trip<S: EventStore>(store: &S) {
    let tag = unique("odd");
    for raw in [
        "a#b",
        "#",
        "x:y",
        "it's",
        "say \"hi\"",
        "with space",
        "🛒 cart ✓",
        "$dollar",
        "a#b#c:d",
        ":v",
    ] {
        let id = format!("{raw}{tag}");
        let mut p = Product::load(store, &id).await.expect("load");
        p.commit(Restocked { amount: 7 }).await.expect("commit");
        let loaded = Product::load(store, &id).await.expect("load");
        assert_eq!(
            (loaded.id(), loaded.version(), loaded.on_hand),
            (id.as_str(), 1, 7),
            "id {id:?} round-trips"
        );
    }
    let listed: Vec<String> = Product::ids(store).try_collect().await.expect("ids");
    let odd = listed.iter().filter(|id| id.ends_with(&tag)).count();
    assert_eq!(odd, 10, "every odd id is listed as written");
    let prefix_collision = format!("a{tag}");
    assert_eq!(
        Product::load(store, &prefix_collision)
            .await
            .expect("load")
            .version(),
        0,
        "ids are not prefixes of each other"
    );
}

/// See [`CHECKS`](super::CHECKS).
pub async fn events_without_fields_round_trip<S: EventStore>(store: &S) {
    let id = unique("unit");
    let mut p = Product::load(store, &id).await.expect("load");
    p.commit(Discontinued).await.expect("commit");
    let loaded = Product::load(store, &id).await.expect("load");
    assert!(loaded.discontinued);
    let history: Vec<_> = loaded.history().try_collect().await.expect("history");
    let names: Vec<_> = history.iter().map(|r| r.event.name()).collect();
    assert_eq!(names, ["Discontinued"]);
}

/// See [`CHECKS`](super::CHECKS).
pub async fn foreign_cursors_are_refused<S: EventStore>(store: &S) {
    let id = unique("cursor");
    let bad = Cursor::new("not a cursor ☃");
    let read = store
        .read(ReadRequest {
            aggregate: "Product",
            id: &id,
            after: 0,
            until: None,
            direction: Direction::Forward,
            limit: None,
            cursor: Some(bad.clone()),
        })
        .await;
    assert!(matches!(read, Err(Error::Store(_))), "got {read:?}");
    let list = store.list_ids("Product", None, Some(bad)).await;
    assert!(matches!(list, Err(Error::Store(_))), "got {list:?}");
}

/// See [`CHECKS`](super::CHECKS).
pub async fn loads_without_a_usable_snapshot_read_forward<S: EventStore>(store: &S) {
    let id = unique("no-snap");
    // Ten events written without snapshots, as before `snapshot_every` was
    // set, or by castore.
    let events: Vec<CounterEvent> = (1..=10u64).map(|n| Added { n }.into()).collect();
    let mut append = Root::<Counter, S>::new(store, &id)
        .stage(&events)
        .expect("stage")
        .append;
    for event in &mut append.events {
        event.snapshot = None;
    }
    commit_raw(store, append, None).await.expect("commit");
    let before = store.stats().snapshot();
    let loaded = Counter::load(store, &id).await.expect("load");
    let cost = store.stats().snapshot() - before;
    assert_eq!(
        (loaded.version(), loaded.total, loaded.applied),
        (10, 55, 10)
    );
    // One page newest first finds no snapshot; then the history forward,
    // never the whole history buffered newest first.
    assert!(
        cost.items_read <= <Counter as crate::Aggregate>::SNAPSHOT_EVERY + 10,
        "read {} items",
        cost.items_read
    );

    // Snapshots written from here on bound the next loads again.
    let mut c = loaded;
    for n in 11..=12u64 {
        c.commit(Added { n }).await.expect("commit");
    }
    let before = store.stats().snapshot();
    let reloaded = Counter::load(store, &id).await.expect("load");
    let cost = store.stats().snapshot() - before;
    assert_eq!((reloaded.version(), reloaded.total), (12, 78));
    assert!(
        cost.items_read <= <Counter as crate::Aggregate>::SNAPSHOT_EVERY,
        "read {} items through the snapshot at 12",
        cost.items_read
    );
}

/// Every page of `request`, from its first, following the store's cursors.
async fn read_pages<S: EventStore>(
    store: &S,
    mut request: ReadRequest<'_>,
) -> Vec<Page<StoredEvent<S::Payload>>> {
    let mut pages = Vec::new();
    loop {
        let page = store.read(request.clone()).await.expect("read");
        request.cursor = page.next.clone();
        pages.push(page);
        if request.cursor.is_none() {
            return pages;
        }
        assert!(pages.len() < 1000, "the read never ends");
    }
}

/// See [`CHECKS`](super::CHECKS).
pub async fn version_zero_items_are_corrupt<S: EventStore>(store: &S) {
    let id = unique("v0");
    // No store takes an event at version 0 through a commit...
    let at_zero = StoredEvent {
        version: 0,
        name: "Restocked".to_owned(),
        schema: 1,
        timestamp: "2026-01-01T00:00:00.000Z".to_owned(),
        payload: Some(store.encode(&Restocked { amount: 1 }).expect("encode")),
        metadata: None,
        snapshot: None,
    };
    let append = crate::store::Append {
        aggregate: "Product",
        id: id.clone(),
        expected: 0,
        events: vec![at_zero.clone()],
    };
    commit_raw(store, append, None)
        .await
        .expect_err("an event at version 0");
    // ...and one that is read anyway (put there by another writer) is
    // corrupt, in the same words on every store.
    let err = crate::store::decode_event::<Product, S>(store, &id, at_zero)
        .expect_err("an event at version 0");
    match err {
        Error::Corrupt {
            aggregate,
            id: corrupt_id,
            version: 0,
            reason,
        } => {
            assert_eq!(
                (aggregate.as_ref(), corrupt_id.as_str()),
                ("Product", id.as_str())
            );
            assert_eq!(reason, crate::store::below_first_version(0));
        }
        other => panic!("expected Corrupt at version 0, got {other:?}"),
    }
}

/// See [`CHECKS`](super::CHECKS).
pub async fn non_string_metadata_ids_round_trip<S: EventStore>(store: &S) {
    let id = unique("meta");
    // What a castore service may store: ids that are not strings.
    let original = serde_json::json!({
        "correlationId": 42,
        "causationId": {"kind": "timer", "n": 7},
        "commandId": "cmd-1",
        "attempt": 2,
    });
    let first = StoredEvent {
        version: 1,
        name: "Restocked".to_owned(),
        schema: 1,
        timestamp: "2026-01-01T00:00:00.000Z".to_owned(),
        payload: Some(store.encode(&Restocked { amount: 1 }).expect("encode")),
        metadata: Some(store.encode(&original).expect("encode")),
        snapshot: None,
    };
    let append = crate::store::Append {
        aggregate: "Product",
        id: id.clone(),
        expected: 0,
        events: vec![first],
    };
    commit_raw(store, append, None).await.expect("a raw commit");
    let mut p = Product::load(store, &id).await.expect("loads");
    let history: Vec<_> = p.history().try_collect().await.expect("history");
    let metadata = history[0].metadata.clone();
    assert_eq!(metadata.correlation_id, None);
    assert_eq!(metadata.causation_id, None);
    assert_eq!(metadata.command_id.as_deref(), Some("cmd-1"));
    assert_eq!(metadata.extra["correlationId"], 42);
    assert_eq!(
        metadata.extra["causationId"],
        serde_json::json!({"kind": "timer", "n": 7})
    );
    // Committing with the same metadata writes every value back as it was.
    p = p.with_metadata(metadata);
    p.commit(Restocked { amount: 1 }).await.expect("commit");
    let page = store
        .read(ReadRequest {
            aggregate: "Product",
            id: &id,
            after: 1,
            until: None,
            direction: Direction::Forward,
            limit: None,
            cursor: None,
        })
        .await
        .expect("read");
    let written = page.items[0].metadata.clone().expect("metadata");
    let written: serde_json::Value = store
        .decode(std::marker::PhantomData::<serde_json::Value>, written)
        .expect("decode");
    assert_eq!(written, original);
}

/// The versions of `id`'s events of `A` that carry a snapshot.
async fn snapshot_versions<S: EventStore>(
    store: &S,
    aggregate: &'static str,
    id: &str,
) -> Vec<u64> {
    let pages = read_pages(
        store,
        ReadRequest {
            aggregate,
            id,
            after: 0,
            until: None,
            direction: Direction::Forward,
            limit: None,
            cursor: None,
        },
    )
    .await;
    pages
        .iter()
        .flat_map(|page| &page.items)
        .filter(|e| e.snapshot.is_some())
        .map(|e| e.version)
        .collect()
}

/// See [`CHECKS`](super::CHECKS).
pub async fn oversized_snapshot_never_blocks_a_commit<S: EventStore>(store: &S) {
    // A state that outgrows the item: each event keeps a 150 KB line, so at
    // version 4 the state is 600 KB, and the item could never hold it.
    let id = unique("big-state");
    let line = |n: u64| Wrote {
        text: format!("{n}-{}", "s".repeat(150 * 1024)),
        keep: true,
    };
    let mut j = Journal::load(store, &id).await.expect("load");
    for n in 1..=4 {
        j.commit(line(n))
            .await
            .expect("a commit is never blocked by its snapshot");
    }
    assert_eq!(j.version(), 4);
    assert_eq!(
        snapshot_versions(store, "Journal", &id).await,
        Vec::<u64>::new(),
        "the snapshot at version 4 was left out"
    );
    let loaded = Journal::load(store, &id)
        .await
        .expect("load without the snapshot");
    assert_eq!((loaded.version(), loaded.state()), (4, j.state()));
    // Later commits go on; a load is still a full replay's state.
    j.commit(line(5)).await.expect("commit");
    let loaded = Journal::load(store, &id).await.expect("load");
    assert_eq!((loaded.version(), loaded.state()), (5, j.state()));

    // A transaction whose snapshots would take it past 4 MB, though each
    // item fits: a 350 KB state, then 48 small events in one commit, with
    // 12 snapshots of it. Enough of them are left out for it to fit.
    let id = unique("big-tx");
    let mut j = Journal::load(store, &id).await.expect("load");
    j.commit(Wrote {
        text: "t".repeat(350 * 1024),
        keep: true,
    })
    .await
    .expect("commit");
    let small: Vec<JournalEvent> = (0..48)
        .map(|n| {
            Wrote {
                text: n.to_string(),
                keep: false,
            }
            .into()
        })
        .collect();
    j.commit_all(small)
        .await
        .expect("a transaction is never blocked by its snapshots");
    assert_eq!((j.version(), j.written), (49, 49));
    let kept = snapshot_versions(store, "Journal", &id).await;
    assert!(
        !kept.is_empty() && kept.len() < 12,
        "some snapshots were left out, not all: {kept:?}"
    );
    let loaded = Journal::load(store, &id).await.expect("load");
    assert_eq!((loaded.version(), loaded.state()), (49, j.state()));
}

/// See [`CHECKS`](super::CHECKS).
pub async fn cut_backward_pages_still_bound_loads<S: EventStore>(store: &S) {
    // Events of 390 KB: a 1 MB page holds about three, so the newest-first
    // page of a load is cut before it reaches the snapshot at version 4.
    let id = unique("cut");
    let mut j = Journal::load(store, &id).await.expect("load");
    for n in 1..=7 {
        j.commit(Wrote {
            text: format!("{n}-{}", "c".repeat(390 * 1024)),
            keep: false,
        })
        .await
        .expect("commit");
    }
    assert_eq!(snapshot_versions(store, "Journal", &id).await, vec![4]);
    let before = store.stats().snapshot();
    let loaded = Journal::load(store, &id).await.expect("load");
    let cost = store.stats().snapshot() - before;
    assert_eq!((loaded.version(), loaded.state()), (7, j.state()));
    assert!(
        cost.items_read <= 4,
        "a load reads at most SNAPSHOT_EVERY items however its pages are cut, read {}",
        cost.items_read
    );
}

/// See [`CHECKS`](super::CHECKS).
pub async fn decode_errors_name_the_field_and_what_was_found<S: EventStore>(store: &S) {
    let id = unique("bad-field");
    let restocked = |version: u64, payload: serde_json::Value| StoredEvent {
        version,
        name: "Restocked".to_owned(),
        schema: 1,
        timestamp: "2026-01-01T00:00:00.000Z".to_owned(),
        payload: Some(store.encode(&payload).expect("encode")),
        metadata: None,
        snapshot: None,
    };
    let append = crate::store::Append {
        aggregate: "Product",
        id: id.clone(),
        expected: 0,
        events: vec![
            restocked(1, serde_json::json!({"amount": 3})),
            restocked(2, serde_json::json!({"amount": "one"})),
        ],
    };
    commit_raw(store, append, None).await.expect("a raw commit");
    let err = Product::load(store, &id)
        .await
        .expect_err("a payload that does not fit");
    match err {
        Error::Corrupt {
            aggregate,
            id: corrupt_id,
            version: 2,
            reason,
        } => {
            assert_eq!(
                (aggregate.as_ref(), corrupt_id.as_str()),
                ("Product", id.as_str())
            );
            // The same words on every store: the event, the field's path,
            // what was found and what was expected.
            assert_eq!(
                reason,
                "payload of Restocked: field `amount`: invalid type: string \"one\", expected u32"
            );
        }
        other => panic!("expected Corrupt at version 2, got {other:?}"),
    }
    // The store's own decoding names the path apart, for callers to read.
    let payload = store
        .encode(&serde_json::json!({"amount": "one"}))
        .expect("encode");
    let err = store
        .decode(std::marker::PhantomData::<Restocked>, payload)
        .expect_err("a string amount");
    assert_eq!(err.path.as_deref(), Some("amount"));
    assert_eq!(err.message, "invalid type: string \"one\", expected u32");
    let payload = store.encode(&7).expect("encode");
    let err = store
        .decode(std::marker::PhantomData::<Restocked>, payload)
        .expect_err("a number");
    assert_eq!(err.path, None, "the value itself failed: {err}");
}

/// See [`CHECKS`](super::CHECKS).
pub async fn load_as_of_a_version<S: EventStore>(store: &S) {
    // Raw reads with an upper bound, paged both ways.
    let id = unique("asof");
    let mut c = Counter::load(store, &id).await.expect("load");
    for n in 1..=10u64 {
        c.commit(Added { n }).await.expect("commit");
    }
    let read = |after, until, direction| {
        read_pages(
            store,
            ReadRequest {
                aggregate: "Counter",
                id: &id,
                after,
                until: Some(until),
                direction,
                limit: Some(2),
                cursor: None,
            },
        )
    };
    let versions = |pages: Vec<Page<StoredEvent<S::Payload>>>| -> Vec<u64> {
        pages
            .iter()
            .flat_map(|page| &page.items)
            .map(|e| e.version)
            .collect()
    };
    assert_eq!(
        versions(read(0, 7, Direction::Backward).await),
        vec![7, 6, 5, 4, 3, 2, 1],
        "newest first from `until`"
    );
    assert_eq!(
        versions(read(2, 7, Direction::Forward).await),
        vec![3, 4, 5, 6, 7],
        "oldest first, between `after` and `until`"
    );
    assert_eq!(
        versions(read(7, 7, Direction::Forward).await),
        Vec::<u64>::new(),
        "nothing between"
    );

    // Every version loads as a replay of its first events, through the
    // snapshot at or below it, reading at most SNAPSHOT_EVERY events.
    for version in 0..=10u64 {
        let before = store.stats().snapshot();
        let then = Counter::load_at(store, &id, version)
            .await
            .unwrap_or_else(|e| panic!("load as of {version}: {e:?}"));
        let cost = store.stats().snapshot() - before;
        assert_eq!(
            (then.version(), then.state()),
            (
                version,
                &Counter {
                    total: (1..=version).sum(),
                    applied: version,
                }
            ),
            "as of {version}"
        );
        assert!(
            cost.items_read <= 4,
            "a load as of {version} reads at most SNAPSHOT_EVERY items, read {}",
            cost.items_read
        );
    }
    let err = Counter::load_at(store, &id, 11)
        .await
        .expect_err("no version 11");
    assert!(
        matches!(
            err,
            Error::VersionNotFound {
                version: 11,
                latest: 10,
                ..
            }
        ),
        "got {err:?}"
    );
    let err = Product::load_at(store, unique("none"), 1)
        .await
        .expect_err("no events at all");
    assert!(
        matches!(
            err,
            Error::VersionNotFound {
                version: 1,
                latest: 0,
                ..
            }
        ),
        "got {err:?}"
    );

    // A history after a version starts right after it.
    for after in [0u64, 3, 8, 10, 12] {
        let events: Vec<_> = c.history_after(after).try_collect().await.expect("history");
        let got: Vec<u64> = events.iter().map(|r| r.version).collect();
        let want: Vec<u64> = (after + 1..=10).collect();
        assert_eq!(got, want, "history after {after}");
    }

    // Without snapshots, and with a gap at version 3: versions below the
    // gap load, and nothing through it does.
    let id = unique("asof-gap");
    let mut p = Product::load(store, &id).await.expect("load");
    p.commit(Restocked { amount: 1 }).await.expect("commit");
    p.commit(Restocked { amount: 2 }).await.expect("commit");
    let mut past_the_end = p
        .stage(&[Restocked { amount: 4 }.into()])
        .expect("stage")
        .append;
    past_the_end.expected = 3;
    past_the_end.events[0].version = 4;
    commit_raw(store, past_the_end, None)
        .await
        .expect("an append whose own version is free is written");
    let then = Product::load_at(store, &id, 2).await.expect("as of 2");
    assert_eq!((then.version(), then.on_hand), (2, 3));
    let err = Product::load_at(store, &id, 4)
        .await
        .expect_err("through the gap");
    assert!(
        matches!(err, Error::Corrupt { version: 4, .. }),
        "got {err:?}"
    );
    for after in [0u64, 1, 2] {
        let err = p
            .history_after(after)
            .try_collect::<Vec<_>>()
            .await
            .expect_err("a history through the gap");
        assert!(
            matches!(err, Error::Corrupt { version: 4, .. }),
            "history after {after}: got {err:?}"
        );
    }
}
