//! JWTs for the tests: HS256 with the test secret, RS256/ES256 with the keys in
//! `tests/fixtures/jwt/`, and tokens no honest issuer makes (`alg: none`, HS256 signed with the
//! RSA public key).

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// `JWT_SECRET` of the tests (32 bytes).
pub const JWT_SECRET: &str = "test-jwt-secret-0123456789abcdefgh";
pub const ISSUER: &str = "https://issuer.test";
pub const AUDIENCE: &str = "plans-api-tests";

pub const RSA_A: &str = include_str!("../../fixtures/jwt/rsa-a.pem");
pub const RSA_A_PUBLIC: &str = include_str!("../../fixtures/jwt/rsa-a.pub.pem");
pub const RSA_B: &str = include_str!("../../fixtures/jwt/rsa-b.pem");
pub const EC_A: &str = include_str!("../../fixtures/jwt/ec-a.pem");

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// Claims of an operator's token valid for an hour, with the tests' issuer and audience.
pub fn operator_claims(operator: i32) -> Value {
    let now = now();
    json!({
        "sub": format!("operator:{operator}"),
        "operator_id": operator,
        "iat": now,
        "exp": now + 3600,
        "iss": ISSUER,
        "aud": AUDIENCE,
    })
}

/// Claims of an admin token valid for an hour.
pub fn admin_claims() -> Value {
    let mut claims = operator_claims(1);
    let object = claims.as_object_mut().expect("object");
    object.remove("operator_id");
    object.insert("role".into(), "admin".into());
    claims
}

/// `claims` signed HS256 with `secret`.
pub fn hs256_with(secret: &[u8], claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret).expect("key"),
    )
    .expect("token")
}

/// `claims` signed HS256 with the tests' `JWT_SECRET`.
pub fn hs256(claims: &Value) -> String {
    hs256_with(JWT_SECRET.as_bytes(), claims)
}

/// An HS256 operator token with the tests' secret, issuer and audience.
pub fn operator_token(operator: i32) -> String {
    hs256(&operator_claims(operator))
}

/// `claims` signed with a private key (`RS256` with an RSA PEM, `ES256` with an EC PEM), naming
/// `kid`.
pub fn signed(algorithm: Algorithm, pem: &str, kid: &str, claims: &Value) -> String {
    let key = match algorithm {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(pem.as_bytes()),
        Algorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()),
        other => panic!("no test key for {other:?}"),
    }
    .expect("key");
    let mut header = Header::new(algorithm);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &key).expect("token")
}

/// The public JWK of a private key, named `kid`.
pub fn public_jwk(algorithm: Algorithm, pem: &str, kid: &str) -> Value {
    let key = match algorithm {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(pem.as_bytes()),
        Algorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()),
        other => panic!("no test key for {other:?}"),
    }
    .expect("key");
    let mut jwk = Jwk::from_encoding_key(&key, algorithm).expect("jwk");
    jwk.common.key_id = Some(kid.to_owned());
    serde_json::to_value(jwk).expect("jwk json")
}

/// A token with `{"alg": "none"}` and no signature.
pub fn unsigned(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims"));
    format!("{header}.{payload}.")
}

/// HS256 over `claims` with the RSA *public* key's PEM as the HMAC secret, naming `kid`: the
/// algorithm-confusion attack on servers that let the token choose the algorithm.
pub fn hs256_with_rsa_public_key(kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(RSA_A_PUBLIC.as_bytes()).expect("key"),
    )
    .expect("token")
}
