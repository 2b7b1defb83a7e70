//! Operators sign in with their own JWTs: who may do what (the contract's "Operators sign in"),
//! and every credential that must be refused. HS256 here; RS256/ES256 from a JWKS, rotation, and
//! the algorithm-confusion attack in `jwks.rs`.

use jsonwebtoken::Algorithm;
use plans_api::config::ReadAccess;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::http::{get, json_of};
use crate::helpers::tokens::{
    self, AUDIENCE, ISSUER, JWT_SECRET, admin_claims, hs256, hs256_with, now, operator_claims,
    operator_token, unsigned,
};
use crate::helpers::{
    AppOptions, Backend, TOKEN, TestApp, assert_no_errors, error_code, spawn_app_with,
};

backend_tests!(
    both: an_operator_creates_only_for_itself,
        an_operator_changes_only_its_own_plans,
        bad_credentials_are_refused_everywhere,
        authenticated_reads_need_a_valid_credential_also_from_the_response_cache;
    sqlite_only: the_time_claims_have_30_seconds_of_leeway,
        claim_names_are_configurable,
        the_token_command_signs_tokens_the_server_accepts,
);

pub const CREATE: &str = "mutation($input: CreatePlanInput!) { createPlan(input: $input) { id userId name priceCents } }";
pub const UPDATE: &str = "mutation($id: ID!, $input: UpdatePlanInput!) { updatePlan(id: $id, input: $input) { id userId name priceCents } }";
pub const DELETE: &str = "mutation($id: ID!) { deletePlan(id: $id) }";

/// The server with `JWT_SECRET`, `JWT_ISSUER` and `JWT_AUDIENCE` set.
pub async fn spawn_with_jwt(backend: Backend, read_access: ReadAccess) -> TestApp {
    spawn_app_with(
        backend,
        AppOptions {
            configure: Some(Box::new(move |config| {
                config.auth.jwt_secret = Some(JWT_SECRET.to_owned());
                config.auth.jwt_issuer = Some(ISSUER.to_owned());
                config.auth.jwt_audience = Some(AUDIENCE.to_owned());
                config.auth.read_access = read_access;
            })),
            ..AppOptions::default()
        },
    )
    .await
}

pub fn input(user_id: Option<i32>, name: &str) -> Value {
    let mut input = json!({
        "name": name,
        "connectionType": "HOTSPOT",
        "priceCents": 100,
        "durationMinutes": 60,
    });
    if let Some(user_id) = user_id {
        input["userId"] = user_id.into();
    }
    input
}

pub async fn create_as(app: &TestApp, token: &str, user_id: Option<i32>, name: &str) -> Value {
    app.post_graphql_as(
        Some(token),
        CREATE,
        json!({ "input": input(user_id, name) }),
    )
    .await
    .1
}

/// The whole table, as the admin lists it: (id, userId, name, priceCents) in id order.
async fn everything(app: &TestApp) -> Value {
    let body = app
        .graphql("{ plans { id userId name priceCents } }", json!({}))
        .await;
    assert_no_errors(&body);
    body["data"]["plans"].clone()
}

async fn an_operator_creates_only_for_itself(backend: Backend) {
    let app = spawn_with_jwt(backend, ReadAccess::Public).await;
    let seven = operator_token(7);

    // userId left out: its own.
    let body = create_as(&app, &seven, None, "mine").await;
    assert_no_errors(&body);
    assert_eq!(body["data"]["createPlan"]["userId"], 7);
    // Its own id, given; `aud` may be a list that contains the audience.
    let mut claims = operator_claims(7);
    claims["aud"] = json!(["another-api", AUDIENCE]);
    let body = create_as(&app, &hs256(&claims), Some(7), "mine too").await;
    assert_no_errors(&body);
    assert_eq!(body["data"]["createPlan"]["userId"], 7);

    // Another operator's id: FORBIDDEN, nothing written.
    let before = everything(&app).await;
    let body = create_as(&app, &seven, Some(8), "theirs").await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    assert!(body["data"].is_null());
    // An invalid input is refused as such, whoever it is for.
    let body = create_as(&app, &seven, Some(0), "invalid").await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(everything(&app).await, before);

    // The admin (token or JWT) must say whose plan it is.
    let admin_jwt = hs256(&admin_claims());
    for admin in [TOKEN, admin_jwt.as_str()] {
        let body = create_as(&app, admin, None, "whose?").await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "input.userId");
        let body = create_as(&app, admin, Some(8), "for eight").await;
        assert_no_errors(&body);
        assert_eq!(body["data"]["createPlan"]["userId"], 8);
    }
    // Without a credential: UNAUTHENTICATED, as before.
    let (_, body) = app
        .post_graphql_as(None, CREATE, json!({ "input": input(Some(7), "anon") }))
        .await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    let plans = everything(&app).await;
    let owners: Vec<i64> = plans
        .as_array()
        .unwrap()
        .iter()
        .map(|plan| plan["userId"].as_i64().unwrap())
        .collect();
    assert_eq!(owners, [7, 7, 8, 8]);
}

