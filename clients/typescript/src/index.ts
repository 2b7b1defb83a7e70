// The plans-api TypeScript SDK: a typed client plus the generated documents and types.
export { PlansApiClient, PlansApiError } from './client.js';
export type { PlansApiClientOptions, PlansApiGraphQLError } from './client.js';
export {
  CreatePlanDocument,
  DeletePlanDocument,
  PlanDocument,
  PlansDocument,
} from './gql/graphql.js';
export type {
  ConnectionType,
  CreatePlanInput,
  CreatePlanMutation,
  CreatePlanMutationVariables,
  DeletePlanMutation,
  DeletePlanMutationVariables,
  PlanFieldsFragment as Plan,
  PlanQuery,
  PlanQueryVariables,
  PlansQuery,
  PlansQueryVariables,
} from './gql/graphql.js';
