//! The request parameters of GraphQL over HTTP: a POST's JSON body, a GET's query string, and
//! the content type a POST must have.

use async_graphql::Variables;
use axum::http::{HeaderMap, header};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::persisted::{self, PersistedOperations, Refusal, Registration};
use crate::auth::Caller;
use crate::http::response_cache::ResponseKey;

/// The request parameters of the specification, as a POST body carries them.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Params {
    /// Absent when the document is named instead (APQ hash, `documentId`).
    #[serde(default)]
    query: Option<String>,
    /// A trusted document's id, `sha256:<hex>`.
    #[serde(default)]
    document_id: Option<String>,
    #[serde(default)]
    operation_name: Option<String>,
    #[serde(default)]
    variables: Option<Map<String, Value>>,
    /// Only `persistedQuery` (APQ) means something to the server; the others are part of what
    /// identifies a request (for the response cache), and must be a map.
    #[serde(default)]
    extensions: Option<Map<String, Value>>,
}

/// The same parameters in a GET query string, where `variables` and `extensions` are JSON text.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GetParams {
    query: Option<String>,
    document_id: Option<String>,
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

impl GetParams {
    pub(crate) fn is_empty(&self) -> bool {
        self.query.is_none()
            && self.document_id.is_none()
            && self.operation_name.is_none()
            && self.variables.is_none()
            && self.extensions.is_none()
    }

    pub(crate) fn into_params(self) -> Result<Params, String> {
        let map = |name: &str, text: Option<String>| -> Result<_, String> {
            text.filter(|text| !text.is_empty())
                .map(|text| serde_json::from_str::<Option<Map<String, Value>>>(&text))
                .transpose()
                .map(Option::flatten)
                .map_err(|err| format!("`{name}` must be a JSON object: {err}"))
        };
        Ok(Params {
            variables: map("variables", self.variables)?,
            extensions: map("extensions", self.extensions)?,
            query: self.query,
            document_id: self.document_id,
            operation_name: self.operation_name,
        })
    }
}

impl Params {
    /// A POST body: a JSON object with the fields above.
    pub(crate) fn from_json_body(body: &[u8]) -> Result<Self, String> {
        // An object first: serde would also read a struct from a JSON array (a batch, which
        // `batch` takes apart first).
        serde_json::from_slice::<Map<String, Value>>(body)
            .and_then(Self::from_object)
            .map_err(|err| format!("malformed GraphQL request: {err}"))
    }

    /// One request of a batch.
    pub(crate) fn from_object(object: Map<String, Value>) -> Result<Self, serde_json::Error> {
        Self::deserialize(Value::Object(object))
    }

    /// The operation to run: the document resolved from `query`, an APQ hash or `documentId`
    /// (see [`persisted`]), and an APQ registration to keep if it runs.
    pub(crate) fn resolve(
        self,
        persisted: &PersistedOperations,
    ) -> Result<(Operation, Option<Registration>), Refusal> {
        let mut extensions = self.extensions;
        let (query, registration) =
            persisted::resolve(persisted, self.query, self.document_id, &mut extensions)?;
        let operation = Operation {
            query,
            operation_name: self.operation_name,
            variables: self.variables,
            extensions,
        };
        Ok((operation, registration))
    }
}

/// A request whose document is known: what the response cache and execution see.
pub(crate) struct Operation {
    query: String,
    operation_name: Option<String>,
    variables: Option<Map<String, Value>>,
    extensions: Option<Map<String, Value>>,
}

impl Operation {
    /// What identifies this request to the response cache.
    pub(crate) fn response_key(&self) -> ResponseKey {
        ResponseKey::new(
            &self.query,
            self.operation_name.as_deref(),
            self.variables.as_ref(),
            self.extensions.as_ref(),
        )
    }

    /// The request async-graphql runs, with who sent it.
    pub(crate) fn into_request(self, caller: Caller) -> async_graphql::Request {
        let mut request = async_graphql::Request::new(self.query);
        if let Some(name) = self.operation_name {
            request = request.operation_name(name);
        }
        if let Some(variables) = self.variables {
            request = request.variables(Variables::from_json(Value::Object(variables)));
        }
        request.data(caller)
    }
}

/// POST bodies must be JSON in UTF-8 (the only encoding JSON may use between systems).
pub(crate) fn check_content_type(headers: &HeaderMap) -> Result<(), String> {
    let expected = "POST /graphql needs `Content-Type: application/json`";
    // What almost every client sends, settled before any parsing (and in lower case, by one
    // comparison).
    if headers.get(header::CONTENT_TYPE).is_some_and(|value| {
        let value = value.as_bytes();
        value == b"application/json" || value.eq_ignore_ascii_case(b"application/json")
    }) {
        return Ok(());
    }
    let value = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .ok_or(expected)?;
    let mut parts = value.split(';');
    let media = parts.next().unwrap_or_default().trim();
    if !media.eq_ignore_ascii_case("application/json") {
        return Err(format!("{expected}, not {media:?}"));
    }
    for param in parts {
        if let Some((name, charset)) = param.split_once('=')
            && name.trim().eq_ignore_ascii_case("charset")
            && !charset
                .trim()
                .trim_matches('"')
                .eq_ignore_ascii_case("utf-8")
        {
            return Err(format!("the body must be UTF-8, not {}", charset.trim()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn content_type_must_be_json_in_utf8() {
        let check = |value: Option<&str>| {
            let mut headers = HeaderMap::new();
            if let Some(value) = value {
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
            }
            check_content_type(&headers)
        };
        assert!(check(Some("application/json")).is_ok());
        assert!(check(Some("Application/JSON; charset=UTF-8")).is_ok());
        assert!(check(Some("application/json;charset=\"utf-8\"")).is_ok());
        assert!(check(None).is_err());
        assert!(check(Some("text/plain")).is_err());
        assert!(check(Some("application/graphql")).is_err());
        assert!(check(Some("application/x-www-form-urlencoded")).is_err());
        assert!(check(Some("application/json; charset=utf-16")).is_err());
    }
}
