// The policy in force, and for admins an editor: Validate shows each error at its line; Save replaces the policy
// (If-Match: the version it was loaded at) through the same validation and reload path as the file.
import { h, replace, timeElement } from './dom.js';
import { ApiError, get, request } from './api.js';

const LINE_HEIGHT = 20;

export function policyView(main, { can }) {
  const status = h('p', { class: 'status', role: 'status', id: 'policy-status' }, 'Loading…');
  main.append(h('h1', {}, 'Policy'), status);
  const editable = can('admin');
  let version = null;

  const meta = h('p', { class: 'muted small', id: 'policy-meta' });
  const editor = lineEditor(editable);
  const errors = h('ul', { class: 'errors', id: 'policy-errors', 'aria-label': 'Policy errors' });
  const validate = h('button', { type: 'button', id: 'policy-validate' }, 'Validate');
  const save = h('button', { type: 'button', class: 'primary', id: 'policy-save' }, 'Save');
  const revert = h('button', { type: 'button', id: 'policy-revert' }, 'Reload');
  main.append(meta, editor.root,
    editable ? h('div', { class: 'buttons' }, validate, save, revert) : h('p', { class: 'muted' }, 'Only admins (admin.identities) may change the policy.'),
    errors);

  const showErrors = (list) => {
    editor.mark(list);
    replace(errors, list.map((e) => h('li', {},
      h('button', { type: 'button', class: 'link', onclick: () => editor.goTo(e.line, e.column) },
        e.line ? `line ${e.line}${e.column ? `, column ${e.column}` : ''}` : 'policy'),
      `: ${e.message ?? ''}`)));
  };
  const failure = (error, what) => {
    if (error instanceof ApiError && error.status === 422) {
      const list = error.problem.errors ?? [{ message: error.message }];
      showErrors(list);
      status.textContent = `${what}: ${list.length} error${list.length === 1 ? '' : 's'}; the policy in force is unchanged.`;
    } else if (error instanceof ApiError && error.status === 412) {
      status.textContent = 'The policy changed since you loaded it. Reload to see the new version, then edit again.';
    } else {
      status.textContent = `${what} failed: ${error.message}`;
    }
  };
  const load = async () => {
    try {
      const policy = await get('/api/policy');
      version = policy.version;
      editor.set(policy.source ?? '');
      showErrors([]);
      replace(meta, `${policy.path ?? ''} · version ${String(policy.version ?? '').slice(0, 12)} · loaded `, timeElement(policy.loaded_at));
      status.textContent = 'The policy in force.';
    } catch (error) {
      status.textContent = `Could not load the policy: ${error.message}`;
    }
  };
  validate.addEventListener('click', async () => {
    status.textContent = 'Validating…';
    try {
      await request('POST', '/api/policy/validate', { body: editor.value(), contentType: 'text/yaml' });
      showErrors([]);
      status.textContent = 'Valid.';
    } catch (error) {
      failure(error, 'Validation');
    }
  });
  save.addEventListener('click', async () => {
    status.textContent = 'Saving…';
    try {
      const headers = version ? { 'If-Match': `"${version}"` } : {};
      const { body } = await request('PUT', '/api/policy', { body: editor.value(), contentType: 'text/yaml', headers });
      version = body?.version ?? version;
      showErrors([]);
      await load();
      status.textContent = `Saved: version ${String(version).slice(0, 12)} is in force.`;
    } catch (error) {
      failure(error, 'Save');
    }
  });
  revert.addEventListener('click', load);
  load();
}

/** A textarea with line numbers; error lines are marked in the gutter and carry their message at the line. */
function lineEditor(editable) {
  const gutter = h('div', { class: 'gutter', 'aria-hidden': 'true' });
  const marks = h('div', { class: 'marks', 'aria-hidden': 'true' });
  const text = h('textarea', {
    id: 'policy-source', class: 'source', spellcheck: 'false', wrap: 'off', autocomplete: 'off', readonly: !editable,
    'aria-label': 'Policy YAML', 'aria-describedby': 'policy-errors',
  });
  const root = h('div', { class: 'editor' }, gutter, h('div', { class: 'pane' }, marks, text));
  let errorLines = new Map();

  const numbers = () => {
    const count = text.value.split('\n').length;
    if (gutter.childElementCount !== count || errorLines.size || gutter.querySelector('.error')) {
      replace(gutter, Array.from({ length: count }, (_, i) => h('div', {
        class: errorLines.has(i + 1) ? 'line error' : 'line', 'data-line': i + 1, title: errorLines.get(i + 1),
      }, String(i + 1))));
    }
  };
  const scroll = () => {
    gutter.scrollTop = text.scrollTop;
    marks.style.transform = `translate(${-text.scrollLeft}px, ${-text.scrollTop}px)`;
  };
  text.addEventListener('input', numbers);
  text.addEventListener('scroll', scroll);

  return {
    root,
    value: () => text.value,
    set(value) {
      text.value = value;
      numbers();
      scroll();
    },
    mark(list) {
      errorLines = new Map();
      for (const e of list) {
        if (e.line) errorLines.set(e.line, [errorLines.get(e.line), e.message].filter(Boolean).join('; '));
      }
      numbers();
      // One band per error line, behind the text, with the message at the line's right.
      replace(marks, [...errorLines].map(([line, message]) => {
        const band = h('div', { class: 'band', 'data-line': line }, h('span', { class: 'message' }, message));
        band.style.top = `${(line - 1) * LINE_HEIGHT}px`;
        return band;
      }));
      scroll();
    },
    goTo(line, column) {
      if (!line) return;
      const lines = text.value.split('\n');
      let offset = 0;
      for (let i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
      offset += Math.max(0, (column ?? 1) - 1);
      text.focus();
      text.setSelectionRange(offset, offset);
      text.scrollTop = Math.max(0, (line - 3) * LINE_HEIGHT);
    },
  };
}
