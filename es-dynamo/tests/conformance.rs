//! The conformance suite against DynamoDB Local: every check on a table of
//! its own.

es_core::conformance_tests!(
    es_dynamo::testing::store_on_new_table("conf"),
    run_if = es_dynamo::testing::available()
);

#[test]
fn every_check_is_run() {
    assert_eq!(
        es_core::conformance::CHECKS.len(),
        16,
        "add the new checks to this file's count"
    );
}
