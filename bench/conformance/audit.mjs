// Prints every graphql-http audit that is not ok, then "N of M ok"; exits 1 unless all are.
import { auditServer } from 'graphql-http';
const url = process.argv[2];
const results = await auditServer({ url });
let ok = 0;
for (const r of results) {
  if (r.status === 'ok') { ok++; continue; }
  let detail = '';
  if (r.reason) detail = r.reason;
  console.log(`${r.status.toUpperCase()} ${r.id} ${r.name}: ${detail}`);
}
console.log(`${ok} of ${results.length} ok`);
process.exit(ok === results.length ? 0 : 1);
