//! Property tests: paging and replay agree with a plain model for any history,
//! page size, direction and starting version.

use es_core::conformance::model::*;
use es_core::store::{Direction, ReadRequest};
use es_core::{AggregateExt, EventStore, MemoryStore, Root};
use futures::TryStreamExt;
use proptest::prelude::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

async fn read_all(
    store: &MemoryStore,
    after: u64,
    direction: Direction,
    limit: Option<usize>,
) -> Vec<u64> {
    let mut versions = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .read(ReadRequest {
                aggregate: "Product",
                id: "p",
                after,
                until: None,
                direction,
                limit,
                cursor,
            })
            .await
            .expect("read");
        if let Some(limit) = limit {
            assert!(page.items.len() <= limit);
        }
        versions.extend(page.items.iter().map(|e| e.version));
        match page.next {
            Some(next) => cursor = Some(next),
            None => return versions,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn paged_reads_return_each_version_once_in_order(
        batches in prop::collection::vec(1usize..6, 1..12),
        page in 1usize..7,
        limit in prop::option::of(1usize..5),
        after_frac in 0.0f64..1.2,
    ) {
        runtime().block_on(async {
            let store = MemoryStore::with_page_items(page);
            let mut p = Product::load(&store, "p").await.expect("load");
            for size in &batches {
                let events: Vec<ProductEvent> = (0..*size).map(|_| Restocked { amount: 1 }.into()).collect();
                p.commit_all(events).await.expect("commit");
            }
            let total: u64 = batches.iter().map(|&b| b as u64).sum();
            let after = ((total as f64) * after_frac) as u64;
            let forward: Vec<u64> = (after + 1..=total).collect();
            let backward: Vec<u64> = forward.iter().rev().copied().collect();
            assert_eq!(read_all(&store, after, Direction::Forward, limit).await, forward);
            assert_eq!(read_all(&store, after, Direction::Backward, limit).await, backward);

            let loaded = Product::load(&store, "p").await.expect("load");
            assert_eq!((loaded.version(), u64::from(loaded.on_hand)), (total, total));
            let history: Vec<_> = Root::<Product, _>::new(&store, "p").history().try_collect().await.expect("history");
            assert_eq!(history.len() as u64, total);
        });
    }

    #[test]
    fn snapshot_loads_equal_full_replays(adds in prop::collection::vec(0u64..1000, 1..40), page in 1usize..9) {
        runtime().block_on(async {
            let store = MemoryStore::with_page_items(page);
            let mut c = Counter::load(&store, "c").await.expect("load");
            for n in &adds {
                c.commit(Added { n: *n }).await.expect("commit");
            }
            let loaded = Counter::load(&store, "c").await.expect("load");
            let expected = Counter { total: adds.iter().sum(), applied: adds.len() as u64 };
            assert_eq!(loaded.state(), &expected);
            assert_eq!(loaded.version(), adds.len() as u64);
        });
    }

    #[test]
    fn timestamps_format_like_iso_8601(millis in 0i64..4_102_444_800_000) {
        let s = es_core::store::format_millis(millis).expect("years 1970 to 2100");
        assert_eq!(s.len(), 24);
        assert!(s.ends_with('Z'));
        let bytes = s.as_bytes();
        assert_eq!((bytes[4], bytes[7], bytes[10], bytes[13], bytes[16], bytes[19]), (b'-', b'-', b'T', b':', b':', b'.'));
        // Lexical order is time order, which the initialEvents index relies on.
        let later = es_core::store::format_millis(millis + 1).expect("years 1970 to 2100");
        assert!(later > s);
    }
}
