//! Limits on a query's shape that async-graphql does not check itself: how many root fields an
//! operation selects (each `plans` at the root is a full list) and how many aliases a document
//! uses (aliases are how one request asks for the same expensive field many times).
//! Checked right after parsing, before validation and before any resolver runs.

use std::collections::HashSet;
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult, Variables};

use super::errors::{ErrorCode, with_code};

#[derive(Debug, Clone, Copy)]
pub struct ShapeLimits {
    pub max_root_fields: usize,
    pub max_aliases: usize,
    /// When false, `__schema` and `__type` are refused with an error (async-graphql alone would
    /// answer `null`, which looks like a broken server rather than a policy).
    pub introspection: bool,
}

impl ExtensionFactory for ShapeLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(*self)
    }
}

#[async_trait::async_trait]
impl Extension for ShapeLimits {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        self.check(&document)?;
        Ok(document)
    }
}

impl ShapeLimits {
    fn check(&self, document: &ExecutableDocument) -> ServerResult<()> {
        for (_, operation) in document.operations.iter() {
            let mut names = Vec::new();
            root_fields(
                document,
                &operation.node.selection_set.node,
                &mut HashSet::new(),
                &mut names,
            );
            if !self.introspection
                && names
                    .iter()
                    .any(|name| matches!(*name, "__schema" | "__type"))
            {
                return Err(refused(
                    "introspection is disabled on this server; use the published schema.graphql"
                        .to_owned(),
                ));
            }
            if names.len() > self.max_root_fields {
                return Err(refused(format!(
                    "an operation may select at most {} root fields; this one selects {}",
                    self.max_root_fields,
                    names.len()
                )));
            }
        }
        let aliases: usize = document
            .operations
            .iter()
            .map(|(_, operation)| aliases_in(&operation.node.selection_set.node))
            .chain(
                document
                    .fragments
                    .values()
                    .map(|fragment| aliases_in(&fragment.node.selection_set.node)),
            )
            .sum();
        if aliases > self.max_aliases {
            return Err(refused(format!(
                "a document may use at most {} aliases; this one uses {aliases}",
                self.max_aliases
            )));
        }
        Ok(())
    }
}

fn refused(message: String) -> ServerError {
    with_code(
        ServerError::new(message, None),
        ErrorCode::GraphqlValidationFailed,
    )
}

/// Names of the fields selected at the root, looking through fragments (each fragment once:
/// cycles are left to validation to report).
fn root_fields<'a>(
    document: &'a ExecutableDocument,
    selection_set: &'a SelectionSet,
    seen: &mut HashSet<&'a str>,
    names: &mut Vec<&'a str>,
) {
    for item in &selection_set.items {
        match &item.node {
            Selection::Field(field) => names.push(field.node.name.node.as_str()),
            Selection::InlineFragment(fragment) => {
                root_fields(document, &fragment.node.selection_set.node, seen, names);
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                if let Some(fragment) = document.fragments.get(name)
                    && seen.insert(name)
                {
                    root_fields(document, &fragment.node.selection_set.node, seen, names);
                }
            }
        }
    }
}

fn aliases_in(selection_set: &SelectionSet) -> usize {
    selection_set
        .items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some()) + aliases_in(&field.node.selection_set.node)
            }
            Selection::InlineFragment(fragment) => aliases_in(&fragment.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(query: &str) -> Result<(), String> {
        let limits = ShapeLimits {
            max_root_fields: 3,
            max_aliases: 2,
            introspection: false,
        };
        let document = async_graphql::parser::parse_query(query).unwrap();
        limits.check(&document).map_err(|error| error.message)
    }

    #[test]
    fn counts_root_fields_through_fragments() {
        assert!(check("{ a b c }").is_ok());
        assert!(check("{ a b c d }").is_err());
        assert!(check("{ a ...F } fragment F on Query { b c d }").is_err());
        assert!(check("{ a ... on Query { b c d } }").is_err());
        // A fragment spread twice counts once (validation reports real cycles).
        assert!(check("{ ...F ...F } fragment F on Query { a b }").is_ok());
    }

    #[test]
    fn refuses_introspection_when_disabled() {
        assert!(check("{ __schema { queryType { name } } }").is_err());
        assert!(check("{ ...F } fragment F on Query { __type(name: \"Plan\") { name } }").is_err());
        // `__typename` is not introspection of the schema.
        assert!(check("{ __typename }").is_ok());
    }

    #[test]
    fn counts_aliases_anywhere() {
        assert!(check("{ x: a y: b }").is_ok());
        assert!(check("{ x: a y: b z: c }").is_err());
        assert!(check("{ a { x: id y: id } ...F } fragment F on Query { z: a }").is_err());
    }
}
