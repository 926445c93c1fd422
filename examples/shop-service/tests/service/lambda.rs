//! The Lambda path: an API Gateway HTTP API (payload format 2.0) event goes
//! through `lambda_http`'s adapter, the one `lambda_http::run` wraps the
//! router in, and its answer is the one the socket gives.

use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Context, LambdaEvent, Service};
use serde_json::{json, Value};
use shop_service::shop::Product;

use crate::client::{serve, Http, Reply};

/// The event, in the shape AWS documents for HTTP APIs' Lambda
/// integrations (payload format version 2.0): a buy of 2 `sku-1` for
/// `cart-7`, with API Gateway's request id `JKJaXmPLvHcESHA=`.
const BUY_EVENT: &str = include_str!("../fixtures/apigw-v2-buy.json");
const REQUEST_ID: &str = "JKJaXmPLvHcESHA=";
/// The trace Lambda hands the invocation (active tracing); `lambda_http`
/// puts it in the `X-Amzn-Trace-Id` header, over the one API Gateway sent.
const LAMBDA_TRACE: &str =
    "Root=1-65f3a0a1-00000000000000000000beef;Parent=53995c3f42cd8ad8;Sampled=1";

/// The fixture, changed to another method, path and body.
fn event(method: &str, path: &str, body: Option<Value>) -> Value {
    let mut event: Value = serde_json::from_str(BUY_EVENT).expect("the fixture is JSON");
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["path"] = json!(path);
    event["requestContext"]["http"]["method"] = json!(method);
    match body {
        Some(body) => {
            let body = body.to_string();
            event["headers"]["content-length"] = json!(body.len().to_string());
            event["body"] = json!(body);
        }
        None => {
            let headers = event["headers"].as_object_mut().expect("headers");
            headers.remove("content-length");
            headers.remove("content-type");
            event.as_object_mut().expect("an object").remove("body");
        }
    }
    event
}

/// Invokes the router as the Lambda runtime would, and reads the API
/// Gateway response it serializes.
async fn invoke(router: &axum::Router, event: &Value) -> Reply {
    let payload: LambdaRequest =
        serde_json::from_value(event.clone()).expect("an API Gateway v2 event");
    let mut context = Context::default();
    context.request_id = "5a5b1b2e-5c5d-4e4f-8a8b-9c9d0e0f1a1b".into();
    context.xray_trace_id = Some(LAMBDA_TRACE.into());
    let mut adapter = Adapter::from(router.clone());
    let response = adapter
        .call(LambdaEvent::new(payload, context))
        .await
        .expect("the router never fails");
    let response = serde_json::to_value(&response).expect("a serializable response");
    assert_eq!(response["isBase64Encoded"], false, "{response}");
    let mut headers = hyper::HeaderMap::new();
    for (name, value) in response["headers"].as_object().expect("headers") {
        headers.insert(
            hyper::header::HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
            value
                .as_str()
                .expect("a header value")
                .parse()
                .expect("a header value"),
        );
    }
    let body = response["body"].as_str().unwrap_or("");
    Reply {
        status: u16::try_from(response["statusCode"].as_u64().expect("statusCode"))
            .expect("a status"),
        headers,
        body: if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(body).expect("a JSON body")
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_http_event_runs_the_same_router() {
    // Two services on two stores, fed the same requests: one over the
    // socket, one as Lambda events.
    let socket_store = es::MemoryStore::new();
    // One clock for both: a buy's hold deadline is in its answer.
    let clock = es::ManualClock::now();
    let server = serve(
        shop_service::App::new(socket_store.clone())
            .with_clock(clock.clone())
            .router(),
    )
    .await;
    let http = Http::new(&server);
    let lambda_store = es::MemoryStore::new();
    let lambda = shop_service::App::new(lambda_store.clone())
        .with_clock(clock)
        .router();

    let buy = serde_json::from_str::<Value>(BUY_EVENT).expect("JSON");
    let steps: Vec<(&str, Value, u16)> = vec![
        (
            "restock",
            event(
                "POST",
                "/products/sku-1/restock",
                Some(json!({"amount": 3})),
            ),
            200,
        ),
        (
            "buy, from the fixture as AWS documents it",
            buy.clone(),
            200,
        ),
        ("the same buy: one unit left", buy, 409),
        ("read", event("GET", "/products/sku-1", None), 200),
        (
            "an unknown product",
            event("GET", "/products/sku-2", None),
            404,
        ),
        ("an unknown route", event("GET", "/nope", None), 404),
        (
            "a wrong method",
            event("DELETE", "/products/sku-1", None),
            405,
        ),
        (
            "a bad body",
            event("POST", "/products/sku-1/buy", Some(json!({"cart_id": "c"}))),
            400,
        ),
    ];
    for (step, event, status) in steps {
        let on_lambda = invoke(&lambda, &event).await;
        let method = event["requestContext"]["http"]["method"]
            .as_str()
            .expect("method");
        let path = event["rawPath"].as_str().expect("path");
        let headers: Vec<(&str, &str)> = event["headers"]
            .as_object()
            .expect("headers")
            .iter()
            .filter(|(name, _)| !["host", "content-length"].contains(&name.as_str()))
            .map(|(name, value)| (name.as_str(), value.as_str().expect("a string")))
            .collect();
        let on_socket = http
            .send(method, path, &headers, event["body"].as_str())
            .await;
        assert_eq!(on_lambda.status, status, "{step}: {on_lambda:?}");
        assert_eq!(
            (
                on_lambda.status,
                on_lambda.header("content-type"),
                &on_lambda.body
            ),
            (
                on_socket.status,
                on_socket.header("content-type"),
                &on_socket.body
            ),
            "{step}: Lambda and socket answers differ"
        );
        // On Lambda, the request id is API Gateway's.
        assert_eq!(on_lambda.header("x-request-id"), Some(REQUEST_ID), "{step}");
    }

    // The buy's event names API Gateway's request and Lambda's trace.
    let product = <Product as es::AggregateExt>::load(&lambda_store, "sku-1")
        .await
        .expect("load");
    let events: Vec<_> = futures::TryStreamExt::try_collect::<Vec<_>>(product.history())
        .await
        .expect("history");
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[1].metadata,
        es::Metadata {
            correlation_id: Some("1-65f3a0a1-00000000000000000000beef".into()),
            causation_id: Some(REQUEST_ID.into()),
            ..es::Metadata::default()
        }
    );
}
