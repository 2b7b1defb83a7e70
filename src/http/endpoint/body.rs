//! Reading a POST body within `MAX_REQUEST_BYTES`. Over it, the rest is read and discarded, up to
//! a bound in size and time, before the 413 is sent and the connection closed: a client that
//! writes its whole body before reading (Python's urllib, many SDKs) would otherwise find the
//! connection reset by the unread bytes and never see the 413. nginx's lingering close does the
//! same.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::BytesMut;
use http_body::Body as _;

use crate::http::drain::{discard, next_frame};
use crate::http::protocol::respond::refuse;

/// Most bytes discarded after the limit before giving up on the client.
pub(crate) const DRAIN_MAX_BYTES: usize = 16 * 1024 * 1024;
/// Longest time spent discarding them.
pub(crate) const DRAIN_MAX_TIME: Duration = Duration::from_secs(5);

enum BodyError {
    /// Over the limit (the rest drained, within the bounds).
    TooLarge,
    /// The body could not be read (the client went away, a malformed chunk...).
    Unreadable(String),
}

/// The whole body, if it is at most `limit` bytes. One chunk (the usual case) is not copied,
/// and a body whose length is known is not polled again once it is all here.
async fn read(mut body: Body, limit: usize) -> Result<Bytes, BodyError> {
    let mut first: Option<Bytes> = None;
    let mut joined: Option<BytesMut> = None;
    let mut length = 0usize;
    while !body.is_end_stream() {
        let Some(frame) = next_frame(&mut body).await else {
            break;
        };
        let frame = frame.map_err(|err| BodyError::Unreadable(err.to_string()))?;
        // Trailers carry nothing of a GraphQL request.
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        length += chunk.len();
        if length > limit {
            // Discarded so that a client that writes its whole body before reading sees the
            // 413; whether it got to the end, the connection closes after it.
            discard(body, DRAIN_MAX_BYTES, DRAIN_MAX_TIME).await;
            return Err(BodyError::TooLarge);
        }
        match (&mut joined, first.take()) {
            (Some(joined), _) => joined.extend_from_slice(&chunk),
            (None, None) => first = Some(chunk),
            (None, Some(earlier)) => {
                let mut buffer = BytesMut::with_capacity(earlier.len() + chunk.len());
                buffer.extend_from_slice(&earlier);
                buffer.extend_from_slice(&chunk);
                joined = Some(buffer);
            }
        }
    }
    Ok(match joined {
        Some(joined) => joined.freeze(),
        None => first.unwrap_or_default(),
    })
}

/// The whole body of a GraphQL request (POST, or an SSE subscription by POST), if it is at most
/// `limit` (`MAX_REQUEST_BYTES`) bytes; else the refusal: 413 (the rest drained first, then the
/// connection closed), or 400 for a body that could not be read. The one place a body is read.
pub(crate) async fn read_or_refuse(
    body: Body,
    headers: &HeaderMap,
    limit: usize,
) -> Result<Bytes, Box<Response>> {
    match read(body, limit).await {
        Ok(body) => Ok(body),
        Err(BodyError::TooLarge) => {
            let mut response = refuse(
                headers,
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is larger than MAX_REQUEST_BYTES ({limit} bytes)"),
            );
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            Err(Box::new(response))
        }
        Err(BodyError::Unreadable(message)) => Err(Box::new(refuse(
            headers,
            StatusCode::BAD_REQUEST,
            format!("malformed GraphQL request: {message}"),
        ))),
    }
}
