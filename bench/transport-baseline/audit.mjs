// Runs graphql-http's server audits against a URL and counts the results by level (MUST,
// SHOULD, MAY), the way tests/e2e/graphql-over-http.test.mjs runs them against plans-api.
import { serverAudits } from 'graphql-http';
const url = process.argv[2];
const counts = {};
const failed = [];
for (const audit of serverAudits({ url })) {
  const level = audit.name.split(' ')[0];
  const result = await audit.fn();
  counts[level] ??= { ok: 0, warn: 0, notice: 0, error: 0 };
  counts[level][result.status] += 1;
  if (result.status !== 'ok') failed.push(`${audit.id} ${result.status}: ${audit.name}`);
}
console.log(url, JSON.stringify(counts));
for (const line of failed) console.log('  ' + line);
