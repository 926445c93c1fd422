//! Both binaries, unchanged, under the Lambda runtime API, against DynamoDB
//! Local: the HTTP function on API Gateway HTTP API (v2) events, the
//! projection on a DynamoDB Streams event made from the table's own stream
//! records, and a stalled DynamoDB answered 503 before the function's
//! timeout.
//!
//! [`RuntimeApi`] is a small emulator of the runtime API Lambda serves a
//! function's runtime (`/2018-06-01/runtime/invocation/next`, `…/response`,
//! `…/error`, `/2018-06-01/runtime/init/error`), as AWS documents it: the
//! binaries find it through `AWS_LAMBDA_RUNTIME_API`, as on Lambda, and
//! `lambda_runtime` inside them polls it for events. Each invocation
//! carries a deadline (`Lambda-Runtime-Deadline-Ms`) of the template's
//! `Timeout`, 10 seconds; an invocation not answered by then has timed out,
//! as Lambda would say. `cargo lambda watch` serves the same API, for a
//! developer to invoke by hand; this one needs no extra tool in CI.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot, Mutex};

/// The template's `Timeout` for both functions.
pub const FUNCTION_TIMEOUT: Duration = Duration::from_secs(10);

/// One invocation waiting for the function to take it.
struct Invocation {
    id: String,
    deadline_ms: u64,
    event: String,
}

/// How an invocation ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The function's response, as JSON.
    Response(Value),
    /// The function reported an error (`…/error`); read through `Debug`.
    #[allow(dead_code)]
    Error(String),
}

struct Shared {
    queue: mpsc::UnboundedSender<Invocation>,
    next: Mutex<mpsc::UnboundedReceiver<Invocation>>,
    waiting: std::sync::Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: std::sync::Mutex<Option<String>>,
}

/// The Lambda runtime API, on a loopback port, until dropped.
pub struct RuntimeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RuntimeApi {
    pub async fn start() -> Self {
        let (queue, next) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            queue,
            next: Mutex::new(next),
            waiting: Default::default(),
            init_error: Default::default(),
        });
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the runtime API");
        let addr = listener.local_addr().expect("its address");
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .await
                .expect("serve the runtime API");
        });
        RuntimeApi { addr, shared, task }
    }

    /// `AWS_LAMBDA_RUNTIME_API`'s value: host and port, no scheme.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Invokes the function with `event`, as Lambda would with a deadline
    /// of [`FUNCTION_TIMEOUT`]: the outcome and how long it took, or `Err`
    /// when the function did not answer in time (or said it failed to
    /// start).
    pub async fn invoke(&self, event: &Value) -> Result<(Outcome, Duration), String> {
        let id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = oneshot::channel();
        self.shared.waiting.lock().unwrap().insert(id.clone(), tx);
        let started = Instant::now();
        let deadline = SystemTime::now() + FUNCTION_TIMEOUT;
        let deadline_ms = deadline
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_millis() as u64;
        self.shared
            .queue
            .send(Invocation {
                id: id.clone(),
                deadline_ms,
                event: event.to_string(),
            })
            .expect("the runtime API is up");
        match tokio::time::timeout(FUNCTION_TIMEOUT, rx).await {
            Ok(Ok(outcome)) => Ok((outcome, started.elapsed())),
            Ok(Err(_)) => Err("the runtime API dropped the invocation".into()),
            Err(_) => {
                self.shared.waiting.lock().unwrap().remove(&id);
                let init = self.shared.init_error.lock().unwrap().clone();
                Err(match init {
                    Some(e) => format!("the function failed to start: {e}"),
                    None => format!("Task timed out after {FUNCTION_TIMEOUT:?}"),
                })
            }
        }
    }

    /// Invokes, and returns the function's response; panics on anything else.
    pub async fn response(&self, event: &Value) -> Value {
        match self.invoke(event).await {
            Ok((Outcome::Response(response), _)) => response,
            other => panic!("the invocation did not answer: {other:?}"),
        }
    }
}

async fn next_invocation(State(shared): State<Arc<Shared>>) -> Response {
    let Some(invocation) = shared.next.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        headers.insert(name, HeaderValue::from_str(&value).expect("a header value"));
    };
    set("lambda-runtime-aws-request-id", invocation.id);
    set(
        "lambda-runtime-deadline-ms",
        invocation.deadline_ms.to_string(),
    );
    set(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:shop".into(),
    );
    set(
        "lambda-runtime-trace-id",
        "Root=1-65f3a0a1-00000000000000000000cafe;Parent=53995c3f42cd8ad8;Sampled=1".into(),
    );
    set("content-type", "application/json".into());
    (StatusCode::OK, headers, invocation.event).into_response()
}

