//! Connection abuse on the listeners, over real TCP on loopback: slow
//! request heads (slowloris), idle kept-alive connections, the connection
//! cap, the change stream's subscriber cap and the EventBridge API's
//! request timeout. Each time the console must keep answering.

use crate::common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::spawn_app_with;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Waits (at most `within`) for the server to close `stream`: true when it
/// did (end of stream or reset), false when it still holds it open.
async fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // A response (e.g. 408) before closing: keep reading.
            Ok(Ok(_)) => {}
        }
    }
}

/// The console answers `/healthz` and the overview page, each within `bound`.
async fn console_answers(app: &common::TestApp, bound: Duration) {
    // A fresh client: no pooled connection from before.
    let client = reqwest::Client::builder().timeout(bound).build().unwrap();
    for path in ["/healthz", "/"] {
        let started = Instant::now();
        let res = client
            .get(app.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(res.status(), 200, "{path}");
        res.bytes().await.unwrap();
        assert!(started.elapsed() < bound, "{path}: {:?}", started.elapsed());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connections_are_cut_and_the_console_still_answers() {
    let app = spawn_app_with(|a| {
        a.header_read_timeout = Some(1.0);
        a.max_connections = Some(400);
    })
    .await;
    // 200 clients each sending a request head one byte every 100 ms (it
    // would take them 4 s to finish).
    let head = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaa\r\n\r\n";
    let mut slow = Vec::new();
    for _ in 0..200 {
        let addr = app.addr;
        slow.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let started = Instant::now();
            for b in head {
                if s.write_all(&[*b]).await.is_err() {
                    return started.elapsed();
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                // The server may have closed: a read returning 0 says so.
                let mut buf = [0u8; 256];
                if let Ok(Ok(0)) =
                    tokio::time::timeout(Duration::from_millis(1), s.read(&mut buf)).await
                {
                    return started.elapsed();
                }
            }
            panic!("a slow head was read to its end ({:?})", started.elapsed());
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    console_answers(&app, Duration::from_secs(3)).await;
    for s in slow {
        let cut_after = s.await.expect("every slow connection is cut");
        assert!(cut_after < Duration::from_secs(3), "{cut_after:?}");
    }
    console_answers(&app, Duration::from_secs(3)).await;
    app.stop().await;
}

#[tokio::test]
async fn a_connection_that_sends_nothing_or_idles_is_closed() {
    let app = spawn_app_with(|a| {
        a.header_read_timeout = Some(1.0);
        a.idle_timeout = Some(2.0);
    })
    .await;
    // Nothing at all: the header-read timeout, counted from the connection.
    let mut silent = TcpStream::connect(app.addr).await.unwrap();
    let started = Instant::now();
    assert!(closed_by_server(&mut silent, Duration::from_secs(4)).await);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(900), "{took:?}");

    // One request, then idle: kept alive past the header timeout, closed
    // at the idle timeout.
    let mut idle = TcpStream::connect(app.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    let answered = Instant::now();
    assert!(
        !closed_by_server(&mut idle, Duration::from_millis(1500)).await,
        "kept alive beyond the header timeout"
    );
    assert!(closed_by_server(&mut idle, Duration::from_secs(3)).await);
    assert!(answered.elapsed() >= Duration::from_millis(1900));
    app.stop().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_its_responses_is_disconnected() {
    let app = spawn_app_with(|a| a.idle_timeout = Some(1.0)).await;
    let size = app
        .get("/api/openapi.json")
        .await
        .bytes()
        .await
        .unwrap()
        .len();
    // Far more response bytes than the socket buffers hold (loopback
    // autotuning goes to a few MiB), asked for at once and never read.
    let count = (64 << 20) / size.max(1) + 1;
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    let one = b"GET /api/openapi.json HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let all: Vec<u8> = one
        .iter()
        .copied()
        .cycle()
        .take(one.len() * count)
        .collect();
    // The server stops reading too once its writes block: write what fits.
    let _ = tokio::time::timeout(Duration::from_secs(2), s.write_all(&all)).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    // Closed by then (responses written but not sent count as idle): only
    // what the buffers held reads out, then the end (or a reset); an open
    // connection would go on sending all 64 MiB.
    let total = read_until_closed(&mut s, Duration::from_secs(20)).await;
    let total = total.expect("the stalled connection was closed");
    assert!(total < 32 << 20, "{total} bytes: it kept sending");
    console_answers(&app, Duration::from_secs(3)).await;
    app.stop().await;
}

/// Reads what `s` has until the server closes it; the bytes read, or `None`
/// when it is still sending after `within`.
async fn read_until_closed(s: &mut TcpStream, within: Duration) -> Option<usize> {
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0usize;
    tokio::time::timeout(within, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => total += n,
            }
        }
    })
    .await
    .ok()
    .map(|_| total)
}

#[tokio::test]
async fn a_streamed_response_nobody_reads_is_cut_at_the_idle_timeout() {
    use axum::body::{Body, Bytes};
    // An endless streamed response (as the change stream or a streamed
    // page is), served by the listeners' accept loop.
    let router = axum::Router::new().route(
        "/endless",
        axum::routing::get(|| async {
            let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
            Body::from_stream(futures_util::stream::repeat_with(move || {
                Ok::<_, std::convert::Infallible>(chunk.clone())
            }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let limits = server::serve::Limits {
        idle_timeout: Duration::from_secs(1),
        ..Default::default()
    };
    let served = tokio::spawn(server::serve::serve(listener, router, limits, stop.clone()));
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /endless HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    // Never read: the server's writes block, then it gives up.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let total = read_until_closed(&mut s, Duration::from_secs(10)).await;
    let total = total.expect("the stalled connection was closed");
    assert!(total < 32 << 20, "{total} bytes: it kept sending");
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), served)
        .await
        .expect("drained")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn connections_beyond_the_cap_get_503_and_the_cap_frees_up() {
    let app = spawn_app_with(|a| a.max_connections = Some(8)).await;
    let mut held = Vec::new();
    for _ in 0..8 {
        let mut s = TcpStream::connect(app.addr).await.unwrap();
        // A request that completes, so the connection is surely accepted.
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        held.push(s);
    }
    let mut extra = TcpStream::connect(app.addr).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), extra.read_to_string(&mut answer))
        .await
        .expect("answered at once")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer}"
    );
    drop(held);
    common::eventually(5, "a slot frees up", || async {
        match reqwest::get(app.url("/healthz")).await {
            Ok(r) if r.status() == 200 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    app.stop().await;
}

/// Opens the change stream; returns the response (status, headers) with
/// the body still open.
async fn subscribe(client: &reqwest::Client, addr: SocketAddr) -> reqwest::Response {
    client
        .get(format!("http://{addr}/api/v1/stream"))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_stream_subscribers_are_capped_and_the_console_still_answers() {
    let app = spawn_app_with(|a| a.max_stream_subscribers = Some(20)).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let mut open = Vec::new();
    for _ in 0..20 {
        let mut res = subscribe(&client, app.addr).await;
        assert_eq!(res.status(), 200);
        // The `hello` event: the stream is live.
        let first = res.chunk().await.unwrap().unwrap();
        assert!(String::from_utf8_lossy(&first).contains("hello"));
        open.push(res);
    }
    for _ in 0..30 {
        let res = subscribe(&client, app.addr).await;
        assert_eq!(res.status(), 503);
        assert_eq!(res.headers()["retry-after"], "5");
        let j: serde_json::Value = res.json().await.unwrap();
        assert_eq!(j["field"], "max_stream_subscribers", "{j}");
    }
    console_answers(&app, Duration::from_secs(3)).await;
    // A closed stream gives its slot back.
    drop(open.pop());
    common::eventually(5, "a subscriber slot frees up", || async {
        let res = subscribe(&client, app.addr).await;
        if res.status() == 200 {
            Ok(())
        } else {
            Err(res.status().to_string())
        }
    })
    .await;
    drop(open);
    app.stop().await;
}

#[tokio::test]
async fn an_eventbridge_request_over_its_time_limit_is_answered_in_aws_shape() {
    let app = spawn_app_with(|a| a.events_request_timeout = Some(1.0)).await;
    // A PutEvents whose body never finishes arriving.
    let mut s = TcpStream::connect(app.events_addr).await.unwrap();
    s.write_all(
        format!(
            "POST / HTTP/1.1\r\nHost: {}\r\nX-Amz-Target: AWSEvents.PutEvents\r\n\
             Content-Type: application/x-amz-json-1.1\r\nContent-Length: 100\r\n\r\n{{",
            app.events_addr
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let started = Instant::now();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("answered within the limit")
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 500"), "{answer}");
    assert!(answer.contains("InternalException"), "{answer}");
    assert!(answer.contains("events_request_timeout"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(3));
    app.stop().await;
}
