// The review queue: pending requests first, with their SQL and parameters; approvers approve or reject with a reason.
// Opened at #/reviews/{id} (the link in an agent's NOTICE), that request is shown first, decided or not.
import { h, keyed, replace, timeElement, parameters } from './dom.js';
import { get, post } from './api.js';
import { poll } from './poll.js';

export function reviewsView(main, { can, params = [] }) {
  const wanted = params[0] ?? null;
  let scrolled = false;
  const status = h('p', { class: 'status muted', role: 'status' }, 'Loading…');
  const showDecided = h('input', { type: 'checkbox', id: 'show-decided' });
  const cards = h('div', { class: 'reviews', id: 'reviews' });
  const empty = h('p', { class: 'muted', hidden: true }, 'No pending reviews.');
  main.append(h('h1', {}, 'Reviews'),
    h('div', { class: 'toolbar' }, h('label', { for: 'show-decided' }, showDecided, ' show decided requests too')),
    status, empty, cards);
  const reasons = new Map();
  const approver = can('approver');

  const decide = async (review, approve, reason, feedback) => {
    if (!approve && !reason.trim()) {
      feedback.textContent = 'A rejection needs a reason.';
      return;
    }
    feedback.textContent = approve ? 'Approving…' : 'Rejecting…';
    try {
      await post(`/api/reviews/${encodeURIComponent(review.id)}/${approve ? 'approve' : 'reject'}`, { reason: reason.trim() || null });
      reasons.delete(review.id);
      feedback.textContent = approve ? 'Approved.' : 'Rejected.';
      refresh();
    } catch (error) {
      feedback.textContent = error.message;
    }
  };

  const card = (r) => {
    const feedback = h('p', { class: 'feedback', role: 'status' });
    const reasonId = `reason-${r.id}`;
    const reason = h('input', { id: reasonId, type: 'text', maxlength: 500, autocomplete: 'off', value: reasons.get(r.id) ?? '' });
    reason.addEventListener('input', () => reasons.set(r.id, reason.value));
    const pending = r.status === 'pending';
    return h('article', { class: `review status-${r.status}`, 'aria-labelledby': `title-${r.id}`, 'data-review': r.id },
      h('header', { class: 'review-head' },
        h('h2', { id: `title-${r.id}` }, h('code', {}, r.id)),
        h('span', { class: `badge review-${r.status}` }, r.status),
        h('span', { class: 'muted' }, `${r.approvals ?? 0}/${r.required ?? 1} approvals · ${r.mode ?? ''}`)),
      h('dl', { class: 'summary' },
        h('dt', {}, 'Requested by'), h('dd', { class: 'subject' }, r.subject ?? ''),
        h('dt', {}, 'Target'), h('dd', {}, r.target ?? ''),
        h('dt', {}, 'Rule'), h('dd', {}, h('code', {}, r.rule ?? '')),
        h('dt', {}, 'Created'), h('dd', {}, timeElement(r.created)),
        h('dt', {}, pending ? 'Expires' : 'Decided'), h('dd', {}, timeElement(pending ? r.expires : r.decided ?? r.expires)),
        r.decision_reason ? [h('dt', {}, 'Reason'), h('dd', { class: 'decision-reason' }, r.decision_reason)] : ''),
      h('pre', { class: 'sql' }, r.sql ?? ''),
      parameters(r.parameters),
      pending && approver
        ? h('form', { class: 'decide', onsubmit: (e) => e.preventDefault() },
          h('label', { for: reasonId }, 'Reason (required to reject)'), reason,
          h('div', { class: 'buttons' },
            h('button', { type: 'button', class: 'primary', onclick: () => decide(r, true, reason.value, feedback) }, 'Approve'),
            h('button', { type: 'button', class: 'danger', onclick: () => decide(r, false, reason.value, feedback) }, 'Reject')),
          feedback)
        : '');
  };

  const order = { pending: 0 };
  const refresh = async () => {
    try {
      const list = await get(showDecided.checked ? '/api/reviews?limit=200' : '/api/reviews?status=pending&limit=200');
      let missing = null;
      if (wanted && !list.some((r) => r.id === wanted)) {
        try {
          list.push((await get(`/api/reviews/${encodeURIComponent(wanted)}`)).review);
        } catch (error) {
          missing = `review ${wanted}: ${error.message}`;
        }
      }
      const rank = (r) => (r.id === wanted ? -1 : order[r.status] ?? 1);
      list.sort((a, b) => rank(a) - rank(b) || String(b.created).localeCompare(String(a.created)));
      keyed(cards, list, (r) => r.id, card);
      const focused = wanted ? cards.querySelector(`article[data-review="${CSS.escape(wanted)}"]`) : null;
      if (focused) {
        focused.classList.add('focused');
        if (!scrolled) {
          scrolled = true;
          focused.scrollIntoView({ block: 'start' });
        }
      }
      const pendingCount = list.filter((r) => r.status === 'pending').length;
      empty.hidden = list.length > 0;
      replace(status, `${pendingCount} pending · updated `, timeElement(new Date().toISOString()));
      if (missing) status.append(` · ${missing}`);
    } catch (error) {
      status.textContent = `Could not load reviews: ${error.message}`;
    }
  };
  showDecided.addEventListener('change', refresh);
  return poll(2000, refresh);
}
