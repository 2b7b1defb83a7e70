//! The one place errors become GraphQL errors with an `extensions.code`.
//!
//! Resolvers turn every failure into an [`ApiError`] and end with `.extend()` (via
//! [`IntoGraphql`]); async-graphql's own parse and validation errors get their code from the
//! [`ErrorCodes`] extension. Database details go to the log, never to the client.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextRequest,
    NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{
    Context, ErrorExtensions, Response, ServerError, ServerResult, ValidationResult, Variables,
};
use tracing::error;

use crate::plans::{InvalidInput, PlanError, PlanService};

/// Values of `extensions.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BadUserInput,
    Unauthenticated,
    Forbidden,
    InternalServerError,
    GraphqlParseFailed,
    GraphqlValidationFailed,
    BadRequest,
    RateLimited,
    SubscriptionLimit,
    /// A document with several operations and no `operationName` to choose one.
    OperationNameRequired,
    /// An APQ hash (or `documentId`) the server does not know.
    PersistedQueryNotFound,
    /// `TRUSTED_DOCUMENTS=require` and a document outside the manifest.
    PersistedQueryNotInList,
}

impl ErrorCode {
    /// Every code, in declaration order (a metric label set is resolved from it once).
    pub const ALL: [Self; 12] = [
        Self::BadUserInput,
        Self::Unauthenticated,
        Self::Forbidden,
        Self::InternalServerError,
        Self::GraphqlParseFailed,
        Self::GraphqlValidationFailed,
        Self::BadRequest,
        Self::RateLimited,
        Self::SubscriptionLimit,
        Self::OperationNameRequired,
        Self::PersistedQueryNotFound,
        Self::PersistedQueryNotInList,
    ];

    /// The position of `self` in [`Self::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// The code whose [`Self::as_str`] is `code`.
    pub(crate) fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|known| known.as_str() == code)
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::InternalServerError => "INTERNAL_SERVER_ERROR",
            Self::GraphqlParseFailed => "GRAPHQL_PARSE_FAILED",
            Self::GraphqlValidationFailed => "GRAPHQL_VALIDATION_FAILED",
            Self::BadRequest => "BAD_REQUEST",
            Self::RateLimited => "RATE_LIMITED",
            Self::SubscriptionLimit => "SUBSCRIPTION_LIMIT",
            Self::OperationNameRequired => "OPERATION_NAME_REQUIRED",
            Self::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
            Self::PersistedQueryNotInList => "PERSISTED_QUERY_NOT_IN_LIST",
        }
    }
}

/// A failure as the client may see it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid {}: {}", .0.field, .0.message)]
    BadUserInput(InvalidInput),
    #[error(
        "this operation requires a credential: the header `Authorization: Bearer <token>` with the ADMIN_TOKEN or a JWT"
    )]
    Unauthenticated,
    /// A credential was sent and is not valid (how, the client is not told).
    #[error("the credential is not valid (malformed, expired, or not signed by a trusted key)")]
    InvalidCredential,
    /// The credential that admitted a live subscription expired, or its key left the JWKS.
    #[error(
        "the credential of this subscription is no longer valid; subscribe again with a fresh one"
    )]
    CredentialLapsed,
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("internal server error; the server log has details")]
    Internal,
    #[error("too many live subscriptions: this server takes at most {max}")]
    SubscriptionLimit { max: usize },
    #[error("too many live subscriptions on this connection: at most {max}")]
    ConnectionSubscriptionLimit { max: usize },
    #[error("the server is shutting down")]
    ShuttingDown,
}

impl ApiError {
    pub(crate) fn code(&self) -> ErrorCode {
        match self {
            Self::BadUserInput(_) => ErrorCode::BadUserInput,
            Self::Unauthenticated | Self::InvalidCredential | Self::CredentialLapsed => {
                ErrorCode::Unauthenticated
            }
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::Internal | Self::ShuttingDown => ErrorCode::InternalServerError,
            Self::SubscriptionLimit { .. } | Self::ConnectionSubscriptionLimit { .. } => {
                ErrorCode::SubscriptionLimit
            }
        }
    }
}

