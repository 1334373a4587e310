// The admin API as the console uses it: the session cookie authenticates; writes carry the CSRF token.

let csrfToken = null;

export function setCsrfToken(token) {
  csrfToken = token || null;
}

function csrf() {
  if (csrfToken) return csrfToken;
  const cookie = document.cookie.split('; ').find((c) => c.startsWith('gatehouse_csrf='));
  return cookie ? decodeURIComponent(cookie.slice('gatehouse_csrf='.length)) : '';
}

/** An API failure: the problem document's detail (RFC 9457), with its status and any field errors. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem ?? {};
  }
}

/** fetch + JSON; throws ApiError for any non-2xx answer. Returns { body, response }. */
export async function request(method, path, { body, contentType, headers } = {}) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json', ...(headers ?? {}) } };
  if (method !== 'GET' && method !== 'HEAD') init.headers['X-CSRF-Token'] = csrf();
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    init.headers['Content-Type'] = contentType ?? 'application/json';
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, { detail: 'the gateway did not answer' });
  }
  const text = await response.text();
  let parsed = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = { detail: text.slice(0, 200) };
    }
  }
  // The console session ended (expired, signed out elsewhere): the shell offers Sign in again.
  if (response.status === 401 && path !== '/api/me') window.dispatchEvent(new CustomEvent('gatehouse:signed-out'));
  if (!response.ok) throw new ApiError(response.status, parsed);
  return { body: parsed, response };
}

export async function get(path) {
  return (await request('GET', path)).body;
}

export async function post(path, body) {
  return (await request('POST', path, { body })).body;
}

/** A query string from an object, leaving out empty values. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}
