// check.mjs — runs the stock graphql-ws and graphql-sse clients, unmodified, against a running
// Laatu server, the way a partner's code would use them, and checks delivery, isolation and the
// end of a revoked stream.
//
//   LAATU_URL=http://127.0.0.1:8080 node check.mjs
//
// It needs the demo data as `laatu serve` seeds it in dev mode (guest@partner.test holding an
// EDIT grant on one Beta document). It changes that document's title and takes the grant back,
// then puts both back (cleanup), so it can run again against the same server.
//
// Bounded: loopback addresses only, every wait has its own limit, and the whole run exits after
// CHECK_TIMEOUT_MS (default 60 s) whatever happens. Prints PASS/FAIL per step and a closing
// "N passed, N failed" line; exits 1 on any failure.

import { createClient as createWsClient } from 'graphql-ws';
import { createClient as createSseClient, NetworkError } from 'graphql-sse';
import WebSocket from 'ws';

const BASE = (process.env.LAATU_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const HARD_LIMIT_MS = Number(process.env.CHECK_TIMEOUT_MS || 60_000);
const WAIT_MS = 10_000; // the longest any one expected event may take
const PASSWORD = process.env.LAATU_DEMO_PASSWORD || 'laatu-demo-password';
const GUEST = 'guest@partner.test';
const BETA_ADMIN = 'admin@beta.test';

const base = new URL(BASE);
if (!['http:', 'https:'].includes(base.protocol)) bail(`LAATU_URL must be http(s), not ${base.protocol}`);
if (!isLoopback(base.hostname)) bail(`LAATU_URL must name a loopback address (127.0.0.0/8, localhost, [::1]), not ${base.hostname}`);
const HTTP_URL = `${BASE}/graphql`;
const WS_URL = HTTP_URL.replace(/^http/, 'ws');

const hardStop = setTimeout(() => {
  console.log(`FAIL  run: not finished within ${HARD_LIMIT_MS} ms, exiting`);
  process.exit(1);
}, HARD_LIMIT_MS);

let passed = 0;
let failed = 0;
function pass(step, msg) {
  passed++;
  console.log(`PASS  ${step}: ${msg}`);
}
function fail(step, msg) {
  failed++;
  console.log(`FAIL  ${step}: ${msg}`);
}
function bail(msg) {
  console.error(`check.mjs: ${msg}`);
  process.exit(2);
}

function isLoopback(host) {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

// ---- HTTP ------------------------------------------------------------------------------------

async function gql(query, variables, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(HTTP_URL, {
    method: 'POST',
    headers,
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(WAIT_MS),
  });
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`HTTP ${res.status}, not JSON: ${text.slice(0, 200)}`);
  }
  return { status: res.status, body };
}

// data runs a query that must succeed and returns its data.
async function data(query, variables, token) {
  const { status, body } = await gql(query, variables, token);
  if (status !== 200 || body.errors?.length || !body.data) {
    throw new Error(`HTTP ${status}: ${JSON.stringify(body).slice(0, 300)}`);
  }
  return body.data;
}

async function login(email) {
  const d = await data(
    'mutation ($e: String!, $p: String!) { login(email: $e, password: $p) { token user { id } memberships { company { id name } } } }',
    { e: email, p: PASSWORD },
  );
  if (!d.login?.token) throw new Error(`no token for ${email}`);
  return d.login;
}

// ---- streams -----------------------------------------------------------------------------------

