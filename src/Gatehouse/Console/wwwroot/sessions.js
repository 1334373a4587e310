// The recorded sessions: filters (identity, target, decision, text, since), newest first, paged by cursor.
import { h, replace, identityText, timeElement } from './dom.js';
import { get, query } from './api.js';
import { counts } from './live.js';

const FILTERS = ['identity', 'target', 'decision', 'text', 'since'];

export function sessionsView(main, { hash }) {
  const params = new URLSearchParams(hash.split('?')[1] ?? '');
  // Page size: 50, or the address's limit (1-500).
  const page = Math.min(500, Math.max(1, Number.parseInt(params.get('limit') ?? '', 10) || 50));
  const field = (name, label, input) => h('div', { class: 'field' }, h('label', { for: `filter-${name}` }, label), input);
  const text = (name, type = 'text') => h('input', { id: `filter-${name}`, name, type, value: params.get(name) ?? '' });
  const decision = h('select', { id: 'filter-decision', name: 'decision' },
    ['', 'allow', 'deny', 'review'].map((d) => h('option', { value: d, selected: params.get('decision') === d }, d || 'any')));
  const since = text('since', 'datetime-local');
  if (params.get('since')) since.value = params.get('since').slice(0, 16);
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter sessions' },
    field('identity', 'Identity', text('identity')),
    field('target', 'Target', text('target')),
    field('decision', 'Decision', decision),
    field('text', 'SQL text', text('text', 'search')),
    field('since', 'Since (UTC)', since),
    h('div', { class: 'field actions' }, h('button', { type: 'submit', class: 'primary' }, 'Search')));
  const status = h('p', { class: 'status muted', role: 'status' });
  const rows = h('tbody', { id: 'session-rows' });
  const previous = h('button', { type: 'button', disabled: true }, '← Newer');
  const next = h('button', { type: 'button', disabled: true }, 'Older →');
  main.append(h('h1', {}, 'Sessions'), form, status,
    h('div', { class: 'table-wrap' }, h('table', { class: 'sessions' },
      h('caption', { class: 'visually-hidden' }, 'Recorded sessions'),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, 'Identity'), h('th', { scope: 'col' }, 'Target'), h('th', { scope: 'col' }, 'Started'),
        h('th', { scope: 'col' }, 'Ended'), h('th', { scope: 'col' }, 'Statements'))),
      rows)),
    h('div', { class: 'pager' }, previous, next));

  const filters = () => {
    const values = {};
    for (const name of FILTERS) values[name] = form.elements[name].value.trim();
    if (values.since) values.since = new Date(`${values.since}:00Z`).toISOString();
    return values;
  };
  // Cursors of the pages shown so far; the first page has none.
  const cursors = [null];
  const load = async () => {
    status.textContent = 'Loading…';
    try {
      const before = cursors[cursors.length - 1];
      const body = await get(`/api/sessions${query({ ...filters(), limit: page, before })}`);
      const list = body.sessions ?? [];
      replace(rows, list.map(row));
      status.textContent = list.length ? `${list.length} sessions${cursors.length > 1 ? ` (page ${cursors.length})` : ''}` : 'No sessions match.';
      next.disabled = !body.next;
      next.dataset.cursor = body.next ?? '';
      previous.disabled = cursors.length <= 1;
    } catch (error) {
      status.textContent = `Could not load sessions: ${error.message}`;
    }
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const values = filters();
    // Keep the filters in the address, so back/forward and a shared link show the same list.
    history.replaceState(null, '', `#/sessions${query({ ...values, since: form.elements.since.value, limit: params.get('limit') })}`);
    cursors.length = 1;
    load();
  });
  next.addEventListener('click', () => { cursors.push(next.dataset.cursor); load(); });
  previous.addEventListener('click', () => { cursors.pop(); load(); });
  load();
}

function row(s) {
  return h('tr', {},
    h('td', { 'data-label': 'Identity' }, h('a', { href: `#/sessions/${encodeURIComponent(s.session)}` }, identityText(s.identity) || s.session)),
    h('td', { 'data-label': 'Target' }, s.target ?? ''),
    h('td', { 'data-label': 'Started' }, timeElement(s.started)),
    h('td', { 'data-label': 'Ended' }, s.live ? h('span', { class: 'badge live' }, 'live') : timeElement(s.ended)),
    h('td', { 'data-label': 'Statements' }, counts(s)));
}
