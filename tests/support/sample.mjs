// What the sample upstream (`--sample-upstream`, see src/sample_upstream/) holds, read straight
// from its REST API so that expectations never come from the service under test; shared by the
// Node suites (Node's built-ins only).

export const SAMPLE_API_KEY = 'KEYSAMPLE0demo0telnyx0rooms0graphql';

export const ids = {
  MEDIUM_SESSION: '5d3e7f19-0c2b-4a48-b6e5-7f9a1c3e5d72',
  SINGLE_SESSION: '51a6e1e0-5e55-4011-8a6b-0c3d2e1f4a5b',
  PARTICIPANT: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d',
  /** A well-formed UUID that no sample participant has. */
  UNKNOWN_PARTICIPANT: '00000000-0000-4000-8000-00000000dead',
};

/** `GET <baseUrl><path>` with the sample key; returns the parsed body, throws on a non-2xx. */
export async function rest(baseUrl, path) {
  const response = await fetch(`${baseUrl}${path}`, {
    headers: { Authorization: `Bearer ${SAMPLE_API_KEY}`, Accept: 'application/json' },
  });
  if (!response.ok) throw new Error(`GET ${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

/** Every participant of a session, in the upstream's order, 250 a page. */
export async function allParticipants(baseUrl, sessionId) {
  const participants = [];
  for (let page = 1; ; page++) {
    const body = await rest(baseUrl, `/room_sessions/${sessionId}/participants?page[size]=250&page[number]=${page}`);
    participants.push(...body.data);
    if (body.data.length === 0 || participants.length >= body.meta.total_results) return participants;
  }
}

/** POSTs a GraphQL request (with any extra `headers`) and returns the parsed response body (data and errors alike). */
export async function graphql(url, query, variables = {}, headers = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`POST ${url}: ${response.status} ${text}`);
  }
}
