/*
 * The benchmark's table: each figure for upstream-direct, the bare Node.js proxy, baseline
 * and ours (medians over the rounds), the ratio ours/baseline, and the issue's target for
 * it, met or not.
 */
import { median } from './measure';

const largest = (xs: number[]) => {
  const finite = xs.filter(x => !Number.isNaN(x));
  return finite.length ? Math.max(...finite) : NaN;
};

export type System = 'direct' | 'node' | 'baseline' | 'ours';
export const SYSTEMS: System[] = ['direct', 'node', 'baseline', 'ours'];
const TITLES: Record<System, string> = {
  direct: 'direct',
  node: 'Node pipe',
  baseline: 'baseline',
  ours: 'ours',
};

/**
 * A target: on the ratio ours/baseline, or on ours' own value. With `relativeTo`, ours' value
 * is held against `value` times ours' value in another row (by its label; `name` says it in
 * the table): "no more RSS growth than the unsigned upload's".
 */
export interface Target {
  on: 'ratio' | 'ours';
  at: 'least' | 'most';
  value: number;
  relativeTo?: { label: string; name: string };
}

/** How a row's rounds are summed up: the median, or the worst (largest) of them. */
export type Summary = 'median' | 'largest';

interface Row {
  label: string;
  unit: string;
  values: Record<System, number[]>;
  target?: Target;
  summary: Summary;
}

export class Report {
  private readonly rows = new Map<string, Row>();

  record(
    label: string,
    unit: string,
    system: System,
    value: number,
    target?: Target,
    summary: Summary = 'median',
  ) {
    let row = this.rows.get(label);
    if (!row) {
      row = { label, unit, values: { direct: [], node: [], baseline: [], ours: [] }, target, summary };
      this.rows.set(label, row);
    }
    row.values[system].push(value);
  }

  /**
   * The table, in Markdown, then which targets were met; unless `judge` is false (a quick
   * run, too short and too small for the targets), when the targets are shown, not judged.
   */
  render(heading: string, judge = true): string {
    const fmt = (x: number) => {
      if (!Number.isFinite(x)) return '—';
      if (Math.abs(x) >= 100) return x.toFixed(0);
      return Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2);
    };
    const header = ['figure', 'unit', ...SYSTEMS.map(s => TITLES[s]), 'ours/baseline', 'target', 'met'];
    const misses: string[] = [];
    let targets = 0;
    const summed = (row: Row, xs: number[]) => (row.summary === 'largest' ? largest(xs) : median(xs));
    const table = [...this.rows.values()].map(row => {
      const sum = (xs: number[]) => summed(row, xs);
      const summaries = SYSTEMS.map(s => sum(row.values[s]));
      const { baseline, ours } = row.values;
      // Of medians: round by round when both were measured each round (drift cancels).
      const ratio =
        row.summary === 'median' && baseline.length === ours.length && ours.length > 0
          ? median(ours.map((x, i) => x / baseline[i]))
          : sum(ours) / sum(baseline);
      let target = '';
      let met = '';
      if (row.target) {
        const { on, at, value, relativeTo } = row.target;
        const measured = on === 'ratio' ? ratio : sum(ours);
        const other = relativeTo && this.rows.get(relativeTo.label);
        const bound = relativeTo ? value * (other ? summed(other, other.values.ours) : NaN) : value;
        // NaN (the other row not measured) meets no target.
        const ok = at === 'least' ? measured >= bound : measured <= bound;
        const of = relativeTo ? `${value === 1 ? '' : `${value} × `}${relativeTo.name} (${fmt(bound)})` : `${value}`;
        target = `${on === 'ratio' ? 'ratio' : 'ours'} ${at === 'least' ? '≥' : '≤'} ${of}`;
        if (judge) met = ok ? 'yes' : 'NO';
        targets++;
        if (!ok) misses.push(`${row.label}: ${fmt(measured)}, target ${target}`);
      }
      return [
        row.label,
        row.unit,
        ...summaries.map(fmt),
        Number.isFinite(ratio) ? ratio.toFixed(2) : '—',
        target,
        met,
      ];
    });
    const widths = header.map((h, i) => Math.max(h.length, ...table.map(r => r[i].length)));
    const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
    return [
      '',
      heading,
      '',
      line(header),
      `|${widths.map(w => '-'.repeat(w + 2)).join('|')}|`,
      ...table.map(line),
      '',
      ...(judge
        ? [`Targets met: ${targets - misses.length} of ${targets}.`, ...misses.map(m => `  missed: ${m}`)]
        : ['A quick run is too short, and its transfers too small, to judge the targets by: run `npm run bench`.']),
      '',
    ].join('\n');
  }
}
