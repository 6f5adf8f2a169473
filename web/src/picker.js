// The rule picker: a search box with a filtered list (ARIA combobox, keyboard and mouse).

import { el, span } from './format.js';

export class RulePicker {
  /** @param {(name: string) => void} choose */
  constructor(choose) {
    this.choose = choose;
    this.input = document.getElementById('rule-search');
    this.list = document.getElementById('rule-list');
    this.rules = [];
    this.current = '';
    this.matches = [];
    this.active = -1;
    this.input.addEventListener('input', () => this.open());
    this.input.addEventListener('focus', () => this.input.select());
    this.input.addEventListener('click', () => this.open());
    this.input.addEventListener('keydown', (e) => this.key(e));
    this.input.addEventListener('blur', () => setTimeout(() => this.close(true), 150));
  }

  setRules(rules) {
    this.rules = rules;
    if (!this.list.hidden) this.open();
  }

  setCurrent(name) {
    this.current = name;
    if (document.activeElement !== this.input) this.input.value = name;
  }

  filter() {
    const q = this.input.value.trim().toLowerCase();
    if (!q || q === this.current.toLowerCase()) return this.rules;
    const words = q.split(/\s+/);
    const hay = (r) => `${r.name} ${r.stream} ${r.value || ''} ${(r.group_by || []).join(' ')}`.toLowerCase();
    return this.rules
      .filter((r) => words.every((w) => hay(r).includes(w)))
      .sort((a, b) => Number(!a.name.toLowerCase().startsWith(q)) - Number(!b.name.toLowerCase().startsWith(q)));
  }

  open() {
    this.matches = this.filter();
    const exact = this.matches.findIndex((r) => r.name === this.current);
    this.active = this.matches.length ? (exact >= 0 ? exact : 0) : -1;
    this.list.replaceChildren(
      ...(this.matches.length
        ? this.matches.map((r, i) =>
          el('li', {
            role: 'option',
            id: `rule-opt-${i}`,
            dataset: { rule: r.name },
            'aria-selected': String(r.name === this.current),
            onmousedown: (e) => { e.preventDefault(); this.pick(r.name); },
          },
          el('span', { class: 'opt-name', text: r.name }),
          el('span', { class: 'muted', text: ` ${r.stream} · ${span(r.window_ms)}${r.value ? ' · ' + r.value : ' · count'}` })))
        : [el('li', { class: 'muted', role: 'presentation', text: 'No rule matches.' })]),
    );
    this.list.hidden = false;
    this.input.setAttribute('aria-expanded', 'true');
    this.highlight();
  }

  close(restore) {
    this.list.hidden = true;
    this.input.setAttribute('aria-expanded', 'false');
    this.input.removeAttribute('aria-activedescendant');
    if (restore && document.activeElement !== this.input) this.input.value = this.current;
  }

  highlight() {
    [...this.list.children].forEach((li, i) => li.classList.toggle('active', i === this.active));
    if (this.active >= 0) {
      this.input.setAttribute('aria-activedescendant', `rule-opt-${this.active}`);
      this.list.children[this.active]?.scrollIntoView({ block: 'nearest' });
    } else this.input.removeAttribute('aria-activedescendant');
  }

  key(e) {
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      if (this.list.hidden) return this.open();
      if (!this.matches.length) return;
      const d = e.key === 'ArrowDown' ? 1 : -1;
      this.active = (this.active + d + this.matches.length) % this.matches.length;
      this.highlight();
    } else if (e.key === 'Enter') {
      e.preventDefault();
      const r = this.matches[this.active] || this.rules.find((x) => x.name === this.input.value.trim());
      if (r) this.pick(r.name);
    } else if (e.key === 'Escape') {
      this.input.value = this.current;
      this.close(false);
    }
  }

  pick(name) {
    this.current = name;
    this.input.value = name;
    this.close(false);
    this.choose(name);
  }
}