async fn an_operator_changes_only_its_own_plans(backend: Backend) {
    let app = spawn_with_jwt(backend, ReadAccess::Public).await;
    let (seven, eight) = (operator_token(7), operator_token(8));
    let mine = app.create_ok(7, "HOTSPOT", "seven's").await;
    let theirs = app.create_ok(8, "HOTSPOT", "eight's").await;
    let before = everything(&app).await;

    // Another operator's plan: as if it did not exist, and nothing changes.
    let (_, body) = app
        .post_graphql_as(
            Some(&seven),
            UPDATE,
            json!({ "id": theirs, "input": { "name": "hijacked" } }),
        )
        .await;
    assert_no_errors(&body);
    assert!(body["data"]["updatePlan"].is_null(), "{body}");
    let (_, unknown) = app
        .post_graphql_as(
            Some(&seven),
            UPDATE,
            json!({ "id": "999999", "input": { "name": "hijacked" } }),
        )
        .await;
    assert_eq!(body, unknown, "another's plan answers as an unknown id");
    let (_, body) = app
        .post_graphql_as(Some(&seven), DELETE, json!({ "id": theirs }))
        .await;
    assert_eq!(body, json!({ "data": { "deletePlan": false } }));
    // Taking another's plan for itself is no better.
    let (_, body) = app
        .post_graphql_as(
            Some(&seven),
            UPDATE,
            json!({ "id": theirs, "input": { "userId": 7 } }),
        )
        .await;
    assert!(body["data"]["updatePlan"].is_null(), "{body}");
    assert_eq!(everything(&app).await, before);

    // Moving its own plan to another operator: FORBIDDEN (and so for any id: the answer depends
    // on the input alone, so it tells nothing about other operators' plans).
    for id in [&mine, &theirs] {
        let (_, body) = app
            .post_graphql_as(
                Some(&seven),
                UPDATE,
                json!({ "id": id, "input": { "userId": 8, "name": "moved" } }),
            )
            .await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    }
    assert_eq!(everything(&app).await, before);

    // Its own plan: changed, read back at once (also "moving" it to itself).
    let (_, body) = app
        .post_graphql_as(
            Some(&seven),
            UPDATE,
            json!({ "id": mine, "input": { "userId": 7, "priceCents": 999 } }),
        )
        .await;
    assert_no_errors(&body);
    assert_eq!(body["data"]["updatePlan"]["priceCents"], 999);
    assert_eq!(app.plan_ids(Some(7), None).await, vec![mine.clone()]);

    // Only the admin moves a plan.
    let body = app
        .graphql(UPDATE, json!({ "id": mine, "input": { "userId": 8 } }))
        .await;
    assert_no_errors(&body);
    assert_eq!(
        app.plan_ids(Some(8), None).await,
        vec![mine.clone(), theirs.clone()]
    );
    // Now it is eight's: seven can no longer touch it, eight can.
    let (_, body) = app
        .post_graphql_as(Some(&seven), DELETE, json!({ "id": mine }))
        .await;
    assert_eq!(body["data"]["deletePlan"], false);
    let (_, body) = app
        .post_graphql_as(Some(&eight), DELETE, json!({ "id": mine }))
        .await;
    assert_eq!(body["data"]["deletePlan"], true);
    assert_eq!(app.plan_ids(None, None).await, vec![theirs]);
}

