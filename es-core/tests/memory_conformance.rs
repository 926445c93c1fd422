//! The conformance suite against MemoryStore: with DynamoDB's 1 MB pages, and
//! with tiny pages so that every paging path runs.

mod memory {
    es_core::conformance_tests!(async { es_core::MemoryStore::new() });
}

mod memory_small_pages {
    es_core::conformance_tests!(async { es_core::MemoryStore::with_page_items(3) });
}

#[test]
fn run_executes_every_check() {
    assert_eq!(es_core::conformance::CHECKS.len(), 27);
    es_core::conformance::run(|| async { es_core::MemoryStore::new() });
}