// Stream records what one subscription's sink is given, and lets a step wait for a condition.
class Stream {
  constructor(name) {
    this.name = name;
    this.results = []; // { ms, result } in arrival order
    this.completed = false;
    this.error = undefined;
    this.started = performance.now();
    this.waiters = new Set();
  }
  get sink() {
    return {
      next: (result) => {
        this.results.push({ ms: performance.now(), result });
        this.poke();
      },
      error: (err) => {
        this.error = err ?? new Error('error without a value');
        this.poke();
      },
      complete: () => {
        this.completed = true;
        this.poke();
      },
    };
  }
  get ended() {
    return this.completed || this.error !== undefined;
  }
  poke() {
    for (const w of [...this.waiters]) w();
  }
  until(pred, ms = WAIT_MS) {
    return new Promise((resolve) => {
      if (pred(this)) return resolve(true);
      const done = (v) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(v);
      };
      const check = () => pred(this) && done(true);
      const timer = setTimeout(() => done(false), ms);
      this.waiters.add(check);
    });
  }
  describe() {
    const parts = this.results.map(({ result }) => JSON.stringify(result));
    if (this.error !== undefined) parts.push(`error(${describeError(this.error)})`);
    if (this.completed) parts.push('complete');
    return parts.length ? parts.join(' → ').slice(0, 600) : 'nothing received';
  }
}

function describeError(err) {
  if (Array.isArray(err)) return `GraphQL errors ${JSON.stringify(err)}`; // graphql-ws "error" message
  if (err instanceof NetworkError) return `HTTP ${err.response?.status ?? '?'} (${err.message})`;
  if (err && typeof err === 'object' && 'code' in err && 'reason' in err) return `close ${err.code} "${err.reason}"`;
  return String(err?.message ?? err);
}

function closeCode(err) {
  return err && typeof err === 'object' && typeof err.code === 'number' ? err.code : undefined;
}

const DOC_SUB = `subscription ($id: ID!) {
  documentChanged(documentId: $id) { kind documentId document { id title status version } }
}`;

// refusal tells how a subscription that must be refused was refused, or why it was not.
function refusal(s) {
  const withData = s.results.find(({ result }) => result.data?.documentChanged);
  if (withData) return { ok: false, why: `got data: ${JSON.stringify(withData.result)}` };
  if (Array.isArray(s.error)) {
    return { ok: true, how: 'protocol error message', errors: s.error };
  }
  if (s.error !== undefined) return { ok: false, why: `transport failure instead of a GraphQL error: ${describeError(s.error)}` };
  const withErrors = s.results.find(({ result }) => result.errors?.length);
  if (withErrors && s.completed) return { ok: true, how: 'next with errors, then complete', errors: withErrors.result.errors };
  return { ok: false, why: `no error and end within ${WAIT_MS} ms: ${s.describe()}` };
}

const shape = (errors) => errors.map((e) => `${e.extensions?.code ?? 'no code'} "${e.message}"`).join(', ');

// ---- the run -----------------------------------------------------------------------------------

const clients = [];
const state = {};

