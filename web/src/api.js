// The worker's HTTP API: fetch with the bearer token, JSON errors as ApiError, 401 → ask for a token.

const TOKEN_KEY = 'logpulse.token';

/** An API call that failed: `status` (0 = network), `kind` and `message` from the server's JSON body. */
export class ApiError extends Error {
  constructor(status, kind, message) {
    super(message);
    this.status = status;
    this.kind = kind;
  }
}

function token() {
  try { return localStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
}

function storeToken(t) {
  try { localStorage.setItem(TOKEN_KEY, t); } catch { /* private mode: kept for this page only */ }
  memoryToken = t;
}

let memoryToken = '';
let askHandler = null;
let pendingAsk = null;

/** Installs the function that asks the user for a token (returns a promise of the token). */
export function onTokenNeeded(fn) {
  askHandler = fn;
}

let declined = false;

/** After the prompt was cancelled, calls fail with the 401 until this is called (Refresh). */
export function allowTokenPrompt() {
  declined = false;
}

function askToken(reason) {
  if (!askHandler || declined) return Promise.reject(new ApiError(401, 'unauthorized', 'a bearer token is required (press Refresh to enter one)'));
  // Concurrent 401s share one prompt.
  pendingAsk ??= askHandler(reason)
    .catch((e) => { declined = true; throw e; })
    .finally(() => { pendingAsk = null; });
  return pendingAsk;
}

async function request(path, init = {}) {
  // A 401 asks for a token (one prompt shared by concurrent calls) and retries, until the
  // worker takes the token or the user cancels the prompt.
  for (;;) {
    const headers = new Headers(init.headers || {});
    const t = token() || memoryToken;
    if (t) headers.set('Authorization', `Bearer ${t}`);
    let response;
    try {
      response = await fetch(path, { ...init, headers, cache: 'no-store' });
    } catch (e) {
      throw new ApiError(0, 'network', `cannot reach the worker (${e.message})`);
    }
    if (response.status === 401) {
      const body = await errorBody(response);
      const current = token() || memoryToken;
      // Another call may have been given a new token meanwhile: retry with it first.
      if (current && current !== t) continue;
      storeToken(await askToken(t ? `The token was refused: ${body.message}` : body.message));
      continue;
    }
    if (!response.ok) {
      const body = await errorBody(response);
      throw new ApiError(response.status, body.error, body.message);
    }
    return response;
  }
}

async function errorBody(response) {
  const text = await response.text().catch(() => '');
  try {
    const j = JSON.parse(text);
    if (j && typeof j.message === 'string') return { error: j.error || 'error', message: j.message };
  } catch { /* not JSON */ }
  return { error: 'http', message: `HTTP ${response.status}${text ? ': ' + text.slice(0, 200) : ''}` };
}

async function json(path, init) {
  const r = await request(path, init);
  return r.json();
}

/** GET /api/rules, with `value` (null for counting rules), `group_by` and alert `rule`/`view` normalised. */
export async function getRules() {
  const j = await json('/api/rules');
  for (const r of j.rules || []) {
    if (r.value === undefined) r.value = null;
    if (!Array.isArray(r.group_by)) r.group_by = [];
  }
  j.rules = (j.rules || []).slice().sort((a, b) => a.name.localeCompare(b.name));
  j.alerts = j.alerts || [];
  return j;
}

/** GET /api/alerts (all states). */
export async function getAlerts() {
  const j = await json('/api/alerts');
  return j.alerts || [];
}

/** GET /api/series for one view. */
export function getSeries(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  return json('/api/series?' + q.toString());
}

/** POST /api/sql: JSON rows. */
export function postSql(text) {
  return json('/api/sql', { method: 'POST', headers: { 'Content-Type': 'text/plain; charset=utf-8' }, body: text });
}

/** GET /metrics: the Prometheus text. */
export async function getMetrics() {
  const r = await request('/metrics');
  return r.text();
}
