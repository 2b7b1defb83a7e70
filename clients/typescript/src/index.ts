// The plans-api TypeScript SDK: a typed client plus the generated documents and types.
export { PlansApiClient, PlansApiError } from './client.js';
export type { PlansApiClientOptions, PlansApiGraphQLError, PlansApiToken } from './client.js';
export {
  CreatePlanDocument,
  DeletePlanDocument,
  LivePlansDocument,
  PlanDocument,
  PlansDocument,
  PlansPageDocument,
  UpdatePlanDocument,
} from './gql/graphql.js';
export type {
  ConnectionType,
  CreatePlanInput,
  CreatePlanMutation,
  CreatePlanMutationVariables,
  DeletePlanMutation,
  DeletePlanMutationVariables,
  LivePlansSubscription,
  LivePlansSubscriptionVariables,
  PlanFieldsFragment as Plan,
  PlanQuery,
  PlanQueryVariables,
  PlansPageQuery,
  PlansPageQueryVariables,
  PlansQuery,
  PlansQueryVariables,
  UpdatePlanInput,
  UpdatePlanMutation,
  UpdatePlanMutationVariables,
} from './gql/graphql.js';
