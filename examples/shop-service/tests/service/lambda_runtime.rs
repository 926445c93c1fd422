//! The built binaries under the Lambda runtime API ([`RuntimeApi`]), on
//! DynamoDB Local: what Lambda runs, run as Lambda runs it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use es::dynamo::{DynamoStore, DynamoViews};
use serde_json::{json, Value};

use crate::client::shipping;
use crate::runtime::{http_event, Function, HttpAnswer, Outcome, RuntimeApi, FUNCTION_TIMEOUT};

const SERVICE: &str = env!("CARGO_BIN_EXE_shop-service");
const PROJECTION: &str = env!("CARGO_BIN_EXE_shop-projection");

/// The events and view tables of one test, on the suite's DynamoDB Local.
async fn tables(prefix: &str) -> (DynamoStore, DynamoViews) {
    let store = es::dynamo::testing::store_on_new_table(prefix).await;
    let views = DynamoViews::new(
        store.client().clone(),
        es::dynamo::testing::unique_table_name(&format!("{prefix}-views")),
    );
    views.ensure_table().await.expect("create the view table");
    // The timers table the template makes beside them: `{table}-timers`,
    // unless ES_TIMERS_TABLE names another.
    es::dynamo::DynamoTimers::new(
        store.client().clone(),
        shop_service::expiry::timers_table(store.table()),
    )
    .ensure_table()
    .await
    .expect("create the timers table");
    // And the key table: `{table}-keys`, unless SHOP_KEYS_TABLE names another.
    es::dynamo::DynamoKeys::new(
        store.client().clone(),
        shop_service::keys::default_keys_table(store.table()),
        es::erasure::LocalMasterKey::from_base64(crate::runtime::master_key()).expect("a key"),
    )
    .ensure_table()
    .await
    .expect("create the key table");
    (store, views)
}

async fn call(
    api: &RuntimeApi,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> HttpAnswer {
    HttpAnswer::of(&api.response(&http_event(method, path, headers, body)).await)
}

/// The HTTP function, unchanged, serves API Gateway HTTP API v2 events from
/// the runtime API: commands, a 409, 400s, a 201, each answered in API
/// Gateway's response shape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_runtime_serves_http_events() {
    if es::dynamo::testing::skip_without_dynamodb() {
        return;
    }
    let (store, views) = tables("shop-rt-http").await;
    let api = RuntimeApi::start().await;
    let function = Function::start(
        SERVICE,
        &api,
        &[
            ("ES_TABLE", store.table()),
            ("ES_VIEW_TABLE", views.table()),
        ],
    );

    let restock = call(
        &api,
        "POST",
        "/products/mug/restock",
        &[],
        Some(json!({"amount": 10})),
    )
    .await;
    assert_eq!(
        (restock.status, &restock.body["version"]),
        (200, &json!(1)),
        "{restock:?}\n{}",
        function.log()
    );
    assert_eq!(restock.header("content-type"), Some("application/json"));
    let buy = call(
        &api,
        "POST",
        "/products/mug/buy",
        &[("idempotency-key", "order-1")],
        Some(json!({"cart_id": "alice", "quantity": 2})),
    )
    .await;
    assert_eq!(
        (buy.status, &buy.body["product"]["on_hand"]),
        (200, &json!(8)),
        "{buy:?}"
    );
    let again = call(
        &api,
        "POST",
        "/products/mug/buy",
        &[("idempotency-key", "order-1")],
        Some(json!({"cart_id": "alice", "quantity": 2})),
    )
    .await;
    assert_eq!(
        (again.status, &again.body["duplicate"]),
        (200, &json!(true)),
        "{again:?}"
    );

    call(
        &api,
        "POST",
        "/products/mug/buy",
        &[],
        Some(json!({"cart_id": "bob", "quantity": 50})),
    )
    .await
    .assert_problem(409, "sold-out");
    call(
        &api,
        "POST",
        "/products/mug/restock",
        &[],
        Some(json!({"amount": 0})),
    )
    .await
    .assert_problem(400, "quantity-out-of-range");
    let mut malformed = http_event("POST", "/products/mug/buy", &[], Some(json!({})));
    malformed["body"] = json!("{\"cart_id\": ");
    HttpAnswer::of(&api.response(&malformed).await).assert_problem(400, "malformed-json");
    call(&api, "GET", "/nowhere", &[], None)
        .await
        .assert_problem(404, "no-such-route");

    let created = call(&api, "POST", "/products", &[], Some(json!({"amount": 1}))).await;
    assert_eq!(created.status, 201, "{created:?}");
    let location = created.header("location").expect("a Location").to_owned();
    let got = call(&api, "GET", &location, &[], None).await;
    assert_eq!(
        (got.status, &got.body["on_hand"]),
        (200, &json!(1)),
        "{got:?}"
    );
    let mug = call(&api, "GET", "/products/mug", &[], None).await;
    assert_eq!(
        (&mug.body["on_hand"], &mug.body["version"]),
        (&json!(8), &json!(2)),
        "{mug:?}"
    );

    // One JSON log line per request, as CloudWatch Logs reads them.
    let log = function.log();
    assert!(
        log.lines().filter(|l| l.contains("\"answered\"")).count() >= 9,
        "{log}"
    );
}

