// Live sessions of this gateway instance, refreshed every 2 s without reloading the page.
import { h, keyed, replace, identityText, timeElement } from './dom.js';
import { get, request } from './api.js';
import { poll } from './poll.js';

export function liveView(main, { can }) {
  const status = h('p', { class: 'status muted', role: 'status' }, 'Loading…');
  const rows = h('tbody', { id: 'live-rows' });
  const empty = h('p', { class: 'muted', hidden: true }, 'No live sessions on this instance.');
  main.append(
    h('h1', {}, 'Live sessions'),
    status,
    h('div', { class: 'table-wrap' }, h('table', { class: 'sessions' },
      h('caption', { class: 'visually-hidden' }, 'Sessions open now'),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, 'Identity'), h('th', { scope: 'col' }, 'Target'), h('th', { scope: 'col' }, 'Started'),
        h('th', { scope: 'col' }, 'Statements'), h('th', { scope: 'col' }, 'Now'), h('th', { scope: 'col' }, ''))),
      rows)),
    empty);

  // Two clicks, no confirm() dialog: the first arms the button for a few seconds (kept across refreshes).
  const armed = new Set();
  const label = (s) => (armed.has(s.session) ? `Confirm: end session of ${identityText(s.identity)}` : `End session of ${identityText(s.identity)}`);
  const end = async (session, button) => {
    if (!armed.has(session.session)) {
      armed.add(session.session);
      button.textContent = 'Confirm end';
      button.setAttribute('aria-label', label(session));
      setTimeout(() => {
        armed.delete(session.session);
        button.textContent = 'End';
        button.setAttribute('aria-label', label(session));
      }, 4000);
      return;
    }
    armed.delete(session.session);
    try {
      await request('DELETE', `/api/sessions/${encodeURIComponent(session.session)}`);
      status.textContent = `Session ${session.session} ended.`;
    } catch (error) {
      status.textContent = `Could not end the session: ${error.message}`;
    }
  };

  const render = (s) => h('tr', { class: 'live-session' },
    h('td', { 'data-label': 'Identity' }, h('a', { href: `#/sessions/${encodeURIComponent(s.session)}` }, identityText(s.identity))),
    h('td', { 'data-label': 'Target' }, s.target ?? '', s.front_door ? h('span', { class: 'muted small' }, ` ${s.front_door}`) : ''),
    h('td', { 'data-label': 'Started' }, timeElement(s.started), h('div', { class: 'muted small' }, s.client_address ?? '')),
    h('td', { 'data-label': 'Statements' }, counts(s)),
    h('td', { 'data-label': 'Now', class: 'sql-cell' }, s.current_statement
      ? h('code', { class: 'sql' }, s.current_statement)
      : h('span', { class: 'muted' }, s.idle_since ? ['idle since ', timeElement(s.idle_since)] : 'idle')),
    h('td', {}, can('admin')
      ? h('button', { type: 'button', class: 'danger small', onclick: (e) => end(s, e.currentTarget), 'aria-label': label(s) }, armed.has(s.session) ? 'Confirm end' : 'End')
      : ''));

  return poll(2000, async () => {
    try {
      const body = await get('/api/sessions/live');
      const list = body.sessions ?? [];
      keyed(rows, list, (s) => s.session, render);
      empty.hidden = list.length > 0;
      replace(status, `${list.length} live · updated `, timeElement(new Date().toISOString()));
    } catch (error) {
      status.textContent = `Could not refresh: ${error.message}`;
    }
  });
}

export function counts(s) {
  return h('span', { class: 'counts' },
    `${s.statements ?? 0} total`,
    s.allowed ? h('span', { class: 'count-allow' }, ` · ${s.allowed} allowed`) : '',
    s.denied ? h('span', { class: 'count-deny' }, ` · ${s.denied} denied`) : '',
    s.reviewed ? h('span', { class: 'count-review' }, ` · ${s.reviewed} reviewed`) : '',
    s.errors ? h('span', { class: 'count-error' }, ` · ${s.errors} errors`) : '');
}
