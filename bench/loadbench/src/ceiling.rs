//! The ceiling: a bare axum handler on the same stack (hyper, tokio) that answers each request
//! with precomputed response bytes, identical to plans-api's. Nothing can serve these requests
//! faster on this stack; plans-api's figures are reported as ratios to it.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;

type Responses = Arc<HashMap<Bytes, Bytes>>;

/// Writes `(request body, response body)` pairs, length-prefixed, for [`serve`] to read.
pub fn write_responses(path: &Path, pairs: &[(Bytes, Bytes)]) -> io::Result<()> {
    let mut file = io::BufWriter::new(std::fs::File::create(path)?);
    for (request, response) in pairs {
        for part in [request, response] {
            let length = u32::try_from(part.len()).map_err(io::Error::other)?;
            file.write_all(&length.to_le_bytes())?;
            file.write_all(part)?;
        }
    }
    file.flush()
}

fn read_responses(path: &Path) -> io::Result<HashMap<Bytes, Bytes>> {
    let mut data = Vec::new();
    std::fs::File::open(path)?.read_to_end(&mut data)?;
    let data = Bytes::from(data);
    let mut parts = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let length = data
            .get(at..at + 4)
            .map(|bytes| u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize)
            .ok_or_else(|| io::Error::other("truncated responses file"))?;
        at += 4;
        if at + length > data.len() {
            return Err(io::Error::other("truncated responses file"));
        }
        parts.push(data.slice(at..at + length));
        at += length;
    }
    let mut pairs = HashMap::new();
    let mut parts = parts.into_iter();
    while let (Some(request), Some(response)) = (parts.next(), parts.next()) {
        pairs.insert(request, response);
    }
    Ok(pairs)
}

async fn answer(State(responses): State<Responses>, body: Bytes) -> Response {
    match responses.get(&body) {
        Some(response) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/graphql-response+json"),
            )],
            response.clone(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Serves the responses in `path` on `port` until killed.
pub fn serve(port: u16, path: &Path) -> io::Result<()> {
    let responses: Responses = Arc::new(read_responses(path)?);
    // Same runtime shape as plans-api's `#[tokio::main]`: one worker per core.
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let app = Router::new()
                .route("/graphql", post(answer))
                .route("/health/ready", get(|| async { "ready" }))
                .with_state(responses);
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
            axum::serve(listener, app).await
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_round_trip_through_the_file() {
        let dir = std::env::temp_dir().join(format!("loadbench-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("responses.bin");
        let pairs = vec![
            (Bytes::from_static(b"{\"a\":1}"), Bytes::from_static(b"one")),
            (Bytes::from_static(b""), Bytes::from(vec![7u8; 100_000])),
        ];
        write_responses(&path, &pairs).unwrap();
        let read = read_responses(&path).unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(read[&pairs[1].0], pairs[1].1);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
