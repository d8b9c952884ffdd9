/**
 * The "Runs" side panel: what dspex_lab's server extension lists (GET dspex/api/runs),
 * each openable; tick two evaluation runs and compare them.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { Widget } from '@lumino/widgets';

export interface IRunEntry {
  run_id: string;
  created: number;
  total: number;
  finished: number;
  errors: number;
  score: number | null;
  metrics: string[];
}

export interface IListing {
  store: string;
  runs: IRunEntry[];
  traces: string[];
  documents: string[];
}

async function request(path: string, query: Record<string, string>): Promise<any> {
  const settings = ServerConnection.makeSettings();
  const search = new URLSearchParams(query).toString();
  const url = URLExt.join(settings.baseUrl, 'dspex', 'api', path) + (search ? `?${search}` : '');
  const reply = await ServerConnection.makeRequest(url, {}, settings);
  const body = await reply.json();
  if (!reply.ok) {
    throw new Error(body.message || reply.statusText);
  }
  return body;
}

/** A panel document from the server: `{run}`, `{trace}`, or `{a, b}` to compare. */
export function fetchDocument(query: Record<string, string>): Promise<unknown> {
  return request('a' in query ? 'compare' : 'document', query);
}

export class RunsPanel extends Widget {
  private picked: string[] = [];

  constructor(
    private actions: {
      open: (query: Record<string, string>, label: string) => Promise<void>;
      openFile: (path: string) => Promise<unknown>;
    }
  ) {
    super();
    this.id = 'dspex-runs';
    this.addClass('dspex-runs');
    this.title.label = 'Runs';
    this.title.caption = 'dspex_lab runs and traces';
    void this.refresh();
  }

  protected onAfterShow(): void {
    void this.refresh();
  }

  async refresh(): Promise<void> {
    const node = this.node;
    node.textContent = '';
    const bar = document.createElement('div');
    bar.className = 'dspex-runs-bar';
    const reload = button('Refresh', () => void this.refresh());
    const compare = button('Compare 2 ticked runs', () => {
      const [a, b] = this.picked;
      void this.actions.open({ a, b }, `${a} vs ${b}`);
    });
    compare.classList.add('dspex-compare');
    compare.disabled = this.picked.length !== 2;
    bar.append(reload, compare);
    node.appendChild(bar);
    let listing: IListing;
    try {
      listing = await request('runs', {});
    } catch (error) {
      node.appendChild(paragraph(`Cannot list runs: ${error}`));
      return;
    }
    node.appendChild(heading(`Evaluation runs (${listing.runs.length})`));
    const list = document.createElement('ul');
    for (const run of listing.runs) {
      const item = document.createElement('li');
      item.className = 'dspex-run';
      item.dataset.runId = run.run_id;
      const tick = document.createElement('input');
      tick.type = 'checkbox';
      tick.checked = this.picked.includes(run.run_id);
      tick.addEventListener('change', () => {
        this.picked = tick.checked
          ? [...this.picked.filter(id => id !== run.run_id), run.run_id].slice(-2)
          : this.picked.filter(id => id !== run.run_id);
        for (const other of Array.from(list.querySelectorAll('li'))) {
          const box = other.querySelector('input') as HTMLInputElement;
          box.checked = this.picked.includes((other as HTMLElement).dataset.runId || '');
        }
        compare.disabled = this.picked.length !== 2;
      });
      const score = run.score === null ? '-' : run.score.toFixed(3);
      const link = anchor(run.run_id, () => void this.actions.open({ run: run.run_id }, run.run_id));
      item.append(tick, link, text(` score ${score} · ${run.finished}/${run.total} · errors ${run.errors}`));
      list.appendChild(item);
    }
    node.appendChild(list);
    node.appendChild(heading(`Trace files (${listing.traces.length})`));
    node.appendChild(
      links(listing.traces, path => void this.actions.open({ trace: path }, path.split('/').pop() || path))
    );
    node.appendChild(heading(`Saved documents (${listing.documents.length})`));
    node.appendChild(links(listing.documents, path => void this.actions.openFile(path)));
    node.appendChild(paragraph(`run store: ${listing.store}`));
  }
}

function links(paths: string[], open: (path: string) => void): HTMLElement {
  const list = document.createElement('ul');
  for (const path of paths) {
    const item = document.createElement('li');
    item.appendChild(anchor(path, () => open(path)));
    list.appendChild(item);
  }
  return list;
}

function button(label: string, click: () => void): HTMLButtonElement {
  const node = document.createElement('button');
  node.className = 'jp-mod-styled';
  node.textContent = label;
  node.addEventListener('click', click);
  return node;
}

function anchor(label: string, click: () => void): HTMLElement {
  const node = document.createElement('a');
  node.href = '#';
  node.className = 'dspex-open';
  node.textContent = label;
  node.addEventListener('click', event => {
    event.preventDefault();
    click();
  });
  return node;
}

function heading(label: string): HTMLElement {
  const node = document.createElement('h4');
  node.textContent = label;
  return node;
}

function paragraph(label: string): HTMLElement {
  const node = document.createElement('p');
  node.className = 'dspex-note';
  node.textContent = label;
  return node;
}

function text(label: string): Text {
  return document.createTextNode(label);
}
