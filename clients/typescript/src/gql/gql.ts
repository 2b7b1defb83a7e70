/* eslint-disable */
import * as types from './graphql.js';



/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "mutation CreatePlan($input: CreatePlanInput!) {\n  createPlan(input: $input) {\n    ...PlanFields\n  }\n}": typeof types.CreatePlanDocument,
    "mutation DeletePlan($id: ID!) {\n  deletePlan(id: $id)\n}": typeof types.DeletePlanDocument,
    "subscription LivePlans($userId: Int, $connectionType: ConnectionType) {\n  plans(userId: $userId, connectionType: $connectionType) {\n    ...PlanFields\n  }\n}": typeof types.LivePlansDocument,
    "fragment PlanFields on Plan {\n  id\n  userId\n  name\n  connectionType\n  priceCents\n  durationMinutes\n  createdAt\n}\n\nquery Plans($userId: Int, $connectionType: ConnectionType) {\n  plans(userId: $userId, connectionType: $connectionType) {\n    ...PlanFields\n  }\n}\n\nquery Plan($id: ID!) {\n  plan(id: $id) {\n    ...PlanFields\n  }\n}": typeof types.PlanFieldsFragmentDoc,
    "query PlansPage($userId: Int, $connectionType: ConnectionType, $first: Int, $after: String, $last: Int, $before: String) {\n  plansConnection(\n    userId: $userId\n    connectionType: $connectionType\n    first: $first\n    after: $after\n    last: $last\n    before: $before\n  ) {\n    totalCount\n    pageInfo {\n      hasNextPage\n      hasPreviousPage\n      startCursor\n      endCursor\n    }\n    edges {\n      cursor\n      node {\n        ...PlanFields\n      }\n    }\n  }\n}": typeof types.PlansPageDocument,
    "mutation UpdatePlan($id: ID!, $input: UpdatePlanInput!) {\n  updatePlan(id: $id, input: $input) {\n    ...PlanFields\n  }\n}": typeof types.UpdatePlanDocument,
};
const documents: Documents = {
    "mutation CreatePlan($input: CreatePlanInput!) {\n  createPlan(input: $input) {\n    ...PlanFields\n  }\n}": types.CreatePlanDocument,
    "mutation DeletePlan($id: ID!) {\n  deletePlan(id: $id)\n}": types.DeletePlanDocument,
    "subscription LivePlans($userId: Int, $connectionType: ConnectionType) {\n  plans(userId: $userId, connectionType: $connectionType) {\n    ...PlanFields\n  }\n}": types.LivePlansDocument,
    "fragment PlanFields on Plan {\n  id\n  userId\n  name\n  connectionType\n  priceCents\n  durationMinutes\n  createdAt\n}\n\nquery Plans($userId: Int, $connectionType: ConnectionType) {\n  plans(userId: $userId, connectionType: $connectionType) {\n    ...PlanFields\n  }\n}\n\nquery Plan($id: ID!) {\n  plan(id: $id) {\n    ...PlanFields\n  }\n}": types.PlanFieldsFragmentDoc,
    "query PlansPage($userId: Int, $connectionType: ConnectionType, $first: Int, $after: String, $last: Int, $before: String) {\n  plansConnection(\n    userId: $userId\n    connectionType: $connectionType\n    first: $first\n    after: $after\n    last: $last\n    before: $before\n  ) {\n    totalCount\n    pageInfo {\n      hasNextPage\n      hasPreviousPage\n      startCursor\n      endCursor\n    }\n    edges {\n      cursor\n      node {\n        ...PlanFields\n      }\n    }\n  }\n}": types.PlansPageDocument,
    "mutation UpdatePlan($id: ID!, $input: UpdatePlanInput!) {\n  updatePlan(id: $id, input: $input) {\n    ...PlanFields\n  }\n}": types.UpdatePlanDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation CreatePlan($input: CreatePlanInput!) {\n  createPlan(input: $input) {\n    ...PlanFields\n  }\n}"): typeof import('./graphql.js').CreatePlanDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation DeletePlan($id: ID!) {\n  deletePlan(id: $id)\n}"): typeof import('./graphql.js').DeletePlanDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "subscription LivePlans($userId: Int, $connectionType: ConnectionType) {\n  plans(userId: $userId, connectionType: $connectionType) {\n    ...PlanFields\n  }\n}"): typeof import('./graphql.js').LivePlansDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "fragment PlanFields on Plan {\n  id\n  userId\n  name\n  connectionType\n  priceCents\n  durationMinutes\n  createdAt\n}\n\nquery Plans($userId: Int, $connectionType: ConnectionType) {\n  plans(userId: $userId, connectionType: $connectionType) {\n    ...PlanFields\n  }\n}\n\nquery Plan($id: ID!) {\n  plan(id: $id) {\n    ...PlanFields\n  }\n}"): typeof import('./graphql.js').PlanFieldsFragmentDoc;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query PlansPage($userId: Int, $connectionType: ConnectionType, $first: Int, $after: String, $last: Int, $before: String) {\n  plansConnection(\n    userId: $userId\n    connectionType: $connectionType\n    first: $first\n    after: $after\n    last: $last\n    before: $before\n  ) {\n    totalCount\n    pageInfo {\n      hasNextPage\n      hasPreviousPage\n      startCursor\n      endCursor\n    }\n    edges {\n      cursor\n      node {\n        ...PlanFields\n      }\n    }\n  }\n}"): typeof import('./graphql.js').PlansPageDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation UpdatePlan($id: ID!, $input: UpdatePlanInput!) {\n  updatePlan(id: $id, input: $input) {\n    ...PlanFields\n  }\n}"): typeof import('./graphql.js').UpdatePlanDocument;


export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}
