//! Verifying (and, for development, minting) JWTs.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value};

use super::jwks::Jwks;
use super::{Caller, Refused};

/// Seconds of clock skew allowed on `exp`, `nbf` and `iat`.
pub const LEEWAY_SECONDS: u64 = 30;

/// The longest a token is taken to be valid for, whatever its `exp` says (a bound that keeps
/// `Instant` arithmetic from overflowing).
const MAX_VALID_FOR: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// What tokens are accepted and how their claims are read (from the configuration).
#[derive(Debug, Clone)]
pub struct JwtSettings {
    /// HS256 key: the raw bytes of `JWT_SECRET`.
    pub secret: Option<Vec<u8>>,
    pub jwks_url: Option<String>,
    pub jwks_file: Option<std::path::PathBuf>,
    /// When set, `iss` must equal it.
    pub issuer: Option<String>,
    /// When set, `aud` must be or contain it.
    pub audience: Option<String>,
    /// The claim holding the operator id.
    pub operator_claim: String,
    /// The claim holding the role.
    pub role_claim: String,
}

/// A role a token may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Operator,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Operator => "operator",
        }
    }
}

/// A verified token: who, for how much longer (until it would be refused: `exp` plus the leeway),
/// and the JWKS key that signed it (none for HS256).
pub(super) struct Verified {
    pub caller: Caller,
    pub valid_for: Duration,
    pub kid: Option<Arc<str>>,
}

pub(super) struct JwtVerifier {
    secret: Option<DecodingKey>,
    jwks: Option<Jwks>,
    settings: JwtSettings,
}

impl JwtVerifier {
    pub(super) fn new(settings: JwtSettings, jwks: Option<Jwks>) -> Self {
        let secret = settings
            .secret
            .as_deref()
            .and_then(|secret| DecodingKey::from_secret(secret).ok());
        Self {
            secret,
            jwks,
            settings,
        }
    }

    pub(super) fn jwks(&self) -> Option<&Jwks> {
        self.jwks.as_ref()
    }

    pub(super) async fn verify(&self, token: &str) -> Result<Verified, Refused> {
        // `alg: none` and unknown algorithms fail here.
        let header = jsonwebtoken::decode_header(token).map_err(|_| Refused("malformed"))?;
        let jwks_key;
        let mut kid = None;
        let (key, algorithm) = match header.alg {
            Algorithm::HS256 => (
                self.secret
                    .as_ref()
                    .ok_or(Refused("HS256 without JWT_SECRET"))?,
                Algorithm::HS256,
            ),
            Algorithm::RS256 | Algorithm::ES256 => {
                let jwks = self.jwks.as_ref().ok_or(Refused("no JWKS configured"))?;
                let named = header.kid.as_deref().ok_or(Refused("no kid"))?;
                jwks_key = jwks.key(named).await.ok_or(Refused("unknown kid"))?;
                kid = Some(Arc::from(named));
                // The key decides the algorithm, never the token.
                if jwks_key.algorithm != header.alg {
                    return Err(Refused("algorithm does not match the key"));
                }
                (&jwks_key.key, jwks_key.algorithm)
            }
            _ => return Err(Refused("algorithm not accepted")),
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        let mut required = vec!["exp"];
        validation.validate_aud = false;
        if let Some(issuer) = &self.settings.issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        if let Some(audience) = &self.settings.audience {
            validation.set_audience(&[audience]);
            validation.validate_aud = true;
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation)
            .map_err(|err| Refused(refusal(err.kind())))?;
        let claims = data.claims;
        let now = unix_now();
        // `iat` more than the leeway in the future: minted by a clock that is wrong, or forged.
        match claims.get("iat") {
            None => {}
            Some(iat) => {
                let iat = iat.as_f64().ok_or(Refused("iat is not a number"))?;
                if iat > (now + LEEWAY_SECONDS) as f64 {
                    return Err(Refused("iat in the future"));
                }
            }
        }
        let exp = claims
            .get("exp")
            .and_then(Value::as_f64)
            .ok_or(Refused("exp is not a number"))?;
        let caller = caller_of(&claims, &self.settings)?;
        // To the millisecond (not whole seconds): a subscription ends at this moment. An `exp`
        // too far out to add to a clock is taken as a century.
        let valid_for = Duration::try_from_secs_f64(exp.max(0.0))
            .ok()
            .and_then(|exp| exp.checked_add(Duration::from_secs(LEEWAY_SECONDS)))
            .and_then(|until| UNIX_EPOCH.checked_add(until))
            .map_or(MAX_VALID_FOR, |until| {
                until
                    .duration_since(SystemTime::now())
                    .unwrap_or(Duration::ZERO)
                    .min(MAX_VALID_FOR)
            });
        // jsonwebtoken compares whole seconds: refused from the moment a subscription would end.
        if valid_for.is_zero() {
            return Err(Refused("expired"));
        }
        Ok(Verified {
            caller,
            valid_for,
            kid,
        })
    }
}

fn refusal(kind: &jsonwebtoken::errors::ErrorKind) -> &'static str {
    use jsonwebtoken::errors::ErrorKind;
    match kind {
        ErrorKind::InvalidSignature => "bad signature",
        ErrorKind::ExpiredSignature => "expired",
        ErrorKind::ImmatureSignature => "not yet valid (nbf)",
        ErrorKind::InvalidIssuer => "wrong issuer",
        ErrorKind::InvalidAudience => "wrong audience",
        ErrorKind::MissingRequiredClaim(_) => "a required claim is missing",
        ErrorKind::InvalidAlgorithm => "algorithm does not match the key",
        _ => "invalid token",
    }
}

