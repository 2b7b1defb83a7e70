//! Content negotiation (RFC 9110 `Accept`) as GraphQL over HTTP uses it: which JSON media type a
//! response gets, and whether a browser asks for the GraphiQL page.

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

/// The media type of the response, or `None` when the client accepts neither (406).
///
/// No `Accept` header means `application/json` (the specification's rule for legacy clients).
/// A wildcard alone also gets `application/json`; `application/graphql-response+json` is chosen
/// when the client names it and weighs it at least as high.
pub fn response_media_type(headers: &HeaderMap) -> Option<MediaType> {
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
