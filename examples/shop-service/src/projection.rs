//! The projection function: what the `shop-projection` binary runs, here so
//! that the binary and the tests build the very same projection.
//!
//! On Lambda it is `es::dynamo::lambda::run(stream_projector(table,
//! view_table, vault).await)`: the shop's views ([`ShopViews`]) over a
//! [`DynamoViews`] table, fed the events table's DynamoDB Stream by an event
//! source mapping, reading the events table for what the stream did not
//! bring, and answering with the records to retry
//! (`ReportBatchItemFailures`).

use es::dynamo::{DynamoStore, DynamoViews, Layout};
use es::erasure::Vault;
use es::Projector;

use crate::views::ShopViews;

/// The environment variable that names the view table.
pub const VIEW_TABLE_VAR: &str = "ES_VIEW_TABLE";

/// The events table's layout: es's single table, as the template and
/// `--dynamodb` create it.
pub const LAYOUT: Layout = Layout::SingleTable;

/// The function's projector: the shop's views, and their positions, in the
/// DynamoDB view table `view_table`, over the events table `table`, its
/// personal fields opened through `vault` (`crate::keys`), with clients
/// from the AWS config chain. Sends nothing until the first event.
pub async fn stream_projector(
    table: impl Into<String>,
    view_table: impl Into<String>,
    vault: Vault,
) -> Projector<DynamoStore, DynamoViews, ShopViews<DynamoViews>> {
    let store = DynamoStore::from_env(table)
        .await
        .with_layout(LAYOUT)
        .with_vault(vault);
    // One AWS config, loaded once, for both tables.
    let views = DynamoViews::new(store.client().clone(), view_table);
    Projector::new(store, views.clone(), ShopViews::new(views))
}