/// Tokens that must be refused (the second is what is wrong with it).
fn bad_tokens() -> Vec<(String, &'static str)> {
    let now = now();
    let with = |changes: Value| {
        let mut claims = operator_claims(7);
        for (name, value) in changes.as_object().unwrap() {
            if value.is_null() {
                claims.as_object_mut().unwrap().remove(name);
            } else {
                claims[name] = value.clone();
            }
        }
        claims
    };
    vec![
        ("not a jwt".to_owned(), "garbage"),
        (
            hs256(&with(json!({ "exp": now - 120 }))),
            "expired beyond the leeway",
        ),
        (hs256(&with(json!({ "exp": null }))), "no exp"),
        (
            hs256(&with(json!({ "nbf": now + 120 }))),
            "not valid yet (nbf)",
        ),
        (
            hs256(&with(json!({ "iat": now + 120 }))),
            "issued in the future",
        ),
        (
            hs256(&with(json!({ "iss": "https://evil.test" }))),
            "wrong issuer",
        ),
        (hs256(&with(json!({ "iss": null }))), "no issuer"),
        (
            hs256(&with(json!({ "aud": "someone-else" }))),
            "wrong audience",
        ),
        (hs256(&with(json!({ "aud": null }))), "no audience"),
        (
            hs256_with(b"another-secret-of-at-least-32-bytes!", &operator_claims(7)),
            "bad signature",
        ),
        (unsigned(&operator_claims(7)), "alg: none"),
        (
            tokens::signed(Algorithm::RS256, tokens::RSA_A, "a", &operator_claims(7)),
            "RS256 with no JWKS configured",
        ),
        (
            tokens::hs256_with_rsa_public_key("a", &operator_claims(7)),
            "HS256 signed with the RSA public key",
        ),
        (
            hs256(&with(json!({ "operator_id": null }))),
            "no operator claim",
        ),
        (
            hs256(&with(json!({ "operator_id": 0 }))),
            "operator claim 0",
        ),
        (
            hs256(&with(json!({ "operator_id": "seven" }))),
            "operator claim not a number",
        ),
        (
            hs256(&with(json!({ "operator_id": 1.5 }))),
            "operator claim not an integer",
        ),
        (hs256(&with(json!({ "role": "root" }))), "unknown role"),
        (
            format!("{TOKEN}x"),
            "the admin token with one more character",
        ),
    ]
}

async fn bad_credentials_are_refused_everywhere(backend: Backend) {
    let app = spawn_with_jwt(backend, ReadAccess::Public).await;
    let id = app.create_ok(7, "HOTSPOT", "kept").await;
    // Fill the response cache with an anonymous read: the hit path must still refuse.
    let list = "{ plans { id name } }";
    assert_no_errors(&app.query(list).await);
    assert_no_errors(&app.query(list).await);
    let before = everything(&app).await;

    let refusal = app
        .post_graphql_as(Some("not a jwt"), list, json!({}))
        .await
        .1;
    let message = refusal["errors"][0]["message"].clone();
    for (token, what) in bad_tokens() {
        let writes = [
            (CREATE, json!({ "input": input(None, "sneaky") })),
            (UPDATE, json!({ "id": id, "input": { "name": "sneaky" } })),
            (DELETE, json!({ "id": id })),
        ];
        for (query, variables) in writes {
            let (status, body) = app.post_graphql_as(Some(&token), query, variables).await;
            assert_eq!(status, 200);
            assert_eq!(error_code(&body), "UNAUTHENTICATED", "{what}: {body}");
        }
        // A read needs no credential, but a bad one is refused, not ignored: by POST (the
        // response cache has this body) and by GET.
        let (_, body) = app.post_graphql_as(Some(&token), list, json!({})).await;
        assert_eq!(error_code(&body), "UNAUTHENTICATED", "{what}: {body}");
        assert!(body["data"].is_null(), "{what}: {body}");
        // The same message whatever is wrong: nothing about keys, claims or algorithms.
        assert_eq!(body["errors"][0]["message"], message, "{what}");
        let bearer = format!("Bearer {token}");
        let response = get(&app, list, None, None, &[("authorization", &bearer)]).await;
        assert_eq!(
            response
                .headers()
                .get("cache-control")
                .and_then(|value| value.to_str().ok()),
            Some("no-store"),
            "{what}"
        );
        let body = json_of(response).await;
        assert_eq!(error_code(&body), "UNAUTHENTICATED", "{what}: {body}");
    }
    assert_eq!(everything(&app).await, before, "nothing was written");
    let text = message.as_str().unwrap().to_lowercase();
    for internal in [
        "kid",
        "signature",
        "iss",
        "aud",
        "nbf",
        "hs256",
        "rs256",
        "alg",
        "jwks",
        "claim",
        "secret",
    ] {
        assert!(!text.contains(internal), "{text:?} mentions {internal}");
    }
    // A valid operator token still reads.
    let (_, body) = app
        .post_graphql_as(Some(&operator_token(7)), list, json!({}))
        .await;
    assert_no_errors(&body);
}

async fn the_time_claims_have_30_seconds_of_leeway() {
    let app = spawn_with_jwt(Backend::Sqlite, ReadAccess::Public).await;
    let now = now();
    let with = |name: &str, value: i64| {
        let mut claims = operator_claims(7);
        claims[name] = value.into();
        hs256(&claims)
    };
    for token in [
        with("exp", now - 10),
        with("nbf", now + 10),
        with("iat", now + 10),
    ] {
        let body = create_as(&app, &token, None, "within the leeway").await;
        assert_no_errors(&body);
    }
    for token in [
        with("exp", now - 45),
        with("nbf", now + 45),
        with("iat", now + 45),
    ] {
        let body = create_as(&app, &token, None, "beyond the leeway").await;
        assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
    }
}

