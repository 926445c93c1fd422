//! Hand-written SDK calls: the baselines, the tables dynamo-es expects, and
//! the count of the items a partition holds.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, Put,
    ReturnConsumedCapacity, ScalarAttributeType, Select, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;

/// Creates the two tables dynamo-es reads and writes, with the keys its
/// README's table script gives them: events keyed by `AggregateTypeAndId`
/// (`"{TYPE}:{id}"`) and `AggregateIdSequence`, snapshots by
/// `AggregateTypeAndId` alone.
pub async fn create_dynamo_es_tables(client: &Client, events: &str, snapshots: &str) {
    for (table, with_sequence) in [(events, true), (snapshots, false)] {
        let mut create = client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("AggregateTypeAndId", KeyType::Hash))
            .attribute_definitions(attribute("AggregateTypeAndId", ScalarAttributeType::S));
        if with_sequence {
            create = create
                .key_schema(key("AggregateIdSequence", KeyType::Range))
                .attribute_definitions(attribute("AggregateIdSequence", ScalarAttributeType::N));
        }
        create.send().await.expect("create a dynamo-es table");
    }
}

fn key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .expect("key schema")
}

fn attribute(name: &str, kind: ScalarAttributeType) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(kind)
        .build()
        .expect("attribute definition")
}

/// A Reserved event as es stores it, in castore's layout: the item the
/// PutItem baseline writes.
fn castore_item(key: &str, version: u64) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("aggregateId".to_owned(), AttributeValue::S(key.to_owned())),
        ("version".to_owned(), AttributeValue::N(version.to_string())),
        ("type".to_owned(), AttributeValue::S("Reserved".to_owned())),
        ("timestamp".to_owned(), AttributeValue::S(es::store::now())),
        (
            "payload".to_owned(),
            AttributeValue::M(HashMap::from([
                ("cart_id".to_owned(), AttributeValue::S("cart".to_owned())),
                ("quantity".to_owned(), AttributeValue::N("1".to_owned())),
            ])),
        ),
    ])
}

/// The baseline: one conditional PutItem of the next version, the least a
/// command can write. `consumed` says whether it asks DynamoDB for the
/// capacity it consumed, as es does on every request and dynamo-es never.
pub async fn put(
    client: &Client,
    table: &str,
    key: &str,
    version: u64,
    consumed: ReturnConsumedCapacity,
) {
    client
        .put_item()
        .table_name(table)
        .set_item(Some(castore_item(key, version)))
        .condition_expression("attribute_not_exists(#v)")
        .expression_attribute_names("#v", "version")
        .return_consumed_capacity(consumed)
        .send()
        .await
        .expect("PutItem");
}

/// A hand-rolled version of the requests es makes for a one-event command:
/// a consistent Query of the history in castore's layout (every page), then
/// a conditional PutItem of the next version, both asking for the consumed
/// capacity as es does.
pub async fn query_then_put(client: &Client, table: &str, id: &str) {
    let key = format!("Product#{id}");
    let last = last_sort_key(
        client,
        table,
        ("aggregateId", &key),
        "version",
        ReturnConsumedCapacity::Total,
    )
    .await;
    put(client, table, &key, last + 1, ReturnConsumedCapacity::Total).await;
}

/// The sort key of the last item of a partition, read the way a load reads:
/// a consistent Query that follows every page.
async fn last_sort_key(
    client: &Client,
    table: &str,
    partition: (&str, &str),
    range: &str,
    consumed: ReturnConsumedCapacity,
) -> u64 {
    let mut last = 0;
    each_page(client, table, partition, None, Some(consumed), |out| {
        if let Some(AttributeValue::N(n)) = out.items().last().and_then(|i| i.get(range)) {
            last = n.parse().expect("sort key");
        }
    })
    .await;
    last
}

/// The items in one partition, counted with a paged `Select COUNT` Query
/// that neither framework is involved in.
pub async fn count_items(client: &Client, table: &str, partition: (&str, &str)) -> u64 {
    let mut count = 0;
    each_page(client, table, partition, Some(Select::Count), None, |out| {
        count += out.count() as u64;
    })
    .await;
    count
}

/// A consistent Query of the partition whose `hash` attribute is `value`,
/// every page of it, each handed to `page` in turn. `select` and `consumed`
/// are sent only when given.
async fn each_page(
    client: &Client,
    table: &str,
    (hash, value): (&str, &str),
    select: Option<Select>,
    consumed: Option<ReturnConsumedCapacity>,
    mut page: impl FnMut(&QueryOutput),
) {
    let mut start = None;
    loop {
        let out = client
            .query()
            .table_name(table)
            .key_condition_expression("#k = :k")
            .expression_attribute_names("#k", hash)
            .expression_attribute_values(":k", AttributeValue::S(value.to_owned()))
            .set_select(select.clone())
            .consistent_read(true)
            .set_return_consumed_capacity(consumed.clone())
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("Query");
        page(&out);
        match out.last_evaluated_key() {
            Some(k) => start = Some(k.clone()),
            None => return,
        }
    }
}

/// A hand-rolled version of the requests dynamo-es makes for a one-event
/// command, on its own table layout: a consistent Query of the history
/// (every page), then a one-item TransactWriteItems of the next sequence
/// number. The difference between this and cqrs-es's `execute` is the
/// framework, not the requests.
pub async fn query_then_transact(client: &Client, table: &str, id: &str) {
    let partition = format!("Product:{id}");
    let last = last_sort_key(
        client,
        table,
        ("AggregateTypeAndId", &partition),
        "AggregateIdSequence",
        ReturnConsumedCapacity::None,
    )
    .await;
    client
        .transact_write_items()
        .transact_items(dynamo_es_put(table, id, last + 1))
        .send()
        .await
        .expect("TransactWriteItems");
}

/// The one-item transaction dynamo-es writes for a one-event command: a
/// Reserved event at `sequence`, in its attribute layout (JSON in binary
/// attributes), conditional on the sequence being free.
fn dynamo_es_put(table: &str, id: &str, sequence: u64) -> TransactWriteItem {
    let payload = serde_json::json!({"Reserved": {"cart_id": "cart", "quantity": 1}});
    let put = Put::builder()
        .table_name(table)
        .item(
            "AggregateTypeAndId",
            AttributeValue::S(format!("Product:{id}")),
        )
        .item(
            "AggregateIdSequence",
            AttributeValue::N(sequence.to_string()),
        )
        .item("AggregateType", AttributeValue::S("Product".to_owned()))
        .item("AggregateId", AttributeValue::S(id.to_owned()))
        .item("EventVersion", AttributeValue::S("1".to_owned()))
        .item("EventType", AttributeValue::S("Reserved".to_owned()))
        .item("Payload", AttributeValue::B(Blob::new(payload.to_string())))
        .item("Metadata", AttributeValue::B(Blob::new("{}")))
        .condition_expression("attribute_not_exists(AggregateIdSequence)")
        .build()
        .expect("Put");
    TransactWriteItem::builder().put(put).build()
}

/// What DynamoDB Local itself reports as the consumed capacity of one such
/// one-item transaction, for comparison with the documented formula.
pub async fn local_transaction_capacity(client: &Client, table: &str, id: &str) -> f64 {
    let out = client
        .transact_write_items()
        .transact_items(dynamo_es_put(table, id, 1))
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .expect("TransactWriteItems");
    out.consumed_capacity()
        .iter()
        .filter_map(|c| c.capacity_units())
        .sum()
}
