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
        "updatePlan(id: ID!, input: UpdatePlanInput!): Plan",
        "plansConnection(userId: Int, connectionType: ConnectionType, first: Int, after: String, last: Int, before: String): PlanConnection!",
    ] {
        assert!(sdl.contains(line), "SDL lacks {line:?}");
    }
    assert!(sdl.contains("enum ConnectionType {\n\tHOTSPOT\n\tPPPOE\n\tSTATIC\n}"));
    // The types of the contract's additions, field by field (descriptions aside).
    for (type_name, fields) in [
        (
            "input UpdatePlanInput",
            &[
                "userId: Int",
                "name: String",
                "connectionType: ConnectionType",
                "priceCents: Int",
                "durationMinutes: Int",
            ][..],
        ),
        (
            "type PageInfo",
            &[
                "hasNextPage: Boolean!",
                "hasPreviousPage: Boolean!",
                "startCursor: String",
                "endCursor: String",
            ][..],
        ),
        ("type PlanEdge", &["cursor: String!", "node: Plan!"][..]),
        (
            "type PlanConnection",
            &[
                "edges: [PlanEdge!]!",
                "nodes: [Plan!]!",
                "pageInfo: PageInfo!",
                "totalCount: Int!",
            ][..],
        ),
    ] {
        let start = sdl
            .find(&format!("{type_name} {{"))
            .unwrap_or_else(|| panic!("SDL lacks {type_name}"));
        let body = &sdl[start..start + sdl[start..].find("\n}").unwrap()];
        let mut in_description = false;
        let declared: Vec<&str> = body
            .lines()
            .skip(1)
            .map(str::trim)
            .filter(|line| {
                if *line == "\"\"\"" {
                    in_description = !in_description;
                    return false;
                }
                !in_description
            })
            .collect();
        assert_eq!(declared, fields, "{type_name}");
    }
}
