//! Content negotiation (RFC 9110 `Accept`) as GraphQL over HTTP uses it: which JSON media type a
//! response gets, whether a client asks for an event stream (a subscription over SSE), and
//! whether a browser asks for the GraphiQL page.

use axum::http::{HeaderMap, HeaderValue, header};

/// The media types a GraphQL response can be sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// `application/graphql-response+json`: the status code tells request errors (400) apart.
    GraphqlResponseJson,
    /// `application/json`: the legacy type; every well-formed request gets 200.
    Json,
}

impl MediaType {
    pub fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Self::GraphqlResponseJson => "application/graphql-response+json; charset=utf-8",
            Self::Json => "application/json; charset=utf-8",
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::GraphqlResponseJson => "application/graphql-response+json",
            Self::Json => "application/json",
        }
    }
}

/// One media range of an `Accept` header, with its weight. Borrowed from the header: compared
/// case-insensitively, never copied.
struct Range<'a> {
    kind: &'a str,
    subtype: &'a str,
    q: f32,
}

fn ranges(headers: &HeaderMap) -> Option<Vec<Range<'_>>> {
    let mut ranges = Vec::new();
    let mut present = false;
    for value in headers.get_all(header::ACCEPT) {
        present = true;
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let media = parts.next().unwrap_or_default().trim();
            let Some((kind, subtype)) = media.split_once('/') else {
                continue;
            };
            let q = parts
                .filter_map(|param| param.split_once('='))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
                .and_then(|(_, value)| value.trim().parse::<f32>().ok())
                .map_or(1.0, |q| q.clamp(0.0, 1.0));
            ranges.push(Range {
                kind: kind.trim(),
                subtype: subtype.trim(),
                q,
            });
        }
    }
    // An Accept header that is present but empty accepts nothing in particular: treat it as absent.
    (present && !ranges.is_empty()).then_some(ranges)
}

/// The weight the client gives `kind/subtype`: that of the most specific range that matches it
/// (RFC 9110 §12.5.1), 0 when none does. The flag says whether the type was named exactly.
fn weight(ranges: &[Range], kind: &str, subtype: &str) -> (f32, bool) {
    let exact = ranges.iter().find(|range| {
        range.kind.eq_ignore_ascii_case(kind) && range.subtype.eq_ignore_ascii_case(subtype)
    });
    if let Some(range) = exact {
        return (range.q, true);
    }
    let matching = ranges
        .iter()
        .find(|range| range.kind.eq_ignore_ascii_case(kind) && range.subtype == "*")
        .or_else(|| {
            ranges
                .iter()
                .find(|range| range.kind == "*" && range.subtype == "*")
        });
    (matching.map_or(0.0, |range| range.q), false)
}

/// What GraphQL clients send, settled without parsing a list: `Accept` is one JSON media type
/// (or `*/*`) with no parameters.
fn single_json_media_type(headers: &HeaderMap) -> Option<MediaType> {
    let mut values = headers.get_all(header::ACCEPT).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return None;
    };
    // Compared as sent first: clients write these in lower case.
    let value = value.as_bytes();
    if value == b"application/graphql-response+json"
        || value.eq_ignore_ascii_case(b"application/graphql-response+json")
    {
        Some(MediaType::GraphqlResponseJson)
    } else if value == b"application/json"
        || value == b"*/*"
        || value.eq_ignore_ascii_case(b"application/json")
    {
        Some(MediaType::Json)
    } else {
        None
    }
}

/// The media type of the response, or `None` when the client accepts neither (406).
///
/// No `Accept` header means `application/json` (the specification's rule for legacy clients).
/// A wildcard alone also gets `application/json`; `application/graphql-response+json` is chosen
/// when the client names it and weighs it at least as high.
pub fn response_media_type(headers: &HeaderMap) -> Option<MediaType> {
    if let Some(media) = single_json_media_type(headers) {
        return Some(media);
    }
    let Some(ranges) = ranges(headers) else {
        return Some(MediaType::Json);
    };
    let (graphql_q, graphql_named) = weight(&ranges, "application", "graphql-response+json");
    let (json_q, _) = weight(&ranges, "application", "json");
    if graphql_q <= 0.0 && json_q <= 0.0 {
        None
    } else if graphql_q > json_q || (graphql_q == json_q && graphql_named) {
        Some(MediaType::GraphqlResponseJson)
    } else {
        Some(MediaType::Json)
    }
}

/// How a request to `/graphql` asks to be answered, read from `Accept` once for both questions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// An SSE subscription ([`prefers_event_stream`]).
    EventStream,
    /// Plain GraphQL over HTTP, in this media type ([`response_media_type`]; `None`: 406).
    Http(Option<MediaType>),
}

