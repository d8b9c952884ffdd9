/**
 * Draw a dspex_lab panel document (application/vnd.dspex.<panel>+json) as DOM.
 *
 * The document's `sections` are the same ones the Python side draws as
 * offline HTML (dspex_lab/lab/static.py): stats, table, bars, lanes, text,
 * details. Here tables sort by any header over all their rows and a row
 * opens its example's record (from `data.examples`) below the table.
 * Charts are SVG with a fixed pixel height, so they never collapse when
 * the page changes width.
 */
import type { IDocument, ISection, ITable, IBars, ILanes } from './types';

const SVG_NS = 'http://www.w3.org/2000/svg';
const WIDTH = 720;
const LANE_HEIGHT = 18;
const LABEL_WIDTH = 150;
export const PALETTE = [
  '#4c78a8',
  '#f58518',
  '#54a24b',
  '#b279a2',
  '#72b7b2',
  '#eeca3b',
  '#9d755d',
  '#ff9da6',
  '#bab0ac',
  '#e45756'
];
export const FLAG_COLOURS: Record<string, string> = {
  error: '#d62728',
  retried: '#ff7f0e',
  cancelled: '#7f7f7f'
};

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

function svg(tag: string, attrs: Record<string, string | number>): SVGElement {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) {
    node.setAttribute(name, String(value));
  }
  return node;
}

/** A value as one readable string (objects as JSON, floats to 3 significant digits). */
export function show(value: unknown): string {
  if (value === null || value === undefined) {
    return '';
  }
  if (typeof value === 'number') {
    return Number.isInteger(value) ? String(value) : value.toPrecision(3);
  }
  if (typeof value === 'string') {
    return value;
  }
  return JSON.stringify(value);
}

/** Check that `data` is a panel document; throws a readable error when it is not. */
export function checkDocument(data: unknown): IDocument {
  const doc = data as IDocument;
  if (!doc || typeof doc !== 'object' || doc.format !== 'dspex_lab.panel') {
    throw new Error('not a dspex_lab panel document (no "format": "dspex_lab.panel")');
  }
  if (!Array.isArray(doc.sections)) {
    throw new Error('a dspex_lab panel document needs a list of sections');
  }
  return doc;
}

/** The whole document: its title, then each section. */
export function renderDocument(data: unknown): HTMLElement {
  const doc = checkDocument(data);
  const root = el('div', `dspex-doc dspex-doc-${doc.panel}`);
  root.appendChild(el('h3', 'dspex-doc-title', doc.title));
  for (const part of doc.sections) {
    const drawn = renderSection(part, doc);
    if (drawn) {
      root.appendChild(drawn);
    }
  }
  return root;
}

export function renderSection(part: ISection, doc: IDocument): HTMLElement | null {
  switch (part.kind) {
    case 'stats': {
      const line = el('div', 'dspex-stats');
      for (const [label, value] of part.items) {
        const item = el('span', 'dspex-stat', `${label} `);
        item.appendChild(el('b', '', show(value)));
        line.appendChild(item);
      }
      return line;
    }
    case 'table':
      return renderTable(part, doc);
    case 'bars':
      return renderBars(part);
    case 'lanes':
      return renderLanes(part);
    case 'text': {
      const box = el('div', 'dspex-text');
      if (part.title) {
        box.appendChild(el('b', '', part.title));
      }
      box.appendChild(el('pre', '', part.body));
      return box;
    }
    case 'details': {
      const fold = el('details', 'dspex-details');
      fold.appendChild(el('summary', '', part.title));
      for (const child of part.sections) {
        const drawn = renderSection(child, doc);
        if (drawn) {
          fold.appendChild(drawn);
        }
      }
      return fold;
    }
    default:
      return null;
  }
}

function compare(a: unknown, b: unknown): number {
  const x = typeof a === 'string' && a !== '' && !isNaN(Number(a)) ? Number(a) : a;
  const y = typeof b === 'string' && b !== '' && !isNaN(Number(b)) ? Number(b) : b;
  if (typeof x === 'number' && typeof y === 'number') {
    return x - y;
  }
  return show(x).localeCompare(show(y));
}

