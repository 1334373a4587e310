// Console shell: who is signed in, which sections their roles allow, and hash routes to the views.
import { h, replace, identityText } from './dom.js';
import { ApiError, get, request, setCsrfToken } from './api.js';
import { liveView } from './live.js';
import { sessionsView } from './sessions.js';
import { replayView } from './replay.js';
import { reviewsView } from './reviews.js';
import { policyView } from './policy.js';

const routes = [
  { pattern: /^#\/live$/, view: liveView, roles: ['auditor'] },
  { pattern: /^#\/sessions(?:\?.*)?$/, view: sessionsView, roles: ['auditor'] },
  { pattern: /^#\/sessions\/([^/?]+)$/, view: replayView, roles: ['auditor'] },
  { pattern: /^#\/reviews$/, view: reviewsView, roles: ['approver', 'auditor'] },
  // The link Gatehouse gives an agent's NOTICE and the webhook: the queue with that request shown first.
  { pattern: /^#\/reviews\/([^/?]+)$/, view: reviewsView, roles: ['approver', 'auditor'] },
  { pattern: /^#\/policy$/, view: policyView, roles: ['auditor'] },
];

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
let me = null;
let cleanup = null;

function roles() {
  const list = new Set(me?.roles ?? []);
  if (list.has('admin')) list.add('auditor');
  return list;
}

export function can(role) {
  return roles().has(role);
}

function signInLink() {
  const back = `/${location.hash}`;
  return h('a', { class: 'button primary', href: `/login?return=${encodeURIComponent(back)}` }, 'Sign in');
}

async function signOut() {
  try {
    await request('POST', '/logout');
  } catch {
    // The session is gone either way; the page below shows the sign-in button.
  }
  location.replace('/');
}

function showIdentity() {
  const roleText = me.roles?.length ? me.roles.join(', ') : 'no role';
  replace(who,
    h('span', { class: 'identity', id: 'identity' }, identityText(me)),
    h('span', { class: 'roles', id: 'roles' }, roleText),
    h('button', { type: 'button', class: 'link', onclick: signOut }, 'Sign out'));
  for (const link of nav.querySelectorAll('a')) {
    link.hidden = !link.dataset.role.split(' ').some(can);
  }
  nav.hidden = false;
}

function firstAllowed() {
  if (can('auditor')) return '#/live';
  if (can('approver')) return '#/reviews';
  return null;
}

async function route() {
  cleanup?.();
  cleanup = null;
  if (!me) return;
  const hash = location.hash || firstAllowed() || '';
  for (const link of nav.querySelectorAll('a')) {
    const current = hash.startsWith(link.getAttribute('href'));
    if (current) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const match = routes.map((r) => ({ r, m: r.pattern.exec(hash) })).find((x) => x.m);
  if (!match && firstAllowed()) {
    location.replace(firstAllowed());
    return;
  }
  if (!match) {
    replace(main, h('h1', {}, 'Nothing to show'),
      h('p', {}, `Signed in as ${identityText(me)} with no console role. Ask an administrator to add you to `
        + 'reviews.approvers, admin.auditors or admin.identities.'));
    return;
  }
  if (!match.r.roles.some(can)) {
    replace(main, h('h1', {}, 'Not allowed'), h('p', {}, 'Your roles do not allow this section.'));
    return;
  }
  main.replaceChildren();
  cleanup = match.r.view(main, { can, me, params: match.m.slice(1).map(decodeURIComponent), hash }) ?? null;
  main.focus({ preventScroll: true });
}

function showSignIn(message) {
  cleanup?.();
  cleanup = null;
  me = null;
  nav.hidden = true;
  replace(who, signInLink());
  replace(main, h('h1', {}, 'Sign in'), h('p', {}, message), signInLink());
}

window.addEventListener('gatehouse:signed-out', () => {
  if (me) showSignIn('Your console session has ended. Sign in again to go on.');
});

async function start() {
  try {
    me = await get('/api/me');
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      showSignIn('Sign in with your organisation’s identity provider to see sessions, reviews and policy.');
      return;
    }
    replace(main, h('h1', {}, 'The console cannot start'), h('p', { class: 'error', role: 'alert' }, error.message));
    return;
  }
  setCsrfToken(me.csrf_token);
  showIdentity();
  window.addEventListener('hashchange', route);
  if (!location.hash && firstAllowed()) location.replace(firstAllowed());
  else route();
}

start();