async fn claim_names_are_configurable() {
    let app = spawn_app_with(
        Backend::Sqlite,
        AppOptions {
            configure: Some(Box::new(|config| {
                config.auth.jwt_secret = Some(JWT_SECRET.to_owned());
                config.auth.jwt_operator_claim = "https://plans.test/operator".to_owned();
                config.auth.jwt_role_claim = "https://plans.test/role".to_owned();
            })),
            ..AppOptions::default()
        },
    )
    .await;
    let exp = now() + 600;
    // A string of an integer is an operator id too; no issuer or audience is asked for.
    let operator = hs256(&json!({ "exp": exp, "https://plans.test/operator": "12" }));
    let body = create_as(&app, &operator, None, "twelve's").await;
    assert_no_errors(&body);
    assert_eq!(body["data"]["createPlan"]["userId"], 12);
    let admin = hs256(&json!({ "exp": exp, "https://plans.test/role": "admin" }));
    assert_no_errors(&create_as(&app, &admin, Some(3), "three's").await);
    // The default claim names mean nothing here.
    let default_names = hs256(&json!({ "exp": exp, "operator_id": 12 }));
    let body = create_as(&app, &default_names, None, "?").await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    let explicit = hs256(&json!({
        "exp": exp, "https://plans.test/operator": 12, "https://plans.test/role": "operator",
    }));
    assert_no_errors(&create_as(&app, &explicit, None, "twelve's too").await);
}

async fn authenticated_reads_need_a_valid_credential_also_from_the_response_cache(
    backend: Backend,
) {
    let app = spawn_with_jwt(backend, ReadAccess::Authenticated).await;
    app.create_ok(7, "HOTSPOT", "a").await;
    let list = "{ plans { id name } }";
    let seven = operator_token(7);
    // A signed-in read fills the response cache (twice: the second is a hit).
    for _ in 0..2 {
        let (_, body) = app.post_graphql_as(Some(&seven), list, json!({})).await;
        assert_no_errors(&body);
        let response = get(
            &app,
            list,
            None,
            None,
            &[("authorization", &format!("Bearer {seven}"))],
        )
        .await;
        assert_no_errors(&json_of(response).await);
    }
    assert!(app.metric("graphql_response_cache_hits_total").await >= 2.0);
    // The same request without a credential is not answered from it, by POST or GET.
    let body = app.query(list).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
    assert!(body["data"].is_null());
    let body = json_of(get(&app, list, None, None, &[]).await).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
    // Nor with a bad one.
    let (_, body) = app
        .post_graphql_as(Some(&unsigned(&operator_claims(7))), list, json!({}))
        .await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
    // Any role reads: another operator, an admin JWT, the admin token.
    for token in [operator_token(8), hs256(&admin_claims()), TOKEN.to_owned()] {
        let (_, body) = app.post_graphql_as(Some(&token), list, json!({})).await;
        assert_no_errors(&body);
    }
    // GraphiQL's page is still served to a browser (it then sends the header itself).
    let response = app
        .client
        .get(app.url("/graphql"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // And a mutation without a credential is UNAUTHENTICATED as ever.
    let (_, body) = app
        .post_graphql_as(None, CREATE, json!({ "input": input(Some(7), "x") }))
        .await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
}

async fn the_token_command_signs_tokens_the_server_accepts() {
    let app = spawn_with_jwt(Backend::Sqlite, ReadAccess::Public).await;
    let mint = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_plans-api"))
            .arg("token")
            .args(args)
            .env("JWT_SECRET", JWT_SECRET)
            .env("JWT_ISSUER", ISSUER)
            .env("JWT_AUDIENCE", AUDIENCE)
            .env_remove("JWT_JWKS_URL")
            .env_remove("JWT_JWKS_FILE")
            .env_remove("JWT_OPERATOR_CLAIM")
            .env_remove("JWT_ROLE_CLAIM")
            .output()
            .expect("plans-api token runs");
        (
            output.status.success(),
            String::from_utf8(output.stdout).unwrap().trim().to_owned(),
        )
    };
    let (ok, seven) = mint(&["--operator", "7", "--ttl", "600"]);
    assert!(ok);
    let claims = jsonwebtoken::dangerous::insecure_decode::<Value>(&seven)
        .expect("a JWT")
        .claims;
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["aud"], AUDIENCE);
    assert_eq!(claims["operator_id"], 7);
    let ttl = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert_eq!(ttl, 600);
    let body = create_as(&app, &seven, None, "minted").await;
    assert_no_errors(&body);
    assert_eq!(body["data"]["createPlan"]["userId"], 7);

    let (ok, admin) = mint(&["--role", "admin"]);
    assert!(ok);
    assert_no_errors(&create_as(&app, &admin, Some(9), "admin's").await);
    // An operator token needs an operator.
    assert!(!mint(&[]).0);
    assert!(!mint(&["--operator", "0"]).0);
}
