//! The HTTP JSON and command providers, each outcome: values, NaN, no data, and errors.

use std::collections::BTreeMap;
use std::time::Duration;

use slipway_verify::{Fetch, FetchError, MetricValue, ProviderConfig, Providers, Query, Window};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A one-route-per-path JSON server on 127.0.0.1; returns its base URL.
async fn json_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 4096];
                let n = stream.read(&mut buffer).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buffer[..n]).to_string();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let (status, body) = match path.split('?').next().unwrap_or("") {
                    "/ok" => ("200 OK", r#"{"data":{"value":0.02}}"#),
                    "/list" => ("200 OK", r#"{"values":[1,2.5,"NaN",null]}"#),
                    "/empty" => ("200 OK", r#"{"values":[]}"#),
                    "/text" => ("200 OK", "hello"),
                    _ => ("404 Not Found", "no such metric"),
                };
                let answer = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    format!("http://{address}")
}

fn providers() -> Providers {
    Providers::new(&BTreeMap::from([
        (
            "http".to_owned(),
            ProviderConfig::Http {
                timeout: Duration::from_secs(5),
            },
        ),
        (
            "cmd".to_owned(),
            ProviderConfig::Command {
                timeout: Duration::from_millis(500),
            },
        ),
    ]))
    .expect("clients")
}

fn query(provider: &str, text: &str, path: Option<&str>) -> Query {
    Query {
        provider: provider.to_owned(),
        text: text.to_owned(),
        path: path.map(str::to_owned),
    }
}

#[tokio::test]
async fn http_json_values_and_failures() {
    let base = json_server().await;
    let p = providers();
    let ok = p
        .instant(&query("http", &format!("{base}/ok"), Some("/data/value")))
        .await;
    assert_eq!(ok, Ok(MetricValue::Scalar(0.02)));

    let list = p
        .instant(&query("http", &format!("{base}/list"), Some("/values")))
        .await;
    let Ok(MetricValue::Vector(values)) = list else {
        panic!("not a vector: {list:?}");
    };
    assert_eq!(values[..2], [1.0, 2.5]);
    assert!(
        values[2].is_nan() && values[3].is_nan(),
        "NaN and null: {values:?}"
    );

    let window = Window {
        start_unix_ms: 0,
        end_unix_ms: 1000,
        step: Duration::from_secs(1),
    };
    let samples = p
        .range(
            &query("http", &format!("{base}/ok"), Some("/data/value")),
            &window,
        )
        .await;
    assert_eq!(samples, Ok(vec![0.02]));

    let empty = p
        .instant(&query("http", &format!("{base}/empty"), Some("/values")))
        .await;
    assert_eq!(empty, Err(FetchError::NoData));

    for (path, pointer, expected) in [
        ("/missing", None, "HTTP 404 Not Found: no such metric"),
        ("/text", None, "not JSON"),
        (
            "/ok",
            Some("/data/nope"),
            "nothing at the JSON pointer \"/data/nope\"",
        ),
        ("/ok", Some("/data"), "is not a number"),
    ] {
        let outcome = p
            .instant(&query("http", &format!("{base}{path}"), pointer))
            .await;
        let Err(error @ FetchError::BadResponse { .. }) = &outcome else {
            panic!("{path}: {outcome:?}");
        };
        assert!(error.to_string().contains(expected), "{path}: {error}");
    }

    // Nothing listens on a port just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let down = p
        .instant(&query("http", &format!("http://127.0.0.1:{port}/x"), None))
        .await;
    let Err(FetchError::Unreachable { address, cause }) = down else {
        panic!("{down:?}");
    };
    assert!(address.contains(&port.to_string()));
    assert!(cause.to_lowercase().contains("refused"), "{cause}");
}

#[tokio::test]
async fn command_values_and_failures() {
    let p = providers();
    assert_eq!(
        p.instant(&query("cmd", "echo 0.25", None)).await,
        Ok(MetricValue::Scalar(0.25))
    );
    assert_eq!(
        p.instant(&query("cmd", "echo '[1, 2]'", None)).await,
        Ok(MetricValue::Vector(vec![1.0, 2.0]))
    );
    assert_eq!(
        p.instant(&query("cmd", r#"echo '{"a": {"b": 3}}'"#, Some("/a/b")))
            .await,
        Ok(MetricValue::Scalar(3.0))
    );
    assert_eq!(
        p.instant(&query("cmd", "echo '[]'", None)).await,
        Err(FetchError::NoData)
    );
    for (command, expected) in [
        ("echo broken >&2; exit 3", "exit status: 3: broken"),
        ("echo hello", "neither a number nor JSON"),
        // The whole process group goes, the background sleep included.
        ("sleep 30 & sleep 30", "no answer within 500ms"),
    ] {
        let outcome = p.instant(&query("cmd", command, None)).await;
        let Err(FetchError::Command(message)) = &outcome else {
            panic!("{command}: {outcome:?}");
        };
        assert!(message.contains(expected), "{command}: {message}");
        assert!(message.contains(command), "names the command: {message}");
    }
    assert_eq!(
        p.instant(&query("nope", "x", None)).await,
        Err(FetchError::UnknownProvider("nope".to_owned()))
    );
}
