//! GraphQL over HTTP by the specification: GET queries, 405 for GET mutations, media types and
//! status codes by the Accept header, and coded errors for requests that are not GraphQL.

use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::http::{
    GRAPHQL_RESPONSE_JSON, PLANS, content_type, get, get_path, header, json_of, post, post_body,
};
use crate::helpers::{Backend, TOKEN, error_code, spawn_app};

backend_tests!(
    get_runs_queries_and_refuses_mutations,
    media_types_and_status_codes_follow_the_accept_header,
    requests_that_are_not_graphql_get_coded_errors,
);

async fn get_runs_queries_and_refuses_mutations(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.create_ok(1, "HOTSPOT", "1 Hour").await;
    app.create_ok(2, "PPPOE", "Monthly").await;

    // The same answer as POST, with variables and an operation name.
    let response = get(&app, PLANS, None, None, &[]).await;
    assert_eq!(response.status(), 200);
    assert!(content_type(&response).starts_with("application/json"));
    let body = json_of(response).await;
    assert_eq!(body, app.graphql(PLANS, json!({})).await);
    assert_eq!(body["data"]["plans"].as_array().unwrap().len(), 2);

    let by_user = "query ByUser($u: Int) { plans(userId: $u) { id } }";
    let response = get(&app, by_user, Some(json!({ "u": 1 })), Some("ByUser"), &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        json_of(response).await,
        json!({ "data": { "plans": [{ "id": id }] } })
    );

    // A mutation by GET: 405, `Allow: POST`, a coded error, and nothing done (with the token, too).
    let delete = format!("mutation {{ deletePlan(id: \"{id}\") }}");
    let bearer = format!("Bearer {TOKEN}");
    for accept in ["application/json", GRAPHQL_RESPONSE_JSON] {
        let response = get(
            &app,
            &delete,
            None,
            None,
            &[("accept", accept), ("authorization", &bearer)],
        )
        .await;
        assert_eq!(response.status(), 405, "Accept: {accept}");
        assert_eq!(header(&response, "allow"), Some("POST"));
        assert_eq!(header(&response, "cache-control"), Some("no-store"));
        let body = json_of(response).await;
        assert_eq!(error_code(&body), "BAD_REQUEST");
        assert!(body.get("data").is_none(), "{body}");
    }
    // The operation that would run decides, not the first one in the document.
    let both =
        format!("query Plans {{ plans {{ id }} }} mutation Delete {{ deletePlan(id: \"{id}\") }}");
    let response = get(
        &app,
        &both,
        None,
        Some("Delete"),
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(response.status(), 405);
    let response = get(&app, &both, None, Some("Plans"), &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        app.plan_ids(Some(1), None).await,
        vec![id.clone()],
        "a GET deleted"
    );

    // Bad GET parameters.
    let response = get(&app, PLANS, Some(json!([1])), None, &[]).await;
    assert_eq!(response.status(), 400);
    assert_eq!(error_code(&json_of(response).await), "BAD_REQUEST");
    let response = get_path(
        &app,
        "/graphql?variables=%7B%7D",
        &[("accept", "application/json")],
    )
    .await;
    assert_eq!(response.status(), 400, "no query");
    assert_eq!(error_code(&json_of(response).await), "BAD_REQUEST");
    // A JSON client that sends no query gets an error, not the HTML page.
    let response = get_path(&app, "/graphql", &[("accept", GRAPHQL_RESPONSE_JSON)]).await;
    assert_eq!(response.status(), 400);
    assert!(content_type(&response).starts_with(GRAPHQL_RESPONSE_JSON));
}

async fn media_types_and_status_codes_follow_the_accept_header(backend: Backend) {
    let app = spawn_app(backend).await;
    let parse_error = json!({ "query": "{ plans { id " });
    let validation_error = json!({ "query": "{ plans { price } }" });
    let unauthenticated = json!({ "query": "mutation { deletePlan(id: \"1\") }" });
    let accept_new = [("accept", GRAPHQL_RESPONSE_JSON)];

    // application/graphql-response+json: request errors are 400 without data; success is 200.
    let response = post(&app, json!({ "query": PLANS }), &accept_new).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        content_type(&response),
        "application/graphql-response+json; charset=utf-8"
    );
    assert_eq!(json_of(response).await, json!({ "data": { "plans": [] } }));
    for (body, code) in [
        (&parse_error, "GRAPHQL_PARSE_FAILED"),
        (&validation_error, "GRAPHQL_VALIDATION_FAILED"),
    ] {
        let response = post(&app, body.clone(), &accept_new).await;
        assert_eq!(response.status(), 400, "{body}");
        assert!(content_type(&response).starts_with(GRAPHQL_RESPONSE_JSON));
        let body = json_of(response).await;
        assert_eq!(error_code(&body), code);
        assert!(
            body.get("data").is_none(),
            "a request error has no data: {body}"
        );
    }
    // An operation that ran and failed is a 200 with `"data": null`.
    let response = post(&app, unauthenticated.clone(), &accept_new).await;
    assert_eq!(response.status(), 200);
    let body = json_of(response).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    assert!(body.get("data").is_some_and(Value::is_null), "{body}");
    // Several operations and no operationName: a request error too.
    let two = json!({ "query": "query A { plans { id } } query B { plans { id } }" });
    let response = post(&app, two, &accept_new).await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        error_code(&json_of(response).await),
        "OPERATION_NAME_REQUIRED"
    );

    // application/json (also no Accept, and */*): 200 for every well-formed request.
    for accept in [Some("application/json"), None, Some("*/*")] {
        let headers: Vec<(&str, &str)> = accept.map(|a| ("accept", a)).into_iter().collect();
        for body in [&parse_error, &validation_error, &unauthenticated] {
            let response = post(&app, body.clone(), &headers).await;
            assert_eq!(response.status(), 200, "Accept {accept:?}: {body}");
            assert_eq!(content_type(&response), "application/json; charset=utf-8");
            assert!(json_of(response).await["errors"][0]["extensions"]["code"].is_string());
        }
    }
    // The client's preference decides between the two.
    let response = post(
        &app,
        json!({ "query": PLANS }),
        &[(
            "accept",
            "application/graphql-response+json;q=0.5, application/json",
        )],
    )
    .await;
    assert!(content_type(&response).starts_with("application/json"));
    let response = get(&app, PLANS, None, None, &accept_new).await;
    assert!(content_type(&response).starts_with(GRAPHQL_RESPONSE_JSON));

    // Neither acceptable: 406, still a coded GraphQL error.
    let response = post(&app, json!({ "query": PLANS }), &[("accept", "text/plain")]).await;
    assert_eq!(response.status(), 406);
    assert_eq!(error_code(&json_of(response).await), "BAD_REQUEST");
    let response = get(&app, PLANS, None, None, &[("accept", "application/xml")]).await;
    assert_eq!(response.status(), 406);

    // Unchanged for clients that send no Accept header (as before).
    let (status, body) = app.post_graphql_as(None, "{ plans { id ", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(error_code(&body), "GRAPHQL_PARSE_FAILED");
}

