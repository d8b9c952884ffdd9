/**
 * The panel document's shape (dspex_lab/lab/document.py writes it).
 */
export interface IStats {
  kind: 'stats';
  items: [string, unknown][];
}

export interface ITable {
  kind: 'table';
  title: string;
  columns: string[];
  rows: unknown[][];
  marks?: string[];
  note?: string | null;
}

export interface IBars {
  kind: 'bars';
  title: string;
  labels: string[];
  values: number[];
  unit?: string;
}

export interface ILanes {
  kind: 'lanes';
  title: string;
  lanes: string[];
  kinds: string[];
  flags: string[];
  extent: [number, number];
  total: number;
  /** [lane, start s, end s, kind number, flag number] */
  spans?: [number, number, number, number, number][];
  bins?: number[][];
}

export interface IText {
  kind: 'text';
  title: string;
  body: string;
}

export interface IDetails {
  kind: 'details';
  title: string;
  sections: ISection[];
}

export type ISection = IStats | ITable | IBars | ILanes | IText | IDetails;

export interface IDocument {
  format: 'dspex_lab.panel';
  version: number;
  panel: string;
  title: string;
  sections: ISection[];
  data: Record<string, unknown>;
}

export const PANELS = ['evaluation', 'optimization', 'demos', 'timeline', 'compare'];
export const MIME_TYPES = PANELS.map(panel => `application/vnd.dspex.${panel}+json`);
export const WIDGET_MIME = 'application/vnd.jupyter.widget-view+json';
