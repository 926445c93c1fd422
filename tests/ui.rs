//! Compile-fail tests: each file in `tests/ui/` is one misuse of the macros,
//! and its `.stderr` is the exact error the user sees. Regenerate them on
//! purpose, after reading the diff, with `TRYBUILD=overwrite cargo test --test ui`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
