//! Who sent a request, decided the same way for every transport (POST, GET, SSE, WebSocket) and
//! before anything else, the response cache included: a credential that was sent and is not
//! valid is refused even where none is needed, and with `READ_ACCESS=authenticated` nothing is
//! answered without a valid one. What each transport makes of a refusal is its own: an HTTP
//! response in the media type the client accepts, a JSON error for an event stream, a close for
//! a WebSocket.

use axum::http::{HeaderMap, header};
use axum::response::Response;

use super::protocol::negotiate::MediaType;
use super::protocol::respond::{Delivery, respond};
use super::state::AppState;
use crate::auth::Admission;
use crate::graphql;

/// Why a request was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A credential was sent and is not valid (expired, badly signed, unknown).
    Invalid,
    /// None was sent, and `READ_ACCESS=authenticated` needs one.
    Missing,
}

impl Refusal {
    /// The `UNAUTHENTICATED` answer over HTTP, in `media`. Never stored, by anyone.
    pub(crate) fn response(self, media: MediaType) -> Response {
        respond(
            media,
            &graphql::unauthenticated(self == Self::Invalid),
            Delivery::NoStore,
        )
    }

    /// What a WebSocket's refusal says.
    pub(crate) fn message(self) -> &'static str {
        match self {
            Self::Invalid => "Forbidden: invalid credential",
            Self::Missing => "Forbidden: READ_ACCESS=authenticated needs a credential",
        }
    }
}

/// Admits the bearer of `token` (`None`: anonymous), with until when its credential holds.
pub(crate) async fn admit(state: &AppState, token: Option<&str>) -> Result<Admission, Refusal> {
    match state.auth.admit(token).await {
        Ok(admission) if state.auth.may_read(admission.caller) => Ok(admission),
        Ok(_) => Err(Refusal::Missing),
        Err(_) => Err(Refusal::Invalid),
    }
}

/// The bearer token of `Authorization: Bearer <token>` (scheme case-insensitive, per RFC 7235),
/// if the request has one. Another scheme is no bearer token.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn parses_the_bearer_scheme() {
        let token = |value: Option<&str>| {
            let mut headers = HeaderMap::new();
            if let Some(value) = value {
                headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            }
            bearer_token(&headers).map(str::to_owned)
        };
        assert_eq!(token(Some("Bearer abc")).as_deref(), Some("abc"));
        assert_eq!(token(Some("bearer  abc ")).as_deref(), Some("abc"));
        assert_eq!(token(Some("Basic abc")), None);
        assert_eq!(token(Some("Bearer")), None);
        assert_eq!(token(Some("Bearer ")), None);
        assert_eq!(token(None), None);
    }
}
