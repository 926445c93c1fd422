//! Every es-dynamo integration test, in one test binary; most need DynamoDB
//! Local.
//!
//! Each file under `tests/` is its own binary, and each of those links the
//! whole AWS SDK again: one binary instead of ten saves minutes of linking
//! and gigabytes of disk on a clean build. Run one part with a filter, e.g.
//! `cargo test -p es-dynamo --test dynamodb costs:: -- --nocapture`.

mod castore;
mod castore_interop;
mod commands_table;
mod common;
mod conformance;
mod corrupt;
mod costs;
mod errors;
mod history;
mod item_shape;
mod limits;
mod odd_ids;
mod outage;
mod regions;
mod sizes;
mod snapshot_property;
mod stream;
mod timeouts;
