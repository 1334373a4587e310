// One session replayed: its statements in order with decision and rule, what the client got back, and playback at
// the original timing (offset_ms from the session's start).
import { h, identityText, timeElement, decisionBadge, parameters } from './dom.js';
import { get } from './api.js';

export function replayView(main, { params }) {
  const [id] = params;
  const status = h('p', { class: 'status muted', role: 'status' }, 'Loading…');
  main.append(h('p', {}, h('a', { href: '#/sessions' }, '← Sessions')), h('h1', {}, 'Session ', h('code', {}, id)), status);
  let player = null;
  get(`/api/sessions/${encodeURIComponent(id)}/replay`).then((body) => {
    status.remove();
    player = render(main, body);
  }, (error) => {
    status.textContent = error.status === 404 ? 'No such session in the trail.' : `Could not load the session: ${error.message}`;
  });
  return () => player?.stop();
}

function render(main, { session, events }) {
  const list = h('ol', { class: 'events', id: 'events', 'aria-label': 'Session events' });
  const items = (events ?? []).map((e) => ({ offset: Number(e.offset_ms) || 0, node: eventNode(e) }));
  list.append(...items.map((i) => i.node));
  const clock = h('span', { class: 'clock', id: 'replay-clock', 'aria-live': 'off' });
  const total = items.length ? items[items.length - 1].offset : 0;
  const play = h('button', { type: 'button', class: 'primary', id: 'replay-play' }, 'Play');
  const all = h('button', { type: 'button', id: 'replay-all' }, 'Show all');
  const speed = h('select', { id: 'replay-speed' }, [1, 2, 5, 20].map((s) => h('option', { value: s }, `${s}×`)));
  main.append(
    summary(session),
    h('div', { class: 'player', role: 'group', 'aria-label': 'Replay' }, play,
      h('label', { for: 'replay-speed', class: 'visually-hidden' }, 'Speed'), speed, all, clock),
    list);

  // Playback: events appear at their recorded offsets; pausing keeps the position.
  let position = total;
  let shown = items.length;
  let timer = null;
  let started = 0;
  const showClock = () => { clock.textContent = `${seconds(position)} / ${seconds(total)}`; };
  const pause = () => {
    clearTimeout(timer);
    timer = null;
    play.textContent = 'Play';
  };
  const step = () => {
    position = Math.min(total, (performance.now() - started) * Number(speed.value));
    while (shown < items.length && items[shown].offset <= position) items[shown++].node.hidden = false;
    showClock();
    if (shown >= items.length) {
      pause();
      position = total;
      showClock();
      return;
    }
    const wait = (items[shown].offset - position) / Number(speed.value);
    timer = setTimeout(step, Math.min(Math.max(wait, 0), 250));
  };
  play.addEventListener('click', () => {
    if (timer) {
      pause();
      return;
    }
    if (shown >= items.length) {
      position = 0;
      shown = 0;
      for (const i of items) i.node.hidden = true;
    }
    started = performance.now() - position / Number(speed.value);
    play.textContent = 'Pause';
    step();
  });
  speed.addEventListener('change', () => { if (timer) started = performance.now() - position / Number(speed.value); });
  all.addEventListener('click', () => {
    pause();
    for (const i of items) i.node.hidden = false;
    shown = items.length;
    position = total;
    showClock();
  });
  showClock();
  return { stop: pause };
}

function summary(s) {
  if (!s) return '';
  const item = (label, value) => [h('dt', {}, label), h('dd', {}, value)];
  return h('dl', { class: 'summary' },
    item('Identity', identityText(s.identity)),
    item('Target', s.target ?? ''),
    item('Client', `${s.client_address ?? ''}${s.front_door ? ` (${s.front_door})` : ''}`),
    item('Started', timeElement(s.started)),
    item('Ended', s.live ? 'still live' : timeElement(s.ended)));
}

function eventNode(e) {
  const when = h('span', { class: 'offset' }, `+${seconds(Number(e.offset_ms) || 0)}`);
  switch (e.kind) {
    case 'statement':
      return h('li', { class: 'event statement', 'data-seq': e.seq ?? '' },
        h('div', { class: 'event-head' }, when, decisionBadge(e.decision), e.class ? h('span', { class: 'tag' }, e.class) : '',
          e.rule ? h('span', { class: 'rule' }, 'rule ', h('code', {}, e.rule)) : '',
          e.review ? h('span', { class: 'rule' }, 'review ', h('code', {}, e.review)) : ''),
        h('pre', { class: 'sql' }, e.sql ?? ''),
        parameters(e.parameters),
        e.reason ? h('p', { class: 'reason' }, e.reason) : '',
        failure(e),
        masked(e.masked_columns));
    case 'outcome': {
      const failed = e.succeeded === false || Boolean(e.sqlstate);
      return h('li', { class: `event outcome${failed ? ' failed' : ''}`, 'data-seq': e.seq ?? '' },
        h('div', { class: 'event-head' }, when,
          h('span', { class: 'tag' }, e.command_tag ?? (failed ? 'error' : 'done')),
          e.rows !== undefined && e.rows !== null ? h('span', {}, `${e.rows} rows`) : '',
          typeof e.duration_ms === 'number' ? h('span', { class: 'muted' }, `${e.duration_ms.toFixed(1)} ms`) : '',
          e.review ? h('span', { class: 'rule' }, 'review ', h('code', {}, e.review)) : ''),
        parameters(e.parameters),
        failure(e),
        masked(e.masked_columns),
        e.result ? result(e.result) : '');
    }
    default:
      return h('li', { class: `event ${e.kind === 'end' ? 'end' : 'start'}` },
        h('div', { class: 'event-head' }, when, h('span', { class: 'tag' }, e.kind === 'end' ? 'session ended' : e.kind === 'start' ? 'session started' : String(e.kind ?? '')),
          e.reason ? h('span', { class: 'muted' }, e.reason) : ''));
  }
}

function failure(e) {
  return e.sqlstate ? h('p', { class: 'error' }, `${e.sqlstate}: ${e.message ?? ''}`) : '';
}

function masked(columns) {
  if (!Array.isArray(columns) || columns.length === 0) return '';
  return h('p', { class: 'masked-note' }, h('span', { class: 'badge masked' }, 'masked'), ' ', columns.map(columnName).join(', '));
}

function columnName(c) {
  return typeof c === 'string' ? c : c?.name ?? c?.column ?? JSON.stringify(c);
}

/** The rows as the client received them (masked values already masked), with masked columns marked. */
function result(r) {
  const maskedNames = new Set((r.masked_columns ?? []).map(columnName));
  const columns = (r.columns ?? []).map(columnName);
  const isMasked = columns.map((c) => maskedNames.has(c));
  const mark = (i) => (isMasked[i] ? 'masked' : undefined);
  const head = h('tr', {}, columns.map((c, i) => h('th', { scope: 'col', class: mark(i) },
    c, isMasked[i] ? [' ', h('span', { class: 'badge masked', title: 'masked by policy' }, 'masked')] : '')));
  const body = (r.rows ?? []).map((row) => h('tr', {}, row.map((v, i) => h('td', { class: mark(i) },
    v === null ? h('span', { class: 'null' }, 'NULL') : String(v)))));
  return [
    h('div', { class: 'table-wrap' }, h('table', { class: 'result' }, h('thead', {}, head), h('tbody', {}, body))),
    r.truncated ? h('p', { class: 'muted small' }, 'more rows were returned than the trail keeps') : '',
  ];
}

function seconds(ms) {
  return `${(ms / 1000).toFixed(1)} s`;
}
