/* eslint-disable */
/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { DocumentTypeDecoration } from '@graphql-typed-document-node/core';
/** How a plan is delivered. */
export type ConnectionType =
  | 'HOTSPOT'
  | 'PPPOE'
  | 'STATIC';

/** A plan to create. */
export type CreatePlanInput = {
  connectionType: ConnectionType;
  /** 1 to 527040 (one year). */
  durationMinutes: number;
  /** 1 to 100 characters after trimming. */
  name: string;
  /** Price in minor currency units; not negative. */
  priceCents: number;
  /** The owning operator; at least 1. Required for the admin; an operator may leave it out (its own id). */
  userId?: number | null | undefined;
};

/**
 * Changes to a plan: at least one field; each follows the same rule as in `CreatePlanInput`.
 * A field left out (or null) stays as it is.
 */
export type UpdatePlanInput = {
  connectionType?: ConnectionType | null | undefined;
  /** 1 to 527040 (one year). */
  durationMinutes?: number | null | undefined;
  /** 1 to 100 characters after trimming. */
  name?: string | null | undefined;
  /** Price in minor currency units; not negative. */
  priceCents?: number | null | undefined;
  /** Moves the plan to another operator (admin only); at least 1. */
  userId?: number | null | undefined;
};

export type CreatePlanMutationVariables = Exact<{
  input: CreatePlanInput;
}>;


export type CreatePlanMutation = { createPlan: { id: string, userId: number, name: string, connectionType: ConnectionType, priceCents: number, durationMinutes: number, createdAt: string } };

export type DeletePlanMutationVariables = Exact<{
  id: string;
}>;


export type DeletePlanMutation = { deletePlan: boolean };

export type LivePlansSubscriptionVariables = Exact<{
  userId?: number | null | undefined;
  connectionType?: ConnectionType | null | undefined;
}>;


export type LivePlansSubscription = { plans: Array<{ id: string, userId: number, name: string, connectionType: ConnectionType, priceCents: number, durationMinutes: number, createdAt: string }> };

export type PlanFieldsFragment = { id: string, userId: number, name: string, connectionType: ConnectionType, priceCents: number, durationMinutes: number, createdAt: string };

export type PlansQueryVariables = Exact<{
  userId?: number | null | undefined;
  connectionType?: ConnectionType | null | undefined;
}>;


export type PlansQuery = { plans: Array<{ id: string, userId: number, name: string, connectionType: ConnectionType, priceCents: number, durationMinutes: number, createdAt: string }> };

export type PlanQueryVariables = Exact<{
  id: string;
}>;


export type PlanQuery = { plan: { id: string, userId: number, name: string, connectionType: ConnectionType, priceCents: number, durationMinutes: number, createdAt: string } | null };

export type PlansPageQueryVariables = Exact<{
  userId?: number | null | undefined;
  connectionType?: ConnectionType | null | undefined;
  first?: number | null | undefined;
  after?: string | null | undefined;
  last?: number | null | undefined;
  before?: string | null | undefined;
}>;


export type PlansPageQuery = { plansConnection: { totalCount: number, pageInfo: { hasNextPage: boolean, hasPreviousPage: boolean, startCursor: string | null, endCursor: string | null }, edges: Array<{ cursor: string, node: { id: string, userId: number, name: string, connectionType: ConnectionType, priceCents: number, durationMinutes: number, createdAt: string } }> } };

export type UpdatePlanMutationVariables = Exact<{
  id: string;
  input: UpdatePlanInput;
}>;


export type UpdatePlanMutation = { updatePlan: { id: string, userId: number, name: string, connectionType: ConnectionType, priceCents: number, durationMinutes: number, createdAt: string } | null };

export class TypedDocumentString<TResult, TVariables>
  extends String
  implements DocumentTypeDecoration<TResult, TVariables>
{
  __apiType?: NonNullable<DocumentTypeDecoration<TResult, TVariables>['__apiType']>;
  private value: string;
  public __meta__?: Record<string, any> | undefined;

  constructor(value: string, __meta__?: Record<string, any> | undefined) {
    super(value);
    this.value = value;
    this.__meta__ = __meta__;
  }

  override toString(): string & DocumentTypeDecoration<TResult, TVariables> {
    return this.value;
  }
}
export const PlanFieldsFragmentDoc = new TypedDocumentString(`
    fragment PlanFields on Plan {
  id
  userId
  name
  connectionType
  priceCents
  durationMinutes
  createdAt
}
    `, {"fragmentName":"PlanFields"}) as unknown as TypedDocumentString<PlanFieldsFragment, unknown>;
