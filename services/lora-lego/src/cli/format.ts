/** Plain-text tables for the CLI's stdout: the merge summary and `inspect`. */
import type { PeftAdapter } from '../adapter/index.js';
import type { MergeReport } from '../pipeline/merge-adapters.js';

function table(header: string[], rows: string[][], rightAligned: ReadonlySet<number>): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, c) => (rightAligned.has(c) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].map((l) => `  ${l}`).join('\n');
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

export interface MergeSummary {
  report: MergeReport;
  weights: readonly number[];
  out: string;
  weightsBytes: number;
  seconds: number;
  seed: number | string;
  reportPath?: string;
}

export function formatMergeSummary(s: MergeSummary): string {
  const { report } = s;
  const lines = [
    `merged ${report.inputs.length} adapter${report.inputs.length === 1 ? '' : 's'} with ${report.method}, k = ${report.k}, seed ${s.seed}, ${report.dtype}: ` +
      `${report.modules.length} modules, ${megabytes(s.weightsBytes)} → ${s.out} in ${s.seconds.toFixed(1)} s`,
    '',
    table(
      ['#', 'adapter', 'weight', 'modules', 'mean rel. error', 'mean retained energy'],
      report.inputs.map((input, i) => [
        String(i + 1),
        input.ref,
        String(s.weights[i] ?? 1),
        String(input.modules),
        input.meanRelativeError.toFixed(4),
        input.meanRetainedEnergy.toFixed(4),
      ]),
      new Set([0, 2, 3, 4, 5]),
    ),
  ];
  if (report.warnings.length > 0) lines.push('', 'warnings:', ...report.warnings.map((w) => `  - ${w}`));
  if (s.reportPath !== undefined) lines.push('', `report: ${s.reportPath}`);
  return `${lines.join('\n')}\n`;
}

/** What `inspect --json` prints for one adapter. */
export function describeAdapter(adapter: PeftAdapter): Record<string, unknown> {
  const c = adapter.config;
  return {
    path: adapter.label,
    baseModel: adapter.baseModel ?? null,
    config: {
      r: c.r,
      lora_alpha: c.lora_alpha,
      use_rslora: c.use_rslora ?? false,
      rank_pattern: c.rank_pattern ?? {},
      alpha_pattern: c.alpha_pattern ?? {},
      target_modules: c.target_modules ?? null,
    },
    dtypes: [...new Set(adapter.modules.map((m) => m.dtype))].sort(),
    modules: adapter.modules.map((m) => ({ name: m.name, kind: m.kind, r: m.r, alpha: m.alpha, scale: m.scale, dIn: m.dIn, dOut: m.dOut, dtype: m.dtype })),
    carried: adapter.carried.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape })),
  };
}

export function formatInspect(adapter: PeftAdapter): string {
  const c = adapter.config;
  const dtypes = [...new Set(adapter.modules.map((m) => m.dtype))].sort();
  const ranks = [...new Set(adapter.modules.map((m) => m.r))].sort((a, b) => a - b);
  const patterns = (p: Record<string, unknown> | null | undefined): string => {
    const keys = Object.keys(p ?? {});
    return keys.length === 0 ? 'none' : keys.map((k) => `${k}=${String(p![k])}`).join(', ');
  };
  const targets = c.target_modules == null ? '(not set)' : Array.isArray(c.target_modules) ? c.target_modules.join(', ') : c.target_modules;
  const lines = [
    adapter.label,
    `  base model:     ${adapter.baseModel ?? '(not set)'}`,
    `  r / lora_alpha: ${c.r} / ${c.lora_alpha}${c.use_rslora ? ' (rsLoRA: scale = alpha/√r)' : ''}`,
    `  rank_pattern:   ${patterns(c.rank_pattern)}`,
    `  alpha_pattern:  ${patterns(c.alpha_pattern)}`,
    `  target_modules: ${targets}`,
    `  modules:        ${adapter.modules.length} (ranks ${ranks.join(', ')}; dtype ${dtypes.join(', ')})`,
    `  other tensors:  ${adapter.carried.length === 0 ? 'none' : adapter.carried.map((t) => `${t.name} ${t.dtype}[${t.shape.join(', ')}]`).join('; ')}`,
    '',
    table(
      ['module', 'kind', 'r', 'alpha', 'scale', 'in→out', 'dtype'],
      adapter.modules.map((m) => [m.name, m.kind, String(m.r), String(m.alpha), String(Number(m.scale.toPrecision(6))), `${m.dIn}→${m.dOut}`, m.dtype]),
      new Set([2, 3, 4, 5]),
    ),
  ];
  return `${lines.join('\n')}\n`;
}
