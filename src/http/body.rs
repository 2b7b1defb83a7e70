//! Reading a POST body within `MAX_REQUEST_BYTES`. Over it, the rest is read and discarded, up to
//! a bound in size and time, before the 413 is sent and the connection closed: a client that
//! writes its whole body before reading (Python's urllib, many SDKs) would otherwise find the
//! connection reset by the unread bytes and never see the 413. nginx's lingering close does the
//! same.

use std::time::Duration;

use axum::body::{Body, Bytes};
use bytes::BytesMut;
use futures::StreamExt;

/// Most bytes discarded after the limit before giving up on the client.
pub(super) const DRAIN_MAX_BYTES: usize = 16 * 1024 * 1024;
/// Longest time spent discarding them.
pub(super) const DRAIN_MAX_TIME: Duration = Duration::from_secs(5);

pub(super) enum BodyError {
    /// Over the limit (the rest drained, within the bounds).
    TooLarge,
    /// The body could not be read (the client went away, a malformed chunk...).
    Unreadable(String),
}

/// The whole body, if it is at most `limit` bytes. One chunk (the usual case) is not copied.
pub(super) async fn read(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    let mut stream = body.into_data_stream();
    let mut first: Option<Bytes> = None;
    let mut joined: Option<BytesMut> = None;
    let mut length = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|err| BodyError::Unreadable(err.to_string()))?;
        length += chunk.len();
        if length > limit {
            drain(stream).await;
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

/// Reads and discards what is left, up to [`DRAIN_MAX_BYTES`] and [`DRAIN_MAX_TIME`].
async fn drain(mut stream: axum::body::BodyDataStream) {
    let discard = async {
        let mut drained = 0usize;
        while let Some(Ok(chunk)) = stream.next().await {
            drained += chunk.len();
            if drained > DRAIN_MAX_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_MAX_TIME, discard).await;
}
