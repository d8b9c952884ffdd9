/**
 * jupyterlab-dspex: dspex_lab's panels, runs and traces in JupyterLab.
 *
 * - A renderer for the panel documents (application/vnd.dspex.<panel>+json).
 *   In a notebook an output that also holds the live widget shows the widget
 *   while its kernel has it, and the document once it does not (a saved
 *   notebook reopened, a restarted kernel), in place of "model not found".
 * - `.dspex.json` files (saved documents) open from the file browser.
 * - A "Runs" side panel: the run store's runs, trace files and saved
 *   documents, served read-only by dspex_lab's Jupyter Server extension;
 *   open one, or tick two runs and compare them.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { MainAreaWidget } from '@jupyterlab/apputils';
import { MimeDocumentFactory } from '@jupyterlab/docregistry';
import { INotebookTracker } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Panel, Widget } from '@lumino/widgets';

import { renderDocument } from './render';
import { RunsPanel, fetchDocument } from './runs';
import { MIME_TYPES, WIDGET_MIME } from './types';

const DOCUMENT_MIME = 'application/vnd.dspex.document+json';
const FILE_TYPE = 'dspex-document';

/** Draws a panel document; with `live`, also the output's widget, shown instead while its model exists. */
export class DocumentRenderer extends Panel implements IRenderMime.IRenderer {
  constructor(
    private options: IRenderMime.IRendererOptions,
    private live?: () => IRenderMime.IRenderer | null
  ) {
    super();
    this.addClass('dspex-host');
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    for (const child of [...this.widgets]) {
      child.dispose();
    }
    const mime = MIME_TYPES.find(type => type in model.data) ?? this.options.mimeType;
    const node = document.createElement('div');
    node.className = 'dspex-static';
    try {
      node.appendChild(renderDocument(model.data[mime] ?? model.data[DOCUMENT_MIME]));
    } catch (error) {
      node.textContent = `Cannot show this dspex_lab output: ${error}`;
    }
    const widget = model.trusted && WIDGET_MIME in model.data && this.live ? this.live() : null;
    if (widget) {
      // CSS picks what shows: the live widget once its view is drawn, the document otherwise.
      widget.addClass('dspex-live');
      this.addWidget(widget);
      widget.renderModel(model).catch(error => console.warn('dspex: live widget not drawn', error));
    }
    this.addWidget(new Widget({ node }));
  }
}

function documentFactory(rendermime?: IRenderMimeRegistry): IRenderMime.IRendererFactory {
  return {
    safe: true,
    mimeTypes: [...MIME_TYPES, DOCUMENT_MIME],
    createRenderer: options =>
      new DocumentRenderer(options, () =>
        rendermime && rendermime.getFactory(WIDGET_MIME) ? rendermime.createRenderer(WIDGET_MIME) : null
      )
  };
}

const renderers: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-dspex:renderers',
  description: 'Renders dspex_lab panel documents, in outputs and as .dspex.json files.',
  autoStart: true,
  requires: [IRenderMimeRegistry],
  optional: [INotebookTracker],
  activate: (app: JupyterFrontEnd, rendermime: IRenderMimeRegistry, notebooks: INotebookTracker | null) => {
    // Everywhere: the document (ahead of its text/html form).
    rendermime.addFactory(documentFactory(), 40);
    // In notebooks: ahead of the widget renderer (rank -10), which it wraps.
    notebooks?.widgetAdded.connect((_, panel) => {
      const registry = panel.content.rendermime;
      registry.addFactory(documentFactory(registry), -20);
    });
    app.docRegistry.addFileType({
      name: FILE_TYPE,
      displayName: 'dspex_lab document',
      extensions: ['.dspex.json'],
      mimeTypes: [DOCUMENT_MIME],
      fileFormat: 'text',
      contentType: 'file'
    });
    const factory = new MimeDocumentFactory({
      name: 'dspex_lab document',
      primaryFileType: app.docRegistry.getFileType(FILE_TYPE),
      fileTypes: [FILE_TYPE],
      defaultFor: [FILE_TYPE],
      rendermime,
      dataType: 'json'
    });
    app.docRegistry.addWidgetFactory(factory);
  }
};

const runs: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-dspex:runs',
  description: 'A side panel listing dspex_lab runs and traces, to open or compare.',
  autoStart: true,
  optional: [ILayoutRestorer],
  activate: (app: JupyterFrontEnd, restorer: ILayoutRestorer | null) => {
    const open = async (query: Record<string, string>, label: string): Promise<void> => {
      const content = new Widget();
      content.addClass('dspex-opened');
      try {
        content.node.appendChild(renderDocument(await fetchDocument(query)));
      } catch (error) {
        content.node.textContent = String(error);
      }
      const widget = new MainAreaWidget({ content });
      widget.id = `dspex-${Object.values(query).join('-')}`.replace(/[^\w-]/g, '_');
      widget.title.label = label;
      widget.title.closable = true;
      app.shell.add(widget, 'main');
      app.shell.activateById(widget.id);
    };
    const panel = new RunsPanel({
      open,
      openFile: path => app.commands.execute('docmanager:open', { path })
    });
    app.shell.add(panel, 'left', { rank: 900 });
    restorer?.add(panel, panel.id);
  }
};

export default [renderers, runs];
