//! The normalized key of a request: two requests with the same key get the same response (given
//! the same plan lists). The document's ignored tokens are collapsed, and variables and
//! extensions are written as canonical JSON, so spellings that differ only in whitespace,
//! comments, commas or key order share one entry.

use std::fmt::Write as _;

use serde_json::{Map, Value};

/// A request reduced to what decides its response: equal keys mean equal responses (given the
/// same plan lists).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResponseKey(Box<[u8]>);

impl ResponseKey {
    /// The key of a request with these parameters (absent and empty `variables` or `extensions`
    /// mean the same, as they do to async-graphql).
    pub fn new(
        query: &str,
        operation_name: Option<&str>,
        variables: Option<&Map<String, Value>>,
        extensions: Option<&Map<String, Value>>,
    ) -> Self {
        let mut key = Vec::with_capacity(query.len() + 64);
        let mut document = Vec::with_capacity(query.len());
        normalize_document(query, &mut document);
        push_part(&mut key, &document);
        match operation_name {
            // An absent name and an empty one mean different things to async-graphql.
            None => key.push(0),
            Some(name) => {
                key.push(1);
                push_part(&mut key, name.as_bytes());
            }
        }
        let mut json = String::new();
        canonical_object(variables, &mut json);
        push_part(&mut key, json.as_bytes());
        json.clear();
        canonical_object(extensions, &mut json);
        push_part(&mut key, json.as_bytes());
        Self(key.into_boxed_slice())
    }
}

impl AsRef<[u8]> for ResponseKey {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Appends a length-prefixed part, so no two different part lists give the same bytes.
fn push_part(key: &mut Vec<u8>, part: &[u8]) {
    key.extend_from_slice(&(part.len() as u64).to_le_bytes());
    key.extend_from_slice(part);
}

/// Punctuators that need no space around them: a space beside one never separates two tokens.
/// (`.` is left out: `. . .` is three tokens, `...` one.)
const PUNCTUATORS: &[u8] = b"!$&():=@[]{|}";

/// Collapses every run of GraphQL's ignored tokens (whitespace, line terminators, commas,
/// comments, byte-order marks) outside string literals into one space, or into nothing beside a
/// punctuator, and trims the ends. Tokens and string literals (block strings too) are copied
/// verbatim, so two documents with the same result have the same token sequence, hence the same
/// meaning.
fn normalize_document(document: &str, out: &mut Vec<u8>) {
    const BOM: &[u8] = "\u{feff}".as_bytes();
    let bytes = document.as_bytes();
    let mut i = 0;
    let mut pending_space = false;
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                pending_space = true;
                i += 1;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
                pending_space = true;
            }
            _ if bytes[i..].starts_with(BOM) => {
                pending_space = true;
                i += BOM.len();
            }
            byte => {
                if pending_space
                    && out.last().is_some_and(|last| !PUNCTUATORS.contains(last))
                    && !PUNCTUATORS.contains(&byte)
                {
                    out.push(b' ');
                }
                pending_space = false;
                if byte == b'"' {
                    i = copy_string(bytes, i, out);
                } else {
                    out.push(byte);
                    i += 1;
                }
            }
        }
    }
}

/// Copies the string literal starting at `start` (a `"`) verbatim; returns the index after it.
fn copy_string(bytes: &[u8], start: usize, out: &mut Vec<u8>) -> usize {
    let end = if bytes[start..].starts_with(b"\"\"\"") {
        // Block string: ends at the first `"""` not escaped as `\"""`.
        let mut i = start + 3;
        loop {
            if i >= bytes.len() {
                break bytes.len();
            }
            if bytes[i..].starts_with(b"\\\"\"\"") {
                i += 4;
            } else if bytes[i..].starts_with(b"\"\"\"") {
                break i + 3;
            } else {
                i += 1;
            }
        }
    } else {
        let mut i = start + 1;
        loop {
            match bytes.get(i) {
                None => break bytes.len(),
                Some(b'\\') => i += 2,
                Some(b'"') => break i + 1,
                Some(_) => i += 1,
            }
        }
    };
    let end = end.min(bytes.len());
    out.extend_from_slice(&bytes[start..end]);
    end
}

/// A JSON object with its keys sorted at every depth (whatever map order serde_json was built
/// with); an absent object is written as an empty one.
fn canonical_object(object: Option<&Map<String, Value>>, out: &mut String) {
    match object {
        None => out.push_str("{}"),
        Some(map) => write_canonical_map(map, out),
    }
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => write_canonical_map(map, out),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::String(text) => write_json_string(text, out),
        Value::Number(number) => {
            let _ = write!(out, "{number}");
        }
        Value::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Value::Null => out.push_str("null"),
    }
}