impl From<InvalidInput> for ApiError {
    fn from(err: InvalidInput) -> Self {
        Self::BadUserInput(err)
    }
}

impl From<PlanError> for ApiError {
    fn from(err: PlanError) -> Self {
        match err {
            PlanError::InvalidInput(invalid) => Self::BadUserInput(invalid),
            PlanError::Forbidden(why) => Self::Forbidden(why),
            PlanError::Database(source) => {
                error!(error = %source, "database operation failed");
                Self::Internal
            }
            PlanError::SubscriptionLimit { max } => Self::SubscriptionLimit { max },
            PlanError::ShuttingDown => Self::ShuttingDown,
        }
    }
}

impl ErrorExtensions for ApiError {
    fn extend(&self) -> async_graphql::Error {
        async_graphql::Error::new(self.to_string()).extend_with(|_, extensions| {
            extensions.set("code", self.code().as_str());
            if let Self::BadUserInput(invalid) = self {
                extensions.set("field", invalid.field);
            }
        })
    }
}

/// `result.into_graphql()?`: the explicit conversion resolvers use. (async-graphql's blanket
/// `From<impl Display>` would compile too, and silently drop the code.)
pub(super) trait IntoGraphql<T> {
    fn into_graphql(self) -> async_graphql::Result<T>;
}

impl<T, E> IntoGraphql<T> for Result<T, E>
where
    ApiError: From<E>,
{
    fn into_graphql(self) -> async_graphql::Result<T> {
        self.map_err(|err| ApiError::from(err).extend())
    }
}

pub(super) fn plan_service<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a PlanService> {
    ctx.data::<Arc<PlanService>>()
        .map(Arc::as_ref)
        .map_err(|_| {
            error!("schema built without a PlanService");
            ApiError::Internal.extend()
        })
}

/// A request refused before GraphQL ran (not JSON, wrong method or media type, no query, ...):
/// a response with one `BAD_REQUEST` error and no data.
pub(crate) fn bad_request(message: impl Into<String>) -> Response {
    Response::from_errors(vec![with_code(
        ServerError::new(message, None),
        ErrorCode::BadRequest,
    )])
}

/// A request refused by the rate limit before anything ran: one `RATE_LIMITED` error, no data.
pub(crate) fn rate_limited(retry_after_seconds: u64) -> Response {
    Response::from_errors(vec![with_code(
        ServerError::new(
            format!("rate limit exceeded; retry in {retry_after_seconds} s"),
            None,
        ),
        ErrorCode::RateLimited,
    )])
}

/// A request refused before GraphQL ran because of its credential: `invalid` when one was sent
/// and is not valid, else none was sent and this server wants one (`READ_ACCESS=authenticated`).
/// `"data": null` and one `UNAUTHENTICATED` error, as a resolver refusing it would answer.
pub(crate) fn unauthenticated(invalid: bool) -> Response {
    let error = if invalid {
        ApiError::InvalidCredential
    } else {
        ApiError::Unauthenticated
    };
    Response::from_errors(vec![with_code(
        ServerError::new(error.to_string(), None),
        error.code(),
    )])
}

/// The last result of a live subscription whose credential stopped holding: one
/// `UNAUTHENTICATED` error, no data.
pub(crate) fn credential_lapsed() -> Response {
    let error = ApiError::CredentialLapsed;
    Response::from_errors(vec![with_code(
        ServerError::new(error.to_string(), None),
        error.code(),
    )])
}

/// A request refused before GraphQL ran, with a code other than `BAD_REQUEST`: an APQ hash the
/// server does not know (message `PersistedQueryNotFound`, which Apollo's and urql's persisted
/// links look for), a document outside the trusted manifest. A request error: no data.
pub(crate) fn request_error(code: ErrorCode, message: impl Into<String>) -> Response {
    Response::from_errors(vec![with_code(ServerError::new(message, None), code)])
}