/// The projection function, unchanged, takes a DynamoDB Streams event made
/// of the events table's own stream records (read with the Streams API, as
/// the event source mapping does, and passed through the template's
/// filter), and the HTTP function then serves the views it wrote; a
/// redelivered batch changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_runtime_projects_stream_events() {
    if es::dynamo::testing::skip_without_dynamodb() {
        return;
    }
    let (store, views) = tables("shop-rt-proj").await;
    let env = [
        ("ES_TABLE", store.table()),
        ("ES_VIEW_TABLE", views.table()),
    ];
    let http_api = RuntimeApi::start().await;
    let _http = Function::start(SERVICE, &http_api, &env);
    let stream_api = RuntimeApi::start().await;
    let projection = Function::start(PROJECTION, &stream_api, &env);

    for (path, headers, body) in [
        ("/products/mug/restock", vec![], json!({"amount": 10})),
        (
            "/products/mug/buy",
            vec![("idempotency-key", "b-1")],
            json!({"cart_id": "alice", "quantity": 2}),
        ),
        (
            "/carts/bob/items",
            vec![],
            json!({"sku": "mug", "quantity": 3}),
        ),
    ] {
        let answer = call(&http_api, "POST", path, &headers, Some(body)).await;
        assert_eq!(answer.status, 200, "{path}: {answer:?}");
    }
    let checkout = call(
        &http_api,
        "POST",
        "/carts/bob/checkout",
        &[("content-type", "application/json")],
        Some(shipping()),
    )
    .await;
    assert_eq!(checkout.status, 200, "{checkout:?}");
    call(&http_api, "GET", "/products/mug/stock", &[], None)
        .await
        .assert_problem(404, "view-not-found");

    let records = stream_records(&store).await;
    // The restock, the buy (the product's reservation and the cart's
    // hold), the line, the checkout's reservation and CartCheckedOut; not
    // the buy's command record.
    assert_eq!(records.len(), 6, "{records:#?}");
    let event = json!({ "Records": records });
    let answer = stream_api.response(&event).await;
    assert_eq!(
        answer,
        json!({"batchItemFailures": []}),
        "{}",
        projection.log()
    );

    let stock = call(&http_api, "GET", "/products/mug/stock", &[], None).await;
    assert_eq!(
        (stock.status, &stock.body),
        (200, &json!({"on_hand": 5, "reserved": 5})),
        "{stock:?}"
    );
    let cart = call(&http_api, "GET", "/carts/bob/view", &[], None).await;
    assert_eq!(
        (cart.status, &cart.body),
        (
            200,
            &json!({"lines": {"mug": 3}, "reserved": {"mug": 3}, "checked_out": true})
        ),
        "{cart:?}"
    );

    // Lambda delivers at least once: the same batch again changes nothing.
    let again = stream_api.response(&event).await;
    assert_eq!(again, json!({"batchItemFailures": []}));
    let stock = call(&http_api, "GET", "/products/mug/stock", &[], None).await;
    assert_eq!(
        stock.body,
        json!({"on_hand": 5, "reserved": 5}),
        "{stock:?}"
    );
}

/// The table's stream records, oldest first, as Lambda hands them to a
/// function: DynamoDB JSON images, and only those the template's filter
/// passes (INSERTs of items with a `type` and a version above 0).
async fn stream_records(store: &DynamoStore) -> Vec<Value> {
    let (arn, raw) = es::dynamo::testing::raw_stream_records(store).await;
    let mut records = Vec::new();
    for record in &raw {
        let change = record.dynamodb().expect("a change");
        let image: HashMap<_, _> = change.new_image().cloned().unwrap_or_default();
        let passes = record.event_name().map(|n| n.as_str()) == Some("INSERT")
            && image.contains_key("type")
            && image
                .get("version")
                .and_then(|v| v.as_n().ok())
                .is_some_and(|v| v != "0");
        if !passes {
            continue;
        }
        records.push(json!({
            "eventID": record.event_id(),
            "eventName": "INSERT",
            "eventVersion": record.event_version(),
            "eventSource": "aws:dynamodb",
            "awsRegion": record.aws_region(),
            "dynamodb": {
                "ApproximateCreationDateTime":
                    change.approximate_creation_date_time().map(|t| t.secs()),
                "Keys": serde_dynamo::Item::from(change.keys().cloned().unwrap_or_default()),
                "NewImage": serde_dynamo::Item::from(image),
                "SequenceNumber": change.sequence_number(),
                "SizeBytes": change.size_bytes(),
                "StreamViewType": "NEW_IMAGE",
            },
            "eventSourceARN": arn,
        }));
    }
    records
}