/// The transport and media type `headers` ask for. What GraphQL clients send is settled by one
/// look at `Accept`.
pub(crate) fn transport(headers: &HeaderMap) -> Transport {
    if let Some(media) = single_json_media_type(headers) {
        return Transport::Http(Some(media));
    }
    if prefers_event_stream(headers) {
        Transport::EventStream
    } else {
        Transport::Http(response_media_type(headers))
    }
}

/// Whether the client asks for an event stream: `text/event-stream` is named, acceptable and
/// preferred (strictly higher `q`) to both JSON response types. `graphql-sse` and `EventSource`
/// send exactly `Accept: text/event-stream`; clients that list it beside JSON at the same weight
/// (urql does, for incremental delivery) get plain GraphQL over HTTP.
pub fn prefers_event_stream(headers: &HeaderMap) -> bool {
    // Every plain request passes here: those that do not name the type are settled by a scan of
    // the header's bytes for `/` (a header has few), without parsing it; what GraphQL clients
    // send, by one comparison.
    if single_json_media_type(headers).is_some() {
        return false;
    }
    let named = headers
        .get_all(header::ACCEPT)
        .iter()
        .any(|value| names_event_stream(value.as_bytes()));
    if !named {
        return false;
    }
    let Some(ranges) = ranges(headers) else {
        return false;
    };
    let (stream, _) = weight(&ranges, "text", "event-stream");
    let (graphql, _) = weight(&ranges, "application", "graphql-response+json");
    let (json, _) = weight(&ranges, "application", "json");
    stream > 0.0 && stream > graphql.max(json)
}

/// Whether `text/event-stream` (in any case) occurs in an `Accept` value.
fn names_event_stream(value: &[u8]) -> bool {
    value
        .iter()
        .enumerate()
        .filter(|(_, byte)| **byte == b'/')
        .any(|(slash, _)| {
            slash >= 4
                && value[slash - 4..slash].eq_ignore_ascii_case(b"text")
                && value
                    .get(slash + 1..slash + 13)
                    .is_some_and(|subtype| subtype.eq_ignore_ascii_case(b"event-stream"))
        })
}

/// Whether the client takes an HTML page: browsers, and clients that send no `Accept` or `*/*`.
pub fn accepts_html(headers: &HeaderMap) -> bool {
    ranges(headers).is_none_or(|ranges| weight(&ranges, "text", "html").0 > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(accept: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(accept) = accept {
            headers.insert(header::ACCEPT, HeaderValue::from_str(accept).unwrap());
        }
        headers
    }

    #[test]
    fn picks_the_response_media_type() {
        use MediaType::{GraphqlResponseJson as Gql, Json};
        let cases: [(Option<&str>, Option<MediaType>); 13] = [
            (None, Some(Json)),
            (Some(""), Some(Json)),
            (Some("*/*"), Some(Json)),
            (Some("application/*"), Some(Json)),
            (Some("application/json"), Some(Json)),
            (Some("application/graphql-response+json"), Some(Gql)),
            (
                Some("Application/GraphQL-Response+JSON; charset=utf-8"),
                Some(Gql),
            ),
            (
                Some("application/graphql-response+json, application/json;q=0.9"),
                Some(Gql),
            ),
            (
                Some("application/json, application/graphql-response+json"),
                Some(Gql),
            ),
            (
                Some("application/graphql-response+json;q=0.5, application/json"),
                Some(Json),
            ),
            (
                Some("application/graphql-response+json, */*;q=0.1"),
                Some(Gql),
            ),
            (Some("text/html"), None),
            (Some("application/json;q=0, text/plain"), None),
        ];
        for (accept, expected) in cases {
            assert_eq!(
                response_media_type(&headers(accept)),
                expected,
                "Accept: {accept:?}"
            );
        }
    }

    #[test]
    fn knows_who_asks_for_an_event_stream() {
        let asks = |accept: &str| prefers_event_stream(&headers(Some(accept)));
        assert!(asks("text/event-stream"));
        assert!(asks("Text/Event-Stream"));
        assert!(asks("text/event-stream, application/json;q=0.9"));
        assert!(asks("text/event-stream, */*;q=0.1"));
        // urql lists it beside JSON for incremental delivery: plain GraphQL over HTTP.
        assert!(!asks(
            "application/graphql-response+json, application/json, text/event-stream, multipart/mixed"
        ));
        assert!(!asks("application/json, text/event-stream;q=0.9"));
        assert!(!asks("text/event-stream;q=0"));
        assert!(!asks("text/*"));
        assert!(!asks("application/json"));
        assert!(!prefers_event_stream(&headers(None)));
    }

    #[test]
    fn knows_who_wants_html() {
        assert!(accepts_html(&headers(None)));
        assert!(accepts_html(&headers(Some("*/*"))));
        assert!(accepts_html(&headers(Some(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        ))));
        assert!(!accepts_html(&headers(Some("application/json"))));
        assert!(!accepts_html(&headers(Some("text/html;q=0, */*"))));
    }
}
