//! The committed `schema.graphql` (what SDKs are generated from) equals what the server runs.

use crate::backend_tests;

backend_tests!(plain: schema_file_matches_print_schema, schema_contains_the_contract);

fn schema_file_matches_print_schema() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_plans-api"))
        .arg("print-schema")
        .output()
        .expect("run plans-api print-schema");
    assert!(output.status.success());
    let printed = String::from_utf8(output.stdout).expect("UTF-8 SDL");
    assert_eq!(printed, plans_api::graphql::sdl());
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql");
    assert!(
        committed == printed,
        "schema.graphql is out of date; regenerate it with:\n    cargo run -q -- print-schema > schema.graphql"
    );
}

fn schema_contains_the_contract() {
    let sdl = plans_api::graphql::sdl();
    for line in [
        "plans(userId: Int, connectionType: ConnectionType): [Plan!]!",
        "plan(id: ID!): Plan",
        "createPlan(input: CreatePlanInput!): Plan!",
        "deletePlan(id: ID!): Boolean!",
        "priceCents: Int!",
        "durationMinutes: Int!",
        "createdAt: DateTime!",
        "userId: Int!",
        "connectionType: ConnectionType!",
        "id: ID!",
    ] {
        assert!(sdl.contains(line), "SDL lacks {line:?}");
    }
    assert!(sdl.contains("enum ConnectionType {\n\tHOTSPOT\n\tPPPOE\n\tSTATIC\n}"));
}
