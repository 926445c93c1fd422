//! A server on a loopback port, and a small HTTP/1 client to talk to it.

use std::net::SocketAddr;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// The service, serving on 127.0.0.1 on a port the kernel picked, until dropped.
pub struct Server {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `router` on a new loopback socket.
pub async fn serve(router: axum::Router) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    let task = tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    Server { addr, task }
}

/// An answer: status, headers and the body, parsed as JSON when it is JSON.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts this is a problem+json answer with this status and rule, and
    /// that its body says so consistently; returns its `detail`.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, rule: &str) -> String {
        assert_eq!(
            (self.status, self.body["rule"].as_str()),
            (status, Some(rule)),
            "answer: {self:?}"
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{self:?}"
        );
        assert_eq!(self.body["status"], status, "{self:?}");
        assert_eq!(self.body["type"], format!("/problems/{rule}"), "{self:?}");
        assert!(self.body["title"].is_string(), "{self:?}");
        let detail = self.body["detail"].as_str().unwrap_or_default().to_owned();
        assert!(!detail.is_empty(), "{self:?}");
        detail
    }

    /// Asserts the answer's status.
    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "answer: {self:?}");
        self
    }
}

/// A client for one server.
#[derive(Clone)]
pub struct Http {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Http {
    pub fn new(server: &Server) -> Self {
        Http::at(server.addr)
    }

    /// A client of the server at `addr`.
    pub fn at(addr: SocketAddr) -> Self {
        Http {
            base: format!("http://{addr}"),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Sends a request with exactly these headers (and `host`).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default().to_owned())))
            .expect("a valid request");
        let response = self.client.request(request).await.expect("an answer");
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.expect("the body").to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, &[], None).await
    }

    /// POSTs `body` as `application/json`.
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.post_with(path, &[], body).await
    }

    /// POSTs `body` as `application/json`, with more headers.
    pub async fn post_with(&self, path: &str, headers: &[(&str, &str)], body: Value) -> Reply {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        self.send("POST", path, &all, Some(&body.to_string())).await
    }
}

/// A checkout's body: the customer, and their email and address, which the
/// shop seals under the customer's key.
pub const SHIPPING: &str = r#"{"customer": "cust-1", "email": "ada@example.com", "address": {"line1": "1 Market Street", "city": "Springfield", "postcode": "12345", "country": "US"}}"#;

/// [`SHIPPING`] as JSON.
pub fn shipping() -> Value {
    serde_json::from_str(SHIPPING).expect("SHIPPING is JSON")
}