/// Whether the request failed before execution began (GraphQL's "request error": the response
/// has no `data`). [`ErrorCodes`] gives these codes only before execution (parse, validation,
/// operation selection); an error raised while executing always carries another code.
pub(crate) fn is_request_error(response: &Response) -> bool {
    const BEFORE_EXECUTION: [ErrorCode; 7] = [
        ErrorCode::GraphqlParseFailed,
        ErrorCode::GraphqlValidationFailed,
        ErrorCode::BadRequest,
        ErrorCode::OperationNameRequired,
        ErrorCode::PersistedQueryNotFound,
        ErrorCode::PersistedQueryNotInList,
        ErrorCode::RateLimited,
    ];
    !response.errors.is_empty()
        && response.data == async_graphql::Value::Null
        && response.errors.iter().all(|error| {
            let code = error
                .extensions
                .as_ref()
                .and_then(|extensions| extensions.get("code"));
            BEFORE_EXECUTION
                .iter()
                .any(|expected| code == Some(&async_graphql::Value::from(expected.as_str())))
        })
}

/// `error` with `extensions.code` set to `code`, unless it has a code already.
pub(super) fn with_code(mut error: ServerError, code: ErrorCode) -> ServerError {
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if extensions.get("code").is_none() {
        extensions.set("code", code.as_str());
    }
    error
}

/// async-graphql's message for a document with several operations and no `operationName`
/// (pinned by a test below: a new wording would fall back to `BAD_REQUEST`, and fail it).
const OPERATION_NAME_REQUIRED: &str = "Operation name required in request.";

/// Gives async-graphql's own errors a code: parse errors, validation errors (including depth and
/// complexity limits), and argument coercion during execution.
pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodes)
    }
}

#[async_trait::async_trait]
impl Extension for ErrorCodes {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        // Anything left without a code was refused before parsing or while selecting the
        // operation: a malformed request, unless it is the one refusal with a code of its own.
        response.errors = std::mem::take(&mut response.errors)
            .into_iter()
            .map(|error| {
                let code = if error.message == OPERATION_NAME_REQUIRED {
                    ErrorCode::OperationNameRequired
                } else {
                    ErrorCode::BadRequest
                };
                with_code(error, code)
            })
            .collect();
        response
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables)
            .await
            .map_err(|error| with_code(error, ErrorCode::GraphqlParseFailed))
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|error| with_code(error, ErrorCode::GraphqlValidationFailed))
                .collect()
        })
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        response.errors = std::mem::take(&mut response.errors)
            .into_iter()
            .map(code_execution_error)
            .collect();
        response
    }
}

/// Messages async-graphql gives an argument value it refuses while executing (its
/// `InputValueError`): they describe the client's own input and nothing else.
const INPUT_VALUE_ERRORS: [&str; 2] = ["Failed to parse \"", "Expected input type \""];

/// Our resolvers always set a code. An execution error without one is either async-graphql
/// refusing an argument value (the client's input: `BAD_USER_INPUT`) or a bug, such as a stray
/// `?` on some library's error: that one is logged and answered `INTERNAL_SERVER_ERROR` with a
/// fixed message, so no internal text reaches the client and the client is not blamed.
fn code_execution_error(error: ServerError) -> ServerError {
    let has_code = error
        .extensions
        .as_ref()
        .is_some_and(|extensions| extensions.get("code").is_some());
    if has_code {
        return error;
    }
    if INPUT_VALUE_ERRORS
        .iter()
        .any(|prefix| error.message.starts_with(prefix))
    {
        return with_code(error, ErrorCode::BadUserInput);
    }
    error!(error = %error.message, path = ?error.path, "an execution error had no code");
    let mut internal = ServerError::new(ApiError::Internal.to_string(), None);
    internal.locations = error.locations;
    internal.path = error.path;
    with_code(internal, ErrorCode::InternalServerError)
}

#[cfg(test)]
mod tests;
