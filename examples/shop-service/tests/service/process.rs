//! The HTTP server as a process: it drains on SIGTERM.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// SIGTERM to the server with a request in flight (its body half sent):
/// the server takes no new connection, finishes that request (200, the
/// restock applied), and exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_server_drains_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shop-service"))
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start shop-service");
    // "shop-service: listening on http://127.0.0.1:PORT" on stderr.
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    let addr: SocketAddr = loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).expect("read stderr") > 0,
            "no address"
        );
        if let Some(addr) = line
            .trim()
            .strip_prefix("shop-service: listening on http://")
        {
            break addr.parse().expect("an address");
        }
    };
    let rest = std::thread::spawn(move || {
        let mut all = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut all);
        all
    });

    // A request whose body is not all there yet: in flight.
    let body = r#"{"amount": 7}"#;
    let (head, tail) = body.split_at(5);
    let mut slow = tokio::net::TcpStream::connect(addr).await.expect("connect");
    slow.write_all(
        format!(
            "POST /products/mug/restock HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{head}",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .expect("send the head");
    tokio::time::sleep(Duration::from_millis(300)).await;

    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success());
    // Stopped taking connections: a new one is refused (or, in a race with
    // the listener's close, gets no answer).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = match tokio::net::TcpStream::connect(addr).await {
        Err(_) => true,
        Ok(mut late) => {
            let _ = late
                .write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                .await;
            let mut answer = Vec::new();
            let read =
                tokio::time::timeout(Duration::from_secs(2), late.read_to_end(&mut answer)).await;
            matches!(read, Ok(Ok(0)) | Ok(Err(_)))
        }
    };
    assert!(refused, "a new connection was served after SIGTERM");
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "exited with a request in flight"
    );

    // The rest of the body: the request completes.
    slow.write_all(tail.as_bytes())
        .await
        .expect("send the rest");
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), slow.read_to_string(&mut answer))
        .await
        .expect("an answer in time")
        .expect("read the answer");
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    assert!(answer.contains(r#""on_hand":7"#), "{answer}");

    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still running after the drain"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let log = rest.join().expect("stderr");
    assert_eq!(status.code(), Some(0), "exit status: {status:?}\n{log}");
    assert!(
        log.contains("SIGTERM: finishing the requests in hand"),
        "{log}"
    );
}