async function main() {
  console.log(`server: ${HTTP_URL}  (graphql-ws over ${WS_URL}, graphql-sse distinct connections)`);

  // 1. Log in over HTTP.
  try {
    const [guest, admin] = await Promise.all([login(GUEST), login(BETA_ADMIN)]);
    state.guest = guest;
    state.admin = admin;
    pass('1 login', `${GUEST} (${guest.memberships.length} memberships) and ${BETA_ADMIN} (${admin.memberships.map((m) => m.company.name).join(', ')}) got tokens`);
  } catch (e) {
    fail('1 login', e.message);
    return;
  }
  const guestTok = state.guest.token;
  const adminTok = state.admin.token;

  // 2. The guest finds its Beta document. A guest has no membership, hence no active company:
  // what is shared with it by name is reached without X-Company-ID.
  try {
    const d = await data('{ sharedWithMe { id level company { name } document { id title version } } }', {}, guestTok);
    const g = (d.sharedWithMe ?? []).find((x) => x.document && x.company?.name === 'Beta Builders');
    if (!g) throw new Error(`no Beta document in sharedWithMe: ${JSON.stringify(d.sharedWithMe)}`);
    state.doc = g.document;
    state.grantLevel = g.level;
    state.originalTitle = g.document.title;
    const viaQuery = await data('query ($id: ID!) { document(id: $id) { id title } }', { id: g.document.id }, guestTok);
    if (viaQuery.document?.id !== g.document.id) throw new Error(`document(id) as guest: ${JSON.stringify(viaQuery)}`);
    // A Beta document the guest was not given: the admin lists some.
    const list = await data('{ documents(first: 10) { nodes { id title } } }', {}, adminTok);
    state.other = list.documents.nodes.find((n) => n.id !== g.document.id);
    if (!state.other) throw new Error('admin@beta.test sees no second document');
    pass('2 sharedWithMe', `guest holds ${g.level} on "${g.document.title}" (${g.document.id}), readable without X-Company-ID; not shared: "${state.other.title}"`);
  } catch (e) {
    fail('2 sharedWithMe', e.message);
    return;
  }
  const docId = state.doc.id;

  // 3. The guest subscribes with both stock clients.
  const wsCloses = [];
  let wsConnected;
  const wsReady = new Promise((r) => (wsConnected = r));
  const ws = createWsClient({
    url: WS_URL,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${guestTok}` },
    on: { connected: () => wsConnected(), closed: (e) => wsCloses.push(closeCode(e)) },
  });
  clients.push(() => ws.dispose());
  const sse = createSseClient({ url: HTTP_URL, headers: { Authorization: `Bearer ${guestTok}` } });
  clients.push(() => sse.dispose());

  const wsDoc = new Stream('graphql-ws');
  const sseDoc = new Stream('graphql-sse');
  let sseConnected;
  const sseReady = new Promise((r) => (sseConnected = r));
  ws.subscribe({ query: DOC_SUB, variables: { id: docId } }, wsDoc.sink);
  sse.subscribe({ query: DOC_SUB, variables: { id: docId } }, sseDoc.sink, { connected: () => sseConnected() });
  {
    const timeout = new Promise((r) => setTimeout(() => r('timeout'), WAIT_MS));
    const got = await Promise.race([Promise.all([wsReady, sseReady]), timeout]);
    // Neither protocol acknowledges a subscription: give the server a moment to follow the
    // document after the socket's connection_ack and the SSE response headers.
    await new Promise((r) => setTimeout(r, 500));
    if (got === 'timeout') fail('3 subscribe', `not connected within ${WAIT_MS} ms: ws ${wsDoc.describe()}; sse ${sseDoc.describe()}`);
    else if (wsDoc.ended || sseDoc.ended) fail('3 subscribe', `a stream ended early: ws ${wsDoc.describe()}; sse ${sseDoc.describe()}`);
    else pass('3 subscribe', 'graphql-ws acknowledged the connection, graphql-sse got its stream; both subscribed to documentChanged');
  }

  // 4. The Beta admin changes the title; both streams must deliver it.
  try {
    const cur = await data('query ($id: ID!) { document(id: $id) { version } }', { id: docId }, adminTok);
    const title = `Checked by stock clients ${new Date().toISOString()}`;
    const t0 = performance.now();
    const upd = await data(
      'mutation ($id: ID!, $in: UpdateDocumentInput!) { updateDocument(id: $id, input: $in) { version title } }',
      { id: docId, in: { expectedVersion: cur.document.version, title } },
      adminTok,
    );
    state.titleChanged = true;
    const t1 = performance.now();
    const sawIt = ({ result }) => result.data?.documentChanged?.kind === 'UPDATED' && result.data.documentChanged.document?.title === title;
    const [a, b] = await Promise.all([wsDoc, sseDoc].map((s) => s.until((x) => x.results.some(sawIt) || x.ended)));
    const lat = (s) => {
      const r = s.results.find(sawIt);
      return r ? `${Math.round(r.ms - t0)} ms` : '-';
    };
    const wsOk = a && wsDoc.results.some(sawIt) && !wsDoc.ended;
    const sseOk = b && sseDoc.results.some(sawIt) && !sseDoc.ended;
    const stray = [wsDoc, sseDoc].filter((s) => s.results.some(({ result }) => result.errors?.length));
    if (wsOk && sseOk && !stray.length) {
      pass('4 update delivered', `version ${upd.updateDocument.version} "${title}": graphql-ws ${lat(wsDoc)}, graphql-sse ${lat(sseDoc)} after the mutation was sent (its response: ${Math.round(t1 - t0)} ms)`);
    } else {
      fail('4 update delivered', `ws: ${wsDoc.describe()}; sse: ${sseDoc.describe()}`);
    }
  } catch (e) {
    fail('4 update delivered', e.message);
  }

  // 5. A Beta document the guest was not given, and an id that names nothing: both refused
  // alike, on the same socket as the live stream and over SSE.
  try {
    const probe = createSseClient({ url: HTTP_URL, headers: { Authorization: `Bearer ${guestTok}` }, retryAttempts: 0 });
    clients.push(() => probe.dispose());
    const missing = '01a00000-0000-7000-8000-000000000000';
    const runs = [];
    for (const [label, id] of [['not shared', state.other.id], ['no such id', missing]]) {
      const w = new Stream(`graphql-ws ${label}`);
      const s = new Stream(`graphql-sse ${label}`);
      ws.subscribe({ query: DOC_SUB, variables: { id } }, w.sink);
      probe.subscribe({ query: DOC_SUB, variables: { id } }, s.sink);
      runs.push({ label, w, s });
    }
    await Promise.all(runs.flatMap(({ w, s }) => [w.until((x) => x.ended), s.until((x) => x.ended)]));
    const problems = [];
    const seen = {};
    for (const { label, w, s } of runs) {
      for (const st of [w, s]) {
        const r = refusal(st);
        if (!r.ok) problems.push(`${st.name}: ${r.why}`);
        else seen[st.name] = `${r.how}: ${shape(r.errors)}`;
      }
    }
    for (const client of ['graphql-ws', 'graphql-sse']) {
      const a = seen[`${client} not shared`];
      const b = seen[`${client} no such id`];
      if (a && b && a !== b) problems.push(`${client}: refusal of a not-shared document (${a}) differs from that of a missing one (${b})`);
    }
    if (problems.length) fail('5 not shared refused', problems.join('; '));
    else pass('5 not shared refused', `graphql-ws: ${seen['graphql-ws not shared']}; graphql-sse: ${seen['graphql-sse not shared']}; the same as for an id that names nothing`);
    if (wsDoc.ended || sseDoc.ended) fail('5 not shared refused', `the live stream ended with the refusal: ws ${wsDoc.describe()}; sse ${sseDoc.describe()}`);
  } catch (e) {
    fail('5 not shared refused', e.message);
  }

  // 6. The admin takes the grant back: both streams end with an error, then complete.
  try {
    const g = await data('query ($id: ID!) { document(id: $id) { grants { id level grantee { id } } } }', { id: docId }, adminTok);
    const grant = (g.document?.grants ?? []).find((x) => x.grantee?.id === state.guest.user.id);
    if (!grant) throw new Error(`admin sees no grant of the guest: ${JSON.stringify(g)}`);
    const t0 = performance.now();
    const un = await data('mutation ($id: ID!) { unshare(grantId: $id) }', { id: grant.id }, adminTok);
    if (un.unshare !== true) throw new Error(`unshare answered ${JSON.stringify(un)}`);
    state.revoked = true;
    const t1 = performance.now();
    await Promise.all([wsDoc.until((x) => x.ended), sseDoc.until((x) => x.ended)]);
    const problems = [];
    const how = [];
    for (const s of [wsDoc, sseDoc]) {
      const last = s.results.at(-1)?.result;
      if (!s.ended) problems.push(`${s.name} did not end within ${WAIT_MS} ms: ${s.describe()}`);
      else if (s.error !== undefined) problems.push(`${s.name} failed instead of error-then-complete: ${s.describe()}`);
      else if (!last?.errors?.length || last.data?.documentChanged !== null) problems.push(`${s.name} completed without a final error: ${s.describe()}`);
      else how.push(`${s.name} ${shape(last.errors)} then complete ${Math.round(s.results.at(-1).ms - t0)} ms after unshare was sent`);
    }
    const after = await gql('query ($id: ID!) { document(id: $id) { id title } }', { id: docId }, guestTok);
    const code = after.body.errors?.[0]?.extensions?.code;
    if (after.body.data?.document) problems.push(`guest still reads the document over HTTP: ${JSON.stringify(after.body)}`);
    if (problems.length) fail('6 revoke ends streams', problems.join('; '));
    else pass('6 revoke ends streams', `${how.join('; ')} (its response: ${Math.round(t1 - t0)} ms); document(id) as guest now ${code}`);
  } catch (e) {
    fail('6 revoke ends streams', e.message);
  }

  // 7. A bad token, and none. The bad token's graphql-ws client keeps its default retry options:
  // 4401 must end it at once. graphql-sse retries any non-2xx answer, five times with back-off
  // (half a minute or more), so its client gets retryAttempts 0.
  try {
    const bad = 'lts_thisIsNotAValidSessionTokenAtAll0000000000';
    const results = [];
    const wsBad = createWsClient({ url: WS_URL, webSocketImpl: WebSocket, connectionParams: { Authorization: `Bearer ${bad}` } });
    const wsNone = createWsClient({ url: WS_URL, webSocketImpl: WebSocket, retryAttempts: 0 });
    const sseBad = createSseClient({ url: HTTP_URL, headers: { Authorization: `Bearer ${bad}` }, retryAttempts: 0 });
    clients.push(() => wsBad.dispose(), () => wsNone.dispose(), () => sseBad.dispose());
    const cases = [
      ['graphql-ws bad token', wsBad, (s) => closeCode(s.error) === 4401],
      ['graphql-ws no token', wsNone, (s) => closeCode(s.error) === 4401],
      ['graphql-sse bad token', sseBad, (s) => s.error instanceof NetworkError && s.error.response?.status === 401],
    ];
    const streams = cases.map(([name, client]) => {
      const s = new Stream(name);
      client.subscribe({ query: DOC_SUB, variables: { id: docId } }, s.sink);
      return s;
    });
    await Promise.all(streams.map((s) => s.until((x) => x.ended)));
    const problems = [];
    cases.forEach(([name, , ok], i) => {
      const s = streams[i];
      if (s.results.length || !ok(s)) problems.push(`${name}: ${s.describe()}`);
      else results.push(`${name}: ${describeError(s.error)}`);
    });
    if (problems.length) fail('7 bad token refused', problems.join('; '));
    else pass('7 bad token refused', results.join('; '));
  } catch (e) {
    fail('7 bad token refused', e.message);
  }

  if (wsCloses.length) console.log(`      guest's graphql-ws socket closes seen: ${wsCloses.join(', ')}`);
}

// cleanup puts the demo data back: the guest's grant and the document's title.
async function cleanup() {
  if (!state.admin || !state.doc) return;
  const adminTok = state.admin.token;
  try {
    if (state.revoked) {
      await data(
        'mutation ($in: ShareInput!) { share(input: $in) { id } }',
        { in: { objectId: state.doc.id, email: GUEST, level: state.grantLevel } },
        adminTok,
      );
    }
    if (state.titleChanged) {
      const cur = await data('query ($id: ID!) { document(id: $id) { version } }', { id: state.doc.id }, adminTok);
      await data(
        'mutation ($id: ID!, $in: UpdateDocumentInput!) { updateDocument(id: $id, input: $in) { version } }',
        { id: state.doc.id, in: { expectedVersion: cur.document.version, title: state.originalTitle } },
        adminTok,
      );
    }
    console.log(`      cleanup: grant (${state.grantLevel}) and title "${state.originalTitle}" restored`);
  } catch (e) {
    console.log(`      cleanup failed (the demo data stays changed): ${e.message}`);
  }
  for (const tok of [state.guest?.token, adminTok]) {
    if (tok) await gql('mutation { logout }', {}, tok).catch(() => {});
  }
}

let code = 1;
try {
  await main();
} catch (e) {
  fail('run', e.stack ?? String(e));
} finally {
  for (const dispose of clients) {
    try {
      await dispose();
    } catch {
      /* a client that never connected */
    }
  }
  await cleanup();
  console.log(`${passed} passed, ${failed} failed`);
  code = failed || passed < 7 ? 1 : 0;
  clearTimeout(hardStop);
  process.exit(code);
}
