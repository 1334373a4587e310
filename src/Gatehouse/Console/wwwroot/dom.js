// The only way the console builds DOM. Data from the API is attacker-controlled (SQL, parameters, identities,
// claims, result values): it becomes text nodes or the value of a safe attribute, never markup.

const SAFE_ATTRIBUTES = new Set([
  'id', 'class', 'type', 'name', 'for', 'role', 'title', 'value', 'placeholder', 'rows', 'cols', 'min', 'max',
  'step', 'maxlength', 'autocomplete', 'spellcheck', 'wrap', 'scope', 'colspan', 'tabindex', 'datetime', 'hidden',
  'disabled', 'required', 'checked', 'selected', 'readonly',
]);

/** h('tag', { attr: value, onclick: fn }, child, ...): children are nodes, strings (text) or arrays of them. */
export function h(tag, attributes, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      element.addEventListener(key.slice(2), value);
    } else if (key === 'href') {
      element.setAttribute('href', safeHref(value));
    } else if (key.startsWith('aria-') || key.startsWith('data-') || SAFE_ATTRIBUTES.has(key)) {
      element.setAttribute(key, value === true ? '' : key === 'value' ? String(value) : visible(value));
    } else {
      throw new Error(`attribute ${key} is not allowed`);
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else if (child instanceof Node) element.append(child);
    else appendVisible(element, String(child));
  }
}

// Characters that change how the text around them is drawn without being seen: bidirectional overrides and
// isolates (a reviewer would read `… 'x' -- OR id > 0` where the server runs `… OR id > 0`), zero-width and other
// invisible format characters, and controls other than newline and tab. Shown as a marked \uNNNN, as the CLI shows them.
const INVISIBLE = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]/g;

function escapeCode(c) {
  return '\\u' + c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
}

/** The text with every invisible or reordering character written out (for attribute values such as a title). */
export function visible(text) {
  return String(text).replace(INVISIBLE, escapeCode);
}

// (No INVISIBLE.test first: matchAll starts where a global regex's lastIndex was left.)
function appendVisible(element, text) {
  let last = 0;
  for (const match of text.matchAll(INVISIBLE)) {
    if (match.index > last) element.append(document.createTextNode(text.slice(last, match.index)));
    const marked = document.createElement('span');
    marked.className = 'invisible-char';
    marked.title = 'an invisible character in the data';
    marked.textContent = escapeCode(match[0]);
    element.append(marked);
    last = match.index + match[0].length;
  }
  if (last < text.length) element.append(document.createTextNode(text.slice(last)));
}

// Links the console makes: its own hash routes and same-origin paths. Anything else becomes inert.
function safeHref(value) {
  const text = String(value);
  return /^(#|\/(?!\/))/.test(text) ? text : '#';
}

/** Replaces an element's children with the given ones. */
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

/**
 * Keeps one child of container per item, by key, rebuilding a child only when its item changed: polling views
 * update in place without losing focus or what someone typed.
 */
export function keyed(container, items, key, render) {
  const existing = new Map();
  for (const child of [...container.children]) existing.set(child.dataset.key, child);
  let previous = null;
  for (const item of items) {
    const id = String(key(item));
    const signature = JSON.stringify(item);
    let child = existing.get(id);
    existing.delete(id);
    if (!child || child.dataset.signature !== signature) {
      const fresh = render(item);
      fresh.dataset.key = id;
      fresh.dataset.signature = signature;
      if (child) child.replaceWith(fresh);
      child = fresh;
    }
    const expected = previous ? previous.nextElementSibling : container.firstElementChild;
    if (expected !== child) container.insertBefore(child, expected);
    previous = child;
  }
  for (const stale of existing.values()) stale.remove();
}

/** 2026-12-01 14:05:09 (UTC) from an ISO time; the raw value when it does not parse. */
export function time(value) {
  if (!value) return '';
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toISOString().replace('T', ' ').replace(/\.\d+Z$|Z$/, '');
}

export function timeElement(value) {
  return value ? h('time', { datetime: String(value) }, time(value)) : '';
}

export function identityText(identity) {
  if (!identity) return '';
  if (typeof identity === 'string') return identity;
  const subject = identity.subject ?? '';
  return identity.name && identity.name !== subject ? `${identity.name} (${subject})` : subject;
}

export function decisionBadge(decision) {
  const text = String(decision ?? '');
  const known = ['allow', 'deny', 'review', 'error'].includes(text) ? text : 'other';
  return h('span', { class: `badge decision-${known}` }, text || '—');
}

/** Bound parameter values as $1, $2, … (NULL for null). */
export function parameters(list) {
  if (!Array.isArray(list) || list.length === 0) return '';
  return h('ol', { class: 'parameters', 'aria-label': 'Parameters' },
    list.map((p, i) => h('li', {}, h('span', { class: 'muted' }, `$${i + 1} `), h('code', {}, p === null ? 'NULL' : String(p)))));
}
