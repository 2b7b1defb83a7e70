//! Tests of the one error mapping: every error gets a code, and no message leaks internals.

use super::*;

fn code(error: &ServerError) -> Option<&async_graphql::Value> {
    error.extensions.as_ref().and_then(|ext| ext.get("code"))
}

#[tokio::test]
async fn several_operations_without_a_name_get_their_own_code() {
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};
    struct Query;
    #[Object]
    impl Query {
        async fn one(&self) -> i32 {
            1
        }
    }
    let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
        .extension(ErrorCodes)
        .finish();
    let response = schema.execute("query A { one } query B { one }").await;
    assert_eq!(response.errors.len(), 1, "{:?}", response.errors);
    assert_eq!(
        code(&response.errors[0]),
        Some(&async_graphql::Value::from("OPERATION_NAME_REQUIRED"))
    );
    assert!(is_request_error(&response));
    let named = schema
        .execute(async_graphql::Request::new("query A { one } query B { one }").operation_name("B"))
        .await;
    assert!(named.errors.is_empty(), "{:?}", named.errors);
}

#[test]
fn a_code_less_execution_error_is_internal_and_says_nothing() {
    let stray = ServerError::new(
        "error returned from database: relation \"plans\" does not exist (db.internal:5432)",
        None,
    );
    let coded = code_execution_error(stray);
    assert_eq!(
        code(&coded),
        Some(&async_graphql::Value::from("INTERNAL_SERVER_ERROR"))
    );
    assert_eq!(coded.message, ApiError::Internal.to_string());
}

#[test]
fn refused_argument_values_are_the_clients_and_coded_errors_stay() {
    let refused = code_execution_error(ServerError::new(
        "Failed to parse \"Int\": Only integers from -2147483648 to 2147483647 are accepted.",
        None,
    ));
    assert_eq!(
        code(&refused),
        Some(&async_graphql::Value::from("BAD_USER_INPUT"))
    );
    assert!(refused.message.starts_with("Failed to parse"));

    let coded = with_code(
        ServerError::new("no token", None),
        ErrorCode::Unauthenticated,
    );
    let kept = code_execution_error(coded.clone());
    assert_eq!(kept.message, coded.message);
    assert_eq!(code(&kept), code(&coded));
}

#[test]
fn every_code_is_listed_once_at_its_index_and_parses_back() {
    for (index, code) in ErrorCode::ALL.into_iter().enumerate() {
        assert_eq!(code.index(), index, "{code:?}");
        assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
    }
    assert_eq!(ErrorCode::parse("NOT_A_CODE"), None);
}