export const CreatePlanDocument = new TypedDocumentString(`
    mutation CreatePlan($input: CreatePlanInput!) {
  createPlan(input: $input) {
    ...PlanFields
  }
}
    fragment PlanFields on Plan {
  id
  userId
  name
  connectionType
  priceCents
  durationMinutes
  createdAt
}`, {"hash":"sha256:c8904354c620d3fc5ed26f038cc9fade1363b5a1e1353c3eaab58c643be34634"}) as unknown as TypedDocumentString<CreatePlanMutation, CreatePlanMutationVariables>;
export const DeletePlanDocument = new TypedDocumentString(`
    mutation DeletePlan($id: ID!) {
  deletePlan(id: $id)
}
    `, {"hash":"sha256:a77a4be3373d523c082a2a2a11265c30bdae18a129fb9d9b1892d50331eedb16"}) as unknown as TypedDocumentString<DeletePlanMutation, DeletePlanMutationVariables>;
export const LivePlansDocument = new TypedDocumentString(`
    subscription LivePlans($userId: Int, $connectionType: ConnectionType) {
  plans(userId: $userId, connectionType: $connectionType) {
    ...PlanFields
  }
}
    fragment PlanFields on Plan {
  id
  userId
  name
  connectionType
  priceCents
  durationMinutes
  createdAt
}`, {"hash":"sha256:68265f34146e0bc1ad680da4265677bfe8531787c82dc88144608d57d3271f6a"}) as unknown as TypedDocumentString<LivePlansSubscription, LivePlansSubscriptionVariables>;
export const PlansDocument = new TypedDocumentString(`
    query Plans($userId: Int, $connectionType: ConnectionType) {
  plans(userId: $userId, connectionType: $connectionType) {
    ...PlanFields
  }
}
    fragment PlanFields on Plan {
  id
  userId
  name
  connectionType
  priceCents
  durationMinutes
  createdAt
}`, {"hash":"sha256:42d9c572bd1eaa99bd7745bc6670f67d0ed929279122554c6ceb07d7581ae76d"}) as unknown as TypedDocumentString<PlansQuery, PlansQueryVariables>;
export const PlanDocument = new TypedDocumentString(`
    query Plan($id: ID!) {
  plan(id: $id) {
    ...PlanFields
  }
}
    fragment PlanFields on Plan {
  id
  userId
  name
  connectionType
  priceCents
  durationMinutes
  createdAt
}`, {"hash":"sha256:6397d03bab8d6571267b2ff2da2e9ff5f03a0eb91edb307674f8996183f33532"}) as unknown as TypedDocumentString<PlanQuery, PlanQueryVariables>;
export const PlansPageDocument = new TypedDocumentString(`
    query PlansPage($userId: Int, $connectionType: ConnectionType, $first: Int, $after: String, $last: Int, $before: String) {
  plansConnection(
    userId: $userId
    connectionType: $connectionType
    first: $first
    after: $after
    last: $last
    before: $before
  ) {
    totalCount
    pageInfo {
      hasNextPage
      hasPreviousPage
      startCursor
      endCursor
    }
    edges {
      cursor
      node {
        ...PlanFields
      }
    }
  }
}
    fragment PlanFields on Plan {
  id
  userId
  name
  connectionType
  priceCents
  durationMinutes
  createdAt
}`, {"hash":"sha256:a0d195b8f2f517ff936118389924c900e937d2366b902a44311d60740cdf0513"}) as unknown as TypedDocumentString<PlansPageQuery, PlansPageQueryVariables>;
export const UpdatePlanDocument = new TypedDocumentString(`
    mutation UpdatePlan($id: ID!, $input: UpdatePlanInput!) {
  updatePlan(id: $id, input: $input) {
    ...PlanFields
  }
}
    fragment PlanFields on Plan {
  id
  userId
  name
  connectionType
  priceCents
  durationMinutes
  createdAt
}`, {"hash":"sha256:9e719d27a95b381bfaa75e71305eafb3fb210ba52008acd3be9d9b0ce28d3b7b"}) as unknown as TypedDocumentString<UpdatePlanMutation, UpdatePlanMutationVariables>;