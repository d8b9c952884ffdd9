/**
 * The document renderer draws what the Python panels put in a saved document.
 */
import { renderDocument } from '../src/render';

const evaluation = {
  format: 'dspex_lab.panel',
  version: 1,
  panel: 'evaluation',
  title: 'evaluate Predict · run eval-1',
  sections: [
    { kind: 'stats', items: [['score', '0.667'], ['errors', 1]] },
    { kind: 'bars', title: 'examples by outcome', labels: ['passed ✓', 'failed ✗', 'errors'], values: [4, 1, 1] },
    {
      kind: 'table',
      title: 'examples',
      columns: ['#', '', 'score', 'expected', 'predicted'],
      rows: [
        [2, 'error', '0', 'answer=a2', ''],
        [1, '✗', '0', 'answer=a1', 'answer=wrong'],
        [10, '✓', '1', 'answer=a10', 'answer=a10']
      ],
      marks: ['error', 'fail', 'pass'],
      note: '✓ = score ≥ 0.5'
    },
    { kind: 'details', title: 'errors (1)', sections: [{ kind: 'text', title: '#2', body: 'Traceback\nValueError' }] }
  ],
  data: { examples: [{ index: 2, traceback: 'Traceback\nValueError' }, { index: 1 }, { index: 10 }] }
};

describe('renderDocument', () => {
  it('draws the score line, the chart with a fixed height, and every row marked', () => {
    const node = renderDocument(evaluation);
    expect(node.querySelector('h3')!.textContent).toBe('evaluate Predict · run eval-1');
    expect(node.querySelector('.dspex-stats')!.textContent).toContain('score 0.667');
    const chart = node.querySelector('svg.dspex-bars')!;
    expect(chart.getAttribute('height')).toBe(String(3 * 18 + 8));
    expect(chart.querySelectorAll('rect')).toHaveLength(3);
    expect(node.querySelectorAll('tbody tr')).toHaveLength(3);
    expect(node.querySelectorAll('tr.dspex-fail')).toHaveLength(1);
    expect(node.querySelectorAll('tr.dspex-error')).toHaveLength(1);
    expect(node.querySelector('details')!.hasAttribute('open')).toBe(false);
  });

  it('sorts every row by a clicked header, numbers as numbers, and back on a second click', () => {
    const node = renderDocument(evaluation);
    const first = () => Array.from(node.querySelectorAll('tbody tr')).map(row => row.firstChild!.textContent);
    (node.querySelectorAll('th')[0] as HTMLElement).click();
    expect(first()).toEqual(['1', '2', '10']);
    (node.querySelectorAll('th')[0] as HTMLElement).click();
    expect(first()).toEqual(['10', '2', '1']);
  });

  it('opens a clicked row with its full record, traceback included', () => {
    const node = renderDocument(evaluation);
    (node.querySelector('tbody tr') as HTMLElement).click();
    const detail = node.querySelector('.dspex-row-detail')!;
    expect(detail.querySelector('pre')!.textContent).toBe('Traceback\nValueError');
  });

  it('marks failed, retried and cancelled spans apart on the timeline', () => {
    const node = renderDocument({
      format: 'dspex_lab.panel',
      version: 1,
      panel: 'timeline',
      title: 'Timeline',
      sections: [
        {
          kind: 'lanes',
          title: 'spans',
          lanes: ['lm', 'qa'],
          kinds: ['lm.request', 'program'],
          flags: ['ok', 'error', 'retried', 'cancelled'],
          extent: [0, 1],
          total: 4,
          spans: [[0, 0, 0.5, 0, 0], [0, 0.5, 0.6, 0, 1], [1, 0, 1, 1, 2], [1, 0.2, 0.3, 1, 3]]
        }
      ],
      data: {}
    });
    expect(node.querySelectorAll('rect.dspex-span-error')).toHaveLength(1);
    expect(node.querySelectorAll('rect.dspex-span-retried')).toHaveLength(1);
    expect(node.querySelectorAll('rect.dspex-span-cancelled')).toHaveLength(1);
    expect(node.querySelector('svg')!.getAttribute('height')).toBe(String(2 * 18 + 24));
  });

  it('refuses data that is not a panel document', () => {
    expect(() => renderDocument({ rows: [] })).toThrow('not a dspex_lab panel document');
  });
});
