//! The projection function: what the `shop-projection` binary runs, here so
//! that the binary and the tests build the very same projection.
//!
//! On Lambda it is `es::dynamo::lambda::run(stream_projection(table).await,
//! LAYOUT)`: the shop's views ([`ShopViews`]) over a [`DynamoViews`] table,
//! fed the events table's DynamoDB Stream by an event source mapping, and
//! answering with the records to retry (`ReportBatchItemFailures`).

use es::dynamo::{DynamoViews, Layout};

use crate::views::ShopViews;

/// The environment variable that names the view table.
pub const VIEW_TABLE_VAR: &str = "ES_VIEW_TABLE";

/// The events table's layout: es's single table, as the template and
/// `--dynamodb` create it.
pub const LAYOUT: Layout = Layout::SingleTable;

/// The projection of the function: the shop's views in the DynamoDB view
/// table `view_table`, with a client from the AWS config chain. Sends
/// nothing until the first event.
pub async fn stream_projection(view_table: impl Into<String>) -> ShopViews<DynamoViews> {
    ShopViews::new(DynamoViews::from_env(view_table).await)
}