/// A DynamoDB Local of this test's own, started with
/// `scripts/dynamodb-local.sh` in a state dir of its own, so that stopping
/// it (SIGSTOP) stalls no other test. Dropping it resumes and stops it, by
/// its pid.
struct PrivateDynamo {
    dir: PathBuf,
    pid: u32,
    port: u16,
}

impl PrivateDynamo {
    fn script(&self, command: &str) -> Command {
        let mut script = Command::new("bash");
        script
            .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/dynamodb-local.sh"))
            .arg(command)
            .env("ES_DYNAMODB_STATE_DIR", self.dir.join("state"))
            .env_remove("ES_DYNAMODB_PORT")
            .env_remove("ES_DYNAMODB_DB_PATH");
        script
    }

    fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("shop-own-dynamodb-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        let mut server = PrivateDynamo {
            dir,
            pid: 0,
            port: 0,
        };
        let out = server
            .script("start")
            .env_remove("ES_DYNAMODB_PID")
            .output()
            .expect("run scripts/dynamodb-local.sh start");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let export = |name: &str| {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(&format!("export {name}=")))
                .unwrap_or_else(|| panic!("no {name} in {stdout}"))
                .to_owned()
        };
        server.pid = export("ES_DYNAMODB_PID").parse().expect("a pid");
        server.port = export("AWS_ENDPOINT_URL_DYNAMODB")
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port");
        server
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid.to_string())
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{signal} {}", self.pid);
    }

    fn client(&self) -> aws_sdk_dynamodb::Client {
        use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("esLocal", "esLocal", None, None, "test"))
            .endpoint_url(self.endpoint())
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }
}

impl Drop for PrivateDynamo {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-CONT")
            .arg(self.pid.to_string())
            .status();
        let _ = self
            .script("stop")
            .env("ES_DYNAMODB_PID", self.pid.to_string())
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// DynamoDB stalls (its process stopped with SIGSTOP: connections are taken
/// and nothing answers) under the running function: a buy is answered 503
/// problem+json with `Retry-After`, well inside the function's 10 s, and
/// the function serves again once DynamoDB is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_store_answers_503_before_the_lambda_timeout() {
    if es::dynamo::testing::skip_without_dynamodb() {
        return;
    }
    let server = PrivateDynamo::start();
    let client = server.client();
    let store = DynamoStore::new(client.clone(), "shop-stall");
    store.create_table().await.expect("create the events table");
    let views = DynamoViews::new(client, "shop-stall-views");
    views.ensure_table().await.expect("create the view table");

    let api = RuntimeApi::start().await;
    let endpoint = server.endpoint();
    let function = Function::start(
        SERVICE,
        &api,
        &[
            ("ES_TABLE", "shop-stall"),
            ("ES_VIEW_TABLE", "shop-stall-views"),
            ("AWS_ENDPOINT_URL_DYNAMODB", &endpoint),
            ("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", &endpoint),
            ("AWS_ACCESS_KEY_ID", "esLocal"),
            ("AWS_SECRET_ACCESS_KEY", "esLocal"),
            ("AWS_REGION", "us-east-1"),
        ],
    );
    let restock = call(
        &api,
        "POST",
        "/products/mug/restock",
        &[],
        Some(json!({"amount": 10})),
    )
    .await;
    assert_eq!(restock.status, 200, "{restock:?}\n{}", function.log());

    server.signal("STOP");
    for (method, path, body) in [
        (
            "POST",
            "/products/mug/buy",
            Some(json!({"cart_id": "alice", "quantity": 1})),
        ),
        ("GET", "/products/lamp", None),
    ] {
        let (outcome, took) = api
            .invoke(&http_event(method, path, &[], body))
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", function.log()));
        let Outcome::Response(response) = outcome else {
            panic!("{method} {path}: {outcome:?}");
        };
        let answer = HttpAnswer::of(&response);
        assert_eq!(answer.status, 503, "{method} {path}: {answer:?}");
        assert_eq!(
            answer.header("content-type"),
            Some("application/problem+json")
        );
        assert_eq!(answer.header("retry-after"), Some("1"), "{answer:?}");
        assert!(
            took < FUNCTION_TIMEOUT - Duration::from_secs(1),
            "{method} {path} answered after {took:?}, too close to the {FUNCTION_TIMEOUT:?} timeout"
        );
        eprintln!(
            "stalled store: {method} {path} answered 503 {} after {took:?}",
            answer.body["rule"]
        );
    }
    server.signal("CONT");
    let mug = call(&api, "GET", "/products/mug", &[], None).await;
    assert_eq!(mug.status, 200, "serves again: {mug:?}");
}