fn finish(shared: &Shared, id: &str, outcome: Outcome) -> StatusCode {
    match shared.waiting.lock().unwrap().remove(id) {
        Some(waiting) => {
            let _ = waiting.send(outcome);
            StatusCode::ACCEPTED
        }
        // Too late (timed out) or never asked for.
        None => StatusCode::BAD_REQUEST,
    }
}

async fn respond(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    let response = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    finish(&shared, &id, Outcome::Response(response))
}

async fn fail(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    finish(
        &shared,
        &id,
        Outcome::Error(String::from_utf8_lossy(&body).into_owned()),
    )
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    *shared.init_error.lock().unwrap() = Some(String::from_utf8_lossy(&body).into_owned());
    StatusCode::ACCEPTED
}

/// A function's process: a built binary with the runtime API's address and
/// the environment Lambda sets. Killed (it is our child) when dropped.
pub struct Function {
    child: Child,
    log: PathBuf,
}

impl Function {
    pub fn start(binary: &str, api: &RuntimeApi, env: &[(&str, &str)]) -> Self {
        let log = std::env::temp_dir().join(format!(
            "shop-function-{}-{}.log",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        let file = std::fs::File::create(&log).expect("a log file");
        let mut command = Command::new(binary);
        command
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", "shop")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/shop")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
            .env("RUST_LOG", "info")
            // A development master key, as the deployed functions have a
            // KMS key: without either, they refuse to start.
            .env(shop_service::keys::MASTER_KEY_VAR, master_key())
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("the log file"))
            .stderr(file);
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().expect("start the function's binary");
        Function { child, log }
    }

    /// What the function logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// The development master key every binary a test starts is given, one
/// per test process, so that functions of one test read each other's keys.
pub fn master_key() -> &'static str {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(|| es::erasure::LocalMasterKey::generate_text().expect("a master key"))
}

/// An API Gateway HTTP API (payload format 2.0) event, in the shape AWS
/// documents, for `method` `path` with `body` and `headers`.
pub fn http_event(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Value {
    let mut all = serde_json::Map::new();
    all.insert(
        "host".into(),
        json!("r3pmxmplak.execute-api.us-east-1.amazonaws.com"),
    );
    all.insert("user-agent".into(), json!("curl/8.5.0"));
    all.insert("x-forwarded-proto".into(), json!("https"));
    if body.is_some() {
        all.insert("content-type".into(), json!("application/json"));
    }
    for (name, value) in headers {
        all.insert((*name).into(), json!(value));
    }
    let request_id = format!("req-{}", uuid::Uuid::new_v4().simple());
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": all,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "r3pmxmplak",
            "domainName": "r3pmxmplak.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "r3pmxmplak",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "curl/8.5.0"
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": "07/Dec/2026:04:00:00 +0000",
            "timeEpoch": 1796616000000u64
        },
        "isBase64Encoded": false
    });
    if let Some(body) = body {
        event["body"] = json!(body.to_string());
    }
    event
}

/// An API Gateway v2 response: status, headers and body (JSON when it is).
#[derive(Debug)]
pub struct HttpAnswer {
    pub status: u64,
    pub headers: serde_json::Map<String, Value>,
    pub body: Value,
}

impl HttpAnswer {
    #[track_caller]
    pub fn of(response: &Value) -> Self {
        assert_eq!(response["isBase64Encoded"], false, "{response}");
        let body = response["body"].as_str().unwrap_or_default();
        HttpAnswer {
            status: response["statusCode"].as_u64().expect("a statusCode"),
            headers: response["headers"].as_object().cloned().unwrap_or_default(),
            body: serde_json::from_str(body).unwrap_or_else(|_| json!(body)),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(Value::as_str)
    }

    /// Asserts a problem+json answer with `status` and `rule`.
    #[track_caller]
    pub fn assert_problem(&self, status: u64, rule: &str) {
        assert_eq!(
            (self.status, self.body["rule"].as_str()),
            (status, Some(rule)),
            "{self:?}"
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{self:?}"
        );
        assert_eq!(self.body["type"], format!("/problems/{rule}"), "{self:?}");
    }
}
