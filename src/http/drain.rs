//! Reading a request body frame by frame, and discarding what is left of one within bounds: the
//! one drain both the 413 (`endpoint/body.rs`) and the connection's refusals
//! (`connections/unread_body.rs`) use, each with its own bounds.

use std::pin::Pin;
use std::time::Duration;

use axum::body::{Body, Bytes};
use http_body::{Body as _, Frame};

/// The next frame of `body`.
pub(crate) async fn next_frame(body: &mut Body) -> Option<Result<Frame<Bytes>, axum::Error>> {
    std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await
}

/// Reads `body` to its end and discards it, within `max_bytes` and `max_time`; whether it got
/// to the end (not when it is larger, slower, or broken).
pub(crate) async fn discard(mut body: Body, max_bytes: usize, max_time: Duration) -> bool {
    let read_all = async {
        let mut read = 0usize;
        loop {
            match next_frame(&mut body).await {
                None => return true,
                Some(Err(_)) => return false,
                Some(Ok(frame)) => {
                    read += frame.data_ref().map_or(0, Bytes::len);
                    if read > max_bytes {
                        return false;
                    }
                }
            }
        }
    };
    tokio::time::timeout(max_time, read_all)
        .await
        .unwrap_or(false)
}
