//! Who may write and read: the admin token, operators' JWTs (a shared secret or a JWKS) and the read access.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// Every default of this group, written once: the flags and [`AuthConfig::default`] both read them.
pub mod defaults {
    use super::*;

    pub const JWT_OPERATOR_CLAIM: &str = "operator_id";
    pub const JWT_ROLE_CLAIM: &str = "role";
    pub const READ_ACCESS: ReadAccess = ReadAccess::Public;
    /// Shortest `JWT_SECRET`, in bytes (HS256 wants a key as long as its hash).
    pub const JWT_SECRET_MIN_BYTES: usize = 32;
}

/// Authentication.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Authentication")]
pub struct AuthConfig {
    /// Bearer token that mutations require. When unset, a random one is made at start and logged
    /// once.
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true, value_parser = parse_token)]
    pub admin_token: Option<String>,

    /// HS256 key for operators' JWTs: the raw bytes of the variable, at least 32. Tokens signed
    /// with it are accepted; `plans-api token` signs with it.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true, value_parser = parse_jwt_secret)]
    pub jwt_secret: Option<String>,

    /// URL of a JWKS (RS256 and ES256 keys with `kid`), fetched at start over HTTPS, read again
    /// when a token names an unknown `kid` (at most once per 30 s).
    #[arg(long, env = "JWT_JWKS_URL", value_parser = parse_jwks_url)]
    pub jwt_jwks_url: Option<String>,

    /// A JWKS document in a file (read at start, and again like JWT_JWKS_URL).
    #[arg(long, env = "JWT_JWKS_FILE")]
    pub jwt_jwks_file: Option<PathBuf>,

    /// When set, a JWT's `iss` must equal it (and a JWT without `iss` is refused).
    #[arg(long, env = "JWT_ISSUER", value_parser = parse_non_empty)]
    pub jwt_issuer: Option<String>,

    /// When set, a JWT's `aud` must be or contain it (and a JWT without `aud` is refused).
    #[arg(long, env = "JWT_AUDIENCE", value_parser = parse_non_empty)]
    pub jwt_audience: Option<String>,

    /// The JWT claim holding the operator id: an integer >= 1, or a string of one.
    #[arg(long, env = "JWT_OPERATOR_CLAIM", default_value = defaults::JWT_OPERATOR_CLAIM,
          value_parser = parse_non_empty)]
    pub jwt_operator_claim: String,

    /// The JWT claim holding the role: `admin` or `operator` (absent means operator).
    #[arg(long, env = "JWT_ROLE_CLAIM", default_value = defaults::JWT_ROLE_CLAIM,
          value_parser = parse_non_empty)]
    pub jwt_role_claim: String,

    /// `public`: reads need no credential (captive portals); `authenticated`: every read needs a
    /// valid one (any role).
    #[arg(long, env = "READ_ACCESS", value_enum, default_value_t = defaults::READ_ACCESS)]
    pub read_access: ReadAccess,
}

impl Default for AuthConfig {
    fn default() -> Self {
        use defaults::*;
        Self {
            admin_token: None,
            jwt_secret: None,
            jwt_jwks_url: None,
            jwt_jwks_file: None,
            jwt_issuer: None,
            jwt_audience: None,
            jwt_operator_claim: JWT_OPERATOR_CLAIM.to_owned(),
            jwt_role_claim: JWT_ROLE_CLAIM.to_owned(),
            read_access: READ_ACCESS,
        }
    }
}

/// Who may read (`READ_ACCESS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReadAccess {
    /// Reads need no credential (captive portals list plans without signing in).
    Public,
    /// Every read needs a valid credential (any role).
    Authenticated,
}

/// The raw bytes of the variable, as they are: nothing trimmed.
fn parse_jwt_secret(raw: &str) -> Result<String, String> {
    if raw.len() < defaults::JWT_SECRET_MIN_BYTES {
        return Err(format!(
            "must be at least {} bytes, got {}",
            defaults::JWT_SECRET_MIN_BYTES,
            raw.len()
        ));
    }
    Ok(raw.to_owned())
}

fn parse_jwks_url(raw: &str) -> Result<String, String> {
    let url = raw.trim();
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(format!("{raw:?} is not an http(s) URL"));
    }
    Ok(url.to_owned())
}

fn parse_non_empty(raw: &str) -> Result<String, String> {
    if raw.trim().is_empty() {
        return Err("must not be empty (unset it instead)".to_owned());
    }
    Ok(raw.to_owned())
}

fn parse_token(raw: &str) -> Result<String, String> {
    let token = raw.trim();
    if token.is_empty() {
        return Err("must not be empty (unset it to get a random token)".to_owned());
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain whitespace or control characters".to_owned());
    }
    Ok(token.to_owned())
}