async fn requests_that_are_not_graphql_get_coded_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    let query = br#"{"query":"{ plans { id } }"}"#.to_vec();
    let cases: Vec<(Option<&'static str>, Vec<u8>, u16)> = vec![
        // Not JSON, not a GraphQL request, or the wrong shape of one: 400 (either media type).
        (Some("application/json"), b"{not json".to_vec(), 400),
        (Some("application/json"), Vec::new(), 400),
        (Some("application/json"), br#"{"qeury":"{ plans { id } }"}"#.to_vec(), 400),
        (Some("application/json"), br#"{"query":1}"#.to_vec(), 400),
        (Some("application/json"), br#"["{ plans { id } }"]"#.to_vec(), 400),
        (
            Some("application/json"),
            br#"{"query":"{ plans { id } }","variables":"{}"}"#.to_vec(),
            400,
        ),
        (
            Some("application/json"),
            br#"{"query":"{ plans { id } }","operationName":7}"#.to_vec(),
            400,
        ),
        (
            Some("application/json"),
            br#"{"query":"{ plans { id } }","extensions":[]}"#.to_vec(),
            400,
        ),
        // Not JSON at all by its Content-Type, or not UTF-8: 415.
        (None, query.clone(), 415),
        (Some("text/plain"), query.clone(), 415),
        (Some("application/graphql"), b"{ plans { id } }".to_vec(), 415),
        (Some("application/x-www-form-urlencoded"), query.clone(), 415),
        (Some("application/json; charset=utf-16"), query.clone(), 415),
        // Too large: 413.
        (
            Some("application/json"),
            format!(r#"{{"query":"{{ plans {{ id }} }}","x":"{}"}}"#, "a".repeat(70_000))
                .into_bytes(),
            413,
        ),
        // Fine, with null optional parameters and a UTF-8 charset.
        (
            Some("application/json; charset=UTF-8"),
            br#"{"query":"{ plans { id } }","variables":null,"operationName":null,"extensions":null}"#
                .to_vec(),
            200,
        ),
    ];
    for (content_type, body, status) in cases {
        let shown = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
        let response = post_body(
            &app,
            content_type,
            body,
            &[("accept", GRAPHQL_RESPONSE_JSON)],
        )
        .await;
        assert_eq!(response.status(), status, "{content_type:?} {shown}");
        if status != 200 {
            assert_eq!(header(&response, "cache-control"), Some("no-store"));
            let body = json_of(response).await;
            assert_eq!(error_code(&body), "BAD_REQUEST", "{shown}: {body}");
            assert!(body.get("data").is_none());
        }
    }
    // Other methods: 405 with the allowed ones.
    for method in [Method::PUT, Method::DELETE, Method::PATCH] {
        let response = app
            .client
            .request(method.clone(), app.url("/graphql"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method}");
        assert_eq!(header(&response, "allow"), Some("GET, POST"));
        assert_eq!(error_code(&json_of(response).await), "BAD_REQUEST");
    }
    assert_eq!(app.get_status("/health/ready").await, 200);
}
