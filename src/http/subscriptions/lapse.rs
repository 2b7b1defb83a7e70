//! A live event stream that ends when the credential that admitted it does: once its
//! [`Lapse`] resolves, the stream yields one last item (the `UNAUTHENTICATED` result) and ends,
//! dropping the subscription. The lapse is polled only when the stream is (a wake-up of its
//! timer, or an event): no timer work is added to the fan-out of events.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;

use crate::auth::Lapse;

/// `events` until `lapse` resolves, then `last` and the end. With no lapse, `events` as they are.
pub(crate) fn until_lapse<S: Stream + Unpin>(
    events: S,
    lapse: Option<Lapse>,
    last: fn() -> S::Item,
) -> UntilLapse<S> {
    UntilLapse {
        events: Some(events),
        lapse,
        last,
    }
}

pub(crate) struct UntilLapse<S: Stream> {
    /// `None` once the credential lapsed (the subscription is dropped then).
    events: Option<S>,
    lapse: Option<Lapse>,
    last: fn() -> S::Item,
}

impl<S: Stream + Unpin> Stream for UntilLapse<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = &mut *self;
        // The lapse first: no event goes out after it.
        if let Some(lapse) = &mut this.lapse
            && Pin::new(lapse).poll(cx).is_ready()
        {
            this.lapse = None;
            this.events = None;
            return Poll::Ready(Some((this.last)()));
        }
        match &mut this.events {
            Some(events) => Pin::new(events).poll_next(cx),
            None => Poll::Ready(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use futures::{StreamExt, stream};

    use super::*;
    use crate::auth::{AdminToken, Admission, AuthSettings, Authenticator, Caller};

    async fn authenticator() -> Authenticator {
        Authenticator::new(AuthSettings {
            admin_token: AdminToken::new("admin-token-for-the-lapse-tests"),
            jwt: None,
            reads_need_credential: false,
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn the_stream_ends_with_the_last_item_when_the_credential_expires() {
        let auth = authenticator().await;
        let started = Instant::now();
        let admission = Admission {
            caller: Caller::Operator(7),
            expires: Some(started + Duration::from_millis(500)),
            kid: None,
        };
        // An event every 150 ms, for ever.
        let events = stream::unfold(0, |n| async move {
            tokio::time::sleep(Duration::from_millis(150)).await;
            Some((n, n + 1))
        })
        .boxed();
        let got: Vec<i32> = until_lapse(events, auth.lapse(&admission), || -1)
            .collect()
            .await;
        let ended = started.elapsed();
        assert!(
            ended >= Duration::from_millis(500) && ended < Duration::from_millis(1500),
            "ended after {ended:?}"
        );
        // The events before the expiry (3, unless the machine is slow), then the last item.
        let (last, before) = got.split_last().unwrap();
        assert_eq!(*last, -1, "{got:?}");
        assert!(!before.is_empty() && before.len() <= 3, "{got:?}");
        assert!(before.iter().copied().eq(0..before.len() as i32), "{got:?}");
    }

    #[tokio::test]
    async fn nothing_ends_a_credential_that_does_not_expire() {
        let auth = authenticator().await;
        let admin = Admission {
            caller: Caller::Admin,
            ..Admission::default()
        };
        assert!(auth.lapse(&admin).is_none());
        assert!(auth.lapse(&Admission::default()).is_none());
        let got: Vec<i32> = until_lapse(stream::iter([1, 2]), None, || -1)
            .collect()
            .await;
        assert_eq!(got, [1, 2]);
    }
}