fn write_canonical_map(map: &Map<String, Value>, out: &mut String) {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    out.push('{');
    for (index, (name, value)) in entries.into_iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        write_json_string(name, out);
        out.push(':');
        write_canonical(value, out);
    }
    out.push('}');
}

fn write_json_string(text: &str, out: &mut String) {
    // Serializing a string to JSON cannot fail.
    out.push_str(&serde_json::to_string(text).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalized(document: &str) -> String {
        let mut out = Vec::new();
        normalize_document(document, &mut out);
        String::from_utf8(out).unwrap()
    }

    /// The key of a JSON request body, read the way the POST handler reads it.
    fn key(body: &str) -> ResponseKey {
        let body: Map<String, Value> = serde_json::from_str(body).unwrap();
        let object = |name: &str| body.get(name).and_then(Value::as_object);
        ResponseKey::new(
            body["query"].as_str().unwrap(),
            body.get("operationName").and_then(Value::as_str),
            object("variables"),
            object("extensions"),
        )
    }

    #[test]
    fn collapses_ignored_tokens_outside_strings() {
        assert_eq!(
            normalized(
                "\u{feff} query  Q($u: Int,\n\t$t: T) {\r\n plans(userId: $u) # why\n { id } }  "
            ),
            "query Q($u:Int$t:T){plans(userId:$u){id}}"
        );
        assert_eq!(normalized("{a(x: \"a  ,b # c\")}"), "{a(x:\"a  ,b # c\")}");
        assert_eq!(
            normalized("{a(x: \"q\\\"  \\\\\" y: 1)}"),
            "{a(x:\"q\\\"  \\\\\" y:1)}"
        );
        assert_eq!(
            normalized("{a(x: \"\"\" in  \\\"\"\"  block \"\"\"   y: 1)}"),
            "{a(x:\"\"\" in  \\\"\"\"  block \"\"\" y:1)}"
        );
        // A comment ends at the line; what follows is kept.
        assert_eq!(normalized("{ a # b\n c }"), "{a c}");
        // Spaces that separate tokens stay; dots and strings never lose theirs.
        assert_eq!(normalized("{ ... on T { a } } . . ."), "{... on T{a}}. . .");
        assert_eq!(normalized("{ a(x: \"\" y: \"b\") }"), "{a(x:\"\" y:\"b\")}");
        assert_eq!(normalized("{ a(x: [\"\" \"b\"]) }"), "{a(x:[\"\" \"b\"])}");
        // Unterminated literals are copied to the end (the parser refuses them later).
        assert_eq!(normalized("{ a(x: \"open  "), "{a(x:\"open  ");
    }

    #[test]
    fn equal_requests_share_a_key_and_different_ones_do_not() {
        let a = key(r#"{"query":"{ plans(userId: $u) { id } }","variables":{"u":1,"t":"X"}}"#);
        let b = key(
            r#"{"variables":{"t":"X","u":1},"query":"{plans(userId:$u){id}}","operationName":null,"unknown":3}"#,
        );
        // Same tokens: only ignored ones, key order and unknown fields differ.
        let c = key(r#"{"query":"{ plans(userId: $u) {\n id\n} }","variables":{"t":"X","u":1}}"#);
        assert_eq!(a, b);
        assert_eq!(a, c);
        let d = key(r#"{"query":"{ plans(userId: $u) { id } }","variables":{"u":2,"t":"X"}}"#);
        assert_ne!(a, d);
        let none = key(r#"{"query":"{ a }"}"#);
        assert_eq!(
            none,
            key(r#"{"query":"{ a }","variables":null,"extensions":{}}"#)
        );
        assert_ne!(none, key(r#"{"query":"{ a }","operationName":""}"#));
        assert_ne!(
            key(r#"{"query":"{ a }","operationName":"A"}"#),
            key(r#"{"query":"{ a }","operationName":"B"}"#)
        );
        assert_ne!(none, key(r#"{"query":"{ a }","extensions":{"x":1}}"#));
        assert_ne!(
            key(r#"{"query":"{ a(s: \"x y\") }"}"#),
            key(r#"{"query":"{ a(s: \"x  y\") }"}"#)
        );
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let value: Map<String, Value> =
            serde_json::from_str(r#"{"b":[{"y":1,"x":"é\""}],"a":null}"#).unwrap();
        let mut out = String::new();
        canonical_object(Some(&value), &mut out);
        assert_eq!(out, r#"{"a":null,"b":[{"x":"é\"","y":1}]}"#);
    }
}
