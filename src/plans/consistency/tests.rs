//! Tests of the consistency tokens' text form and barrier notices.

use super::*;

#[test]
fn a_token_reads_back_as_written() {
    let token = ConsistencyToken {
        origin: 0x0123_4567_89ab_cdef,
        issuer: 7,
        position: 0x1_6b37_4d48,
    };
    let text = token.to_string();
    assert_eq!(text, "1.0123456789abcdef.0000000000000007.16b374d48");
    assert!(text.len() <= 128);
    assert_eq!(ConsistencyToken::parse(&text), Ok(token));
}

#[test]
fn anything_else_is_malformed() {
    for text in [
        "",
        "1",
        "1.0.0",
        "2.0.0.0",
        "1.0.0.0.0",
        "1.0.0.",
        "1.0.0.+1",
        "1.0.0.-1",
        "1.0.0.1A",
        "1.0.0. 1",
        "1.00000000000000000.0.0",
        "1.0.0.g",
        "1.0.0.0\n",
        &"1.0.0.".repeat(40),
    ] {
        assert_eq!(
            ConsistencyToken::parse(text),
            Err(TokenError::Malformed),
            "{text:?}"
        );
    }
}