/** A table whose headers sort all its rows and whose rows open their record. */
export function renderTable(part: ITable, doc: IDocument): HTMLElement {
  const box = el('div', 'dspex-table-box');
  if (part.title) {
    box.appendChild(el('b', '', part.title));
  }
  const table = el('table', 'dspex-table');
  const head = el('tr');
  const body = el('tbody');
  const detail = el('div', 'dspex-row-detail');
  const order = part.rows.map((_, n) => n);
  let sortedBy = -1;
  let ascending = true;
  const records = (doc.data && (doc.data.examples as Record<string, unknown>[])) || [];
  const fill = (): void => {
    body.textContent = '';
    for (const n of order) {
      const row = el('tr');
      const mark = part.marks ? part.marks[n] : '';
      if (mark) {
        row.classList.add(`dspex-${mark}`);
      }
      for (const cell of part.rows[n]) {
        row.appendChild(el('td', '', show(cell)));
      }
      row.addEventListener('click', () => {
        for (const other of Array.from(body.querySelectorAll('tr.dspex-selected'))) {
          other.classList.remove('dspex-selected');
        }
        row.classList.add('dspex-selected');
        detail.textContent = '';
        detail.appendChild(renderRecord(records[n] ?? rowRecord(part, n)));
      });
      body.appendChild(row);
    }
  };
  part.columns.forEach((column, index) => {
    const th = el('th', '', column);
    th.title = 'sort by this column';
    th.addEventListener('click', () => {
      ascending = sortedBy === index ? !ascending : true;
      sortedBy = index;
      order.sort((a, b) => {
        const c = compare(part.rows[a][index], part.rows[b][index]);
        return ascending ? c || a - b : -c || a - b;
      });
      for (const other of Array.from(head.children)) {
        other.classList.remove('dspex-sorted-up', 'dspex-sorted-down');
      }
      th.classList.add(ascending ? 'dspex-sorted-up' : 'dspex-sorted-down');
      fill();
    });
    head.appendChild(th);
  });
  const thead = el('thead');
  thead.appendChild(head);
  table.appendChild(thead);
  table.appendChild(body);
  fill();
  box.appendChild(table);
  if (part.note) {
    box.appendChild(el('div', 'dspex-note', part.note));
  }
  box.appendChild(detail);
  return box;
}

function rowRecord(part: ITable, n: number): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  part.columns.forEach((column, index) => {
    record[column || 'outcome'] = part.rows[n][index];
  });
  return record;
}

/** One example's record as name/value pairs; long values (a traceback) as preformatted text. */
export function renderRecord(record: Record<string, unknown>): HTMLElement {
  const table = el('table', 'dspex-record');
  for (const [name, value] of Object.entries(record)) {
    if (value === null || value === undefined || value === '') {
      continue;
    }
    const row = el('tr');
    row.appendChild(el('th', '', name));
    const cell = el('td');
    let text = show(value);
    if (typeof value === 'object' && text.length > 80) {
      text = JSON.stringify(value, null, 1);
    }
    cell.appendChild(text.includes('\n') ? el('pre', '', text) : document.createTextNode(text));
    row.appendChild(cell);
    table.appendChild(row);
  }
  return table;
}

function chart(height: number, css: string): SVGElement {
  return svg('svg', {
    class: css,
    viewBox: `0 0 ${WIDTH} ${height}`,
    width: WIDTH,
    height,
    preserveAspectRatio: 'xMinYMin meet'
  });
}

function label(x: number, y: number, text: string, anchor = 'start'): SVGElement {
  const node = svg('text', { x, y, 'font-size': 11, 'text-anchor': anchor });
  node.textContent = text;
  return node;
}