/// Who the claims name: the role claim (`admin`, `operator`, or absent for operator) and, for an
/// operator, the operator claim (an integer >= 1, or a string of one).
fn caller_of(claims: &Map<String, Value>, settings: &JwtSettings) -> Result<Caller, Refused> {
    let role = match claims.get(&settings.role_claim) {
        None | Some(Value::Null) => Role::Operator,
        Some(Value::String(role)) if role == "operator" => Role::Operator,
        Some(Value::String(role)) if role == "admin" => Role::Admin,
        Some(_) => return Err(Refused("unknown role")),
    };
    if role == Role::Admin {
        return Ok(Caller::Admin);
    }
    let operator = match claims.get(&settings.operator_claim) {
        Some(Value::Number(number)) => number.as_i64(),
        Some(Value::String(text))
            if !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()) =>
        {
            text.parse::<i64>().ok()
        }
        _ => None,
    };
    match operator.and_then(|id| i32::try_from(id).ok()) {
        Some(id) if id >= 1 => Ok(Caller::Operator(id)),
        _ => Err(Refused("missing or invalid operator claim")),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

#[derive(Debug, thiserror::Error)]
pub enum MintError {
    #[error("JWT_SECRET is not set: `plans-api token` signs with it")]
    NoSecret,
    #[error("an operator token needs --operator N (N >= 1)")]
    NoOperator,
    #[error("could not sign the token: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

/// An HS256 token signed with `settings.secret`, for `role` (and `operator`), valid for `ttl`;
/// with `iss` and `aud` when the settings name them.
pub fn mint_hs256(
    settings: &JwtSettings,
    role: Role,
    operator: Option<i32>,
    ttl: Duration,
) -> Result<String, MintError> {
    let secret = settings.secret.as_deref().ok_or(MintError::NoSecret)?;
    let now = unix_now();
    let mut claims = Map::new();
    claims.insert("iat".into(), now.into());
    claims.insert("exp".into(), (now + ttl.as_secs()).into());
    claims.insert(settings.role_claim.clone(), role.as_str().into());
    match (role, operator) {
        (_, Some(id)) if id >= 1 => {
            claims.insert(settings.operator_claim.clone(), id.into());
            claims.insert("sub".into(), format!("operator:{id}").into());
        }
        (Role::Operator, _) => return Err(MintError::NoOperator),
        (Role::Admin, _) => {
            claims.insert("sub".into(), "admin".into());
        }
    }
    if let Some(issuer) = &settings.issuer {
        claims.insert("iss".into(), issuer.clone().into());
    }
    if let Some(audience) = &settings.audience {
        claims.insert("aud".into(), audience.clone().into());
    }
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret)?,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> JwtSettings {
        JwtSettings {
            secret: Some(b"0123456789abcdef0123456789abcdef".to_vec()),
            jwks_url: None,
            jwks_file: None,
            issuer: Some("https://issuer.example".into()),
            audience: Some("plans-api".into()),
            operator_claim: "operator_id".into(),
            role_claim: "role".into(),
        }
    }

    #[tokio::test]
    async fn minted_tokens_verify() {
        let settings = settings();
        let verifier = JwtVerifier::new(settings.clone(), None);
        let token =
            mint_hs256(&settings, Role::Operator, Some(7), Duration::from_secs(60)).unwrap();
        let verified = verifier.verify(&token).await.unwrap();
        assert_eq!(verified.caller, Caller::Operator(7));
        assert!(verified.valid_for > Duration::from_secs(60));
        let admin = mint_hs256(&settings, Role::Admin, None, Duration::from_secs(60)).unwrap();
        assert_eq!(verifier.verify(&admin).await.unwrap().caller, Caller::Admin);
        assert!(matches!(
            mint_hs256(&settings, Role::Operator, None, Duration::from_secs(60)),
            Err(MintError::NoOperator)
        ));
    }

    #[test]
    fn operator_claims_are_positive_integers_or_strings_of_one() {
        let settings = settings();
        let caller = |claims: Value| caller_of(claims.as_object().unwrap(), &settings);
        assert_eq!(
            caller(serde_json::json!({"operator_id": 7})),
            Ok(Caller::Operator(7))
        );
        assert_eq!(
            caller(serde_json::json!({"operator_id": "7"})),
            Ok(Caller::Operator(7))
        );
        assert_eq!(
            caller(serde_json::json!({"operator_id": 7, "role": "operator"})),
            Ok(Caller::Operator(7))
        );
        assert_eq!(
            caller(serde_json::json!({"role": "admin"})),
            Ok(Caller::Admin)
        );
        for bad in [
            serde_json::json!({}),
            serde_json::json!({"operator_id": 0}),
            serde_json::json!({"operator_id": -3}),
            serde_json::json!({"operator_id": 1.5}),
            serde_json::json!({"operator_id": "x"}),
            serde_json::json!({"operator_id": " 7"}),
            serde_json::json!({"operator_id": ""}),
            serde_json::json!({"operator_id": 4_294_967_296_i64}),
            serde_json::json!({"operator_id": [7]}),
            serde_json::json!({"operator_id": 7, "role": "root"}),
            serde_json::json!({"operator_id": 7, "role": 1}),
        ] {
            assert!(caller(bad.clone()).is_err(), "{bad} was accepted");
        }
    }
}
