//! Watching a connection for the header read and idle timeouts: counters its socket and its
//! service bump (relaxed atomic additions: nothing else on the request path), looked at by one
//! timer per connection.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::ConnectionSettings;

/// What a connection did, counted by its socket ([`Watched`]) and its service ([`Counted`]).
#[derive(Default)]
pub(super) struct Activity {
    reads: AtomicU64,
    writes: AtomicU64,
    pub(super) requests: AtomicU64,
}

/// Completes when the connection should be closed: a head begun and not finished within the
/// header read timeout, or nothing read or written for the idle timeout. Looks at the counters
/// four times per the shorter timeout, so either is enforced within a quarter of it.
pub(super) async fn watch(activity: &Activity, settings: ConnectionSettings) {
    let tick =
        (settings.header_read_timeout.min(settings.idle_timeout) / 4).max(Duration::from_millis(5));
    let counts = || {
        (
            activity.reads.load(Ordering::Relaxed),
            activity.writes.load(Ordering::Relaxed),
            activity.requests.load(Ordering::Relaxed),
        )
    };
    let (mut reads, mut writes, mut requests) = (0, 0, 0);
    let mut quiet_since = Instant::now();
    // When bytes arrived that no request has come of yet: a head in progress.
    let mut head_since: Option<Instant> = None;
    loop {
        tokio::time::sleep(tick).await;
        let now = Instant::now();
        let (now_reads, now_writes, now_requests) = counts();
        if now_requests != requests {
            head_since = None;
        } else if now_reads != reads && head_since.is_none() {
            head_since = Some(now - tick);
        }
        if (now_reads, now_writes) != (reads, writes) {
            quiet_since = now;
        }
        (reads, writes, requests) = (now_reads, now_writes, now_requests);
        let slow_head = head_since.is_some_and(|since| now - since >= settings.header_read_timeout);
        if slow_head || now - quiet_since >= settings.idle_timeout {
            return;
        }
    }
}

pin_project! {
    /// The socket, counting the reads and writes that move bytes.
    pub(super) struct Watched {
        #[pin]
        pub(super) inner: TcpStream,
        pub(super) activity: Arc<Activity>,
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let polled = this.inner.poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.reads.fetch_add(1, Ordering::Relaxed);
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let polled = this.inner.poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(written)) if written > 0) {
            this.activity.writes.fetch_add(1, Ordering::Relaxed);
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let polled = this.inner.poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(written)) if written > 0) {
            this.activity.writes.fetch_add(1, Ordering::Relaxed);
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }
}
