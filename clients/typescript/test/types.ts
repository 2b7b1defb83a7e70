// Compile-time checks (`tsc --noEmit`, part of `npm test`): the generated documents type both
// the variables a caller passes and the data it gets back. Never run; each `@ts-expect-error`
// fails the type check if the error it expects goes away.
import {
  CreatePlanDocument,
  DeletePlanDocument,
  PlanDocument,
  PlansApiClient,
  PlansDocument,
  PlansPageDocument,
  UpdatePlanDocument,
} from '../src/index.js';

export async function typeChecks(client: PlansApiClient): Promise<void> {
  const { plans } = await client.request(PlansDocument, { userId: 1, connectionType: 'PPPOE' });
  const price: number = plans[0]?.priceCents ?? 0;
  const when: string | undefined = plans[0]?.createdAt;
  // @ts-expect-error -- there is no such field on Plan
  plans[0]?.price;
  // @ts-expect-error -- prices are integers of cents, never strings
  const asText: string | undefined = plans[0]?.priceCents;

  // Variables are optional only where the schema says so.
  await client.request(PlansDocument);
  // @ts-expect-error -- plan(id) needs its id
  await client.request(PlanDocument);
  // @ts-expect-error -- ids are strings (GraphQL ID)
  await client.request(DeletePlanDocument, { id: 1 });
  // @ts-expect-error -- not a ConnectionType
  await client.request(PlansDocument, { connectionType: 'WIFI' });
  // @ts-expect-error -- every CreatePlanInput field is required
  await client.request(CreatePlanDocument, { input: { userId: 1, name: 'x' } });

  const { plan } = await client.request(PlanDocument, { id: '1' });
  // @ts-expect-error -- plan(id) may be null
  plan.name;
  const deleted: boolean = (await client.request(DeletePlanDocument, { id: '1' })).deletePlan;

  // Every UpdatePlanInput field is optional; the result may be null (no such plan).
  const { updatePlan } = await client.request(UpdatePlanDocument, { id: '1', input: { priceCents: 5 } });
  // @ts-expect-error -- updatePlan(id) may be null
  updatePlan.name;
  // @ts-expect-error -- an update needs its input
  await client.request(UpdatePlanDocument, { id: '1' });

  const { plansConnection } = await client.request(PlansPageDocument, { first: 10 });
  const next: string | null | undefined = plansConnection.pageInfo.endCursor;
  const total: number = plansConnection.totalCount;
  const firstName: string | undefined = plansConnection.edges[0]?.node.name;
  // @ts-expect-error -- cursors are opaque strings, not numbers
  await client.request(PlansPageDocument, { after: 5 });
  void [price, when, asText, deleted, next, total, firstName];
}