export function renderBars(part: IBars): HTMLElement {
  const box = el('div', 'dspex-chart');
  if (part.title) {
    box.appendChild(el('b', '', part.title));
  }
  const top = Math.max(1e-12, ...part.values.map(v => Math.abs(v)));
  const height = LANE_HEIGHT * part.labels.length + 8;
  const plot = WIDTH - LABEL_WIDTH - 70;
  const root = chart(height, 'dspex-bars');
  part.labels.forEach((name, n) => {
    const y = 4 + n * LANE_HEIGHT;
    const value = part.values[n];
    const length = Math.max(0, (plot * Math.abs(value)) / top);
    root.appendChild(label(LABEL_WIDTH - 6, y + 13, name.slice(0, 24), 'end'));
    root.appendChild(
      svg('rect', {
        x: LABEL_WIDTH,
        y: y + 2,
        width: length.toFixed(1),
        height: LANE_HEIGHT - 5,
        fill: PALETTE[n % PALETTE.length]
      })
    );
    root.appendChild(label(LABEL_WIDTH + length + 4, y + 13, show(value) + (part.unit || '')));
  });
  box.appendChild(root);
  return box;
}

export function renderLanes(part: ILanes): HTMLElement {
  const box = el('div', 'dspex-chart');
  if (part.title) {
    box.appendChild(el('b', '', part.title));
  }
  const [low, high] = part.extent;
  const plot = WIDTH - LABEL_WIDTH - 10;
  const scale = plot / Math.max(high - low, 1e-9);
  const height = LANE_HEIGHT * part.lanes.length + 24;
  const root = chart(height, 'dspex-lanes');
  part.lanes.forEach((name, n) => {
    root.appendChild(label(LABEL_WIDTH - 6, n * LANE_HEIGHT + 13, name.slice(0, 24), 'end'));
  });
  if (part.bins) {
    const columns = part.bins[0] ? part.bins[0].length : 1;
    const width = plot / columns;
    const top = Math.max(1, ...part.bins.map(row => Math.max(0, ...row)));
    part.bins.forEach((row, lane) => {
      row.forEach((count, column) => {
        if (count) {
          const rect = svg('rect', {
            x: (LABEL_WIDTH + column * width).toFixed(1),
            y: lane * LANE_HEIGHT + 2,
            width: Math.max(width, 1).toFixed(1),
            height: LANE_HEIGHT - 4,
            fill: '#4c78a8',
            'fill-opacity': (0.2 + (0.8 * count) / top).toFixed(2)
          });
          rect.appendChild(svg('title', {})).textContent = `${count} spans`;
          root.appendChild(rect);
        }
      });
    });
  }
  for (const [lane, start, end, kind, flag] of part.spans || []) {
    const state = part.flags[flag] || 'ok';
    const rect = svg('rect', {
      x: (LABEL_WIDTH + (start - low) * scale).toFixed(1),
      y: lane * LANE_HEIGHT + 3,
      width: Math.max((end - start) * scale, 1.5).toFixed(1),
      height: LANE_HEIGHT - 6,
      fill: FLAG_COLOURS[state] || PALETTE[kind % PALETTE.length],
      class: `dspex-span dspex-span-${state}`
    });
    if (state !== 'ok') {
      rect.setAttribute('stroke', '#000');
    }
    rect.appendChild(svg('title', {})).textContent =
      `${part.kinds[kind] ?? kind} ${state} +${start.toFixed(3)}s ${(1000 * (end - start)).toFixed(1)} ms`;
    root.appendChild(rect);
  }
  const axis = part.lanes.length * LANE_HEIGHT + 14;
  root.appendChild(label(LABEL_WIDTH, axis, `+${low.toFixed(3)} s`));
  root.appendChild(label(WIDTH - 10, axis, `+${high.toFixed(3)} s`, 'end'));
  box.appendChild(root);
  const legend = part.kinds.map(kind => `■ ${kind}`).join(' · ');
  box.appendChild(
    el(
      'div',
      'dspex-note',
      `${legend} · ${part.total.toLocaleString()} spans${part.bins ? ' (counted per lane and time bin; failed spans one by one)' : ''}`
    )
  );
  return box;
}
