// The migration report as Markdown or as one self-contained HTML page (inline CSS and SVG charts, no
// script, nothing fetched), from the data of migration-report.ts. Pure functions: everything shown is
// escaped for its format.
import type { MigrationReportData, CriterionResult } from './migration-report.ts';
import type { ProgressSample } from './progress-recorder.ts';

export interface ChartPoint {
  t: number;
  v: number;
}

export interface ChartSeries {
  title: string;
  unit: string;
  points: ChartPoint[];
}

/** Progress (% of legacy rows migrated), end-to-end lag (s) and throughput (changes applied / s) over the run. */
export function chartSeries(samples: ProgressSample[]): ChartSeries[] {
  const progress: ChartPoint[] = [];
  const lag: ChartPoint[] = [];
  const throughput: ChartPoint[] = [];
  let prev: ProgressSample | undefined;
  for (const s of samples) {
    const t = Date.parse(s.at);
    const total = Object.values(s.totals).reduce((a, b) => a + b, 0);
    const migrated = Object.entries(s.migrated).reduce((a, [k, n]) => a + Math.min(n, s.totals[k] ?? n), 0);
    progress.push({ t, v: total > 0 ? (migrated / total) * 100 : 100 });
    if (s.lagSeconds !== null) lag.push({ t, v: s.lagSeconds });
    if (prev) {
      const dt = (t - Date.parse(prev.at)) / 1000;
      const dn = s.eventsApplied - prev.eventsApplied;
      if (dt > 0 && dn >= 0) throughput.push({ t, v: dn / dt });
    }
    prev = s;
  }
  return [
    { title: 'Progress: legacy rows migrated', unit: '%', points: progress },
    { title: 'End-to-end lag', unit: 's', points: lag },
    { title: 'Throughput: changes applied', unit: '/s', points: throughput },
  ];
}

export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const escapeMd = (s: string) => s.replace(/[\\`*_{}[\]<>|#]/g, (c) => `\\${c}`).replace(/\r?\n/g, ' ');
const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2));
const time = (t: number) => new Date(t).toISOString().slice(11, 19);

/** A line chart as inline SVG: axes, the first and last time, the minimum and maximum value. */
export function svgLineChart(s: ChartSeries, width = 620, height = 180): string {
  const pad = { l: 52, r: 12, t: 26, b: 26 };
  const w = width - pad.l - pad.r;
  const h = height - pad.t - pad.b;
  const head = `<svg xmlns="http://www.w3.org/2000/svg" role="img" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" aria-label="${escapeHtml(s.title)}">
<text x="${pad.l}" y="16" font-size="13" font-weight="600" fill="#1f2933">${escapeHtml(s.title)} (${escapeHtml(s.unit)})</text>
<rect x="${pad.l}" y="${pad.t}" width="${w}" height="${h}" fill="#f7f9fb" stroke="#cbd2d9"/>`;
  if (s.points.length < 2) return `${head}<text x="${pad.l + 10}" y="${pad.t + h / 2}" font-size="12" fill="#7b8794">not enough samples yet (${s.points.length})</text></svg>`;
  const t0 = s.points[0]!.t;
  const t1 = s.points[s.points.length - 1]!.t;
  const vs = s.points.map((p) => p.v);
  const lo = Math.min(0, ...vs);
  const hi = Math.max(...vs) === lo ? lo + 1 : Math.max(...vs);
  const x = (t: number) => pad.l + (t1 === t0 ? 0 : ((t - t0) / (t1 - t0)) * w);
  const y = (v: number) => pad.t + h - ((v - lo) / (hi - lo)) * h;
  const line = s.points.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ');
  return `${head}
<polyline fill="none" stroke="#2563eb" stroke-width="2" points="${line}"/>
<text x="${pad.l - 6}" y="${pad.t + 10}" font-size="11" text-anchor="end" fill="#52606d">${fmt(hi)}</text>
<text x="${pad.l - 6}" y="${pad.t + h}" font-size="11" text-anchor="end" fill="#52606d">${fmt(lo)}</text>
<text x="${pad.l}" y="${height - 8}" font-size="11" fill="#52606d">${time(t0)} UTC</text>
<text x="${pad.l + w}" y="${height - 8}" font-size="11" text-anchor="end" fill="#52606d">${time(t1)} UTC · last ${fmt(vs[vs.length - 1]!)} ${escapeHtml(s.unit)}</text>
</svg>`;
}

const SPARK = '▁▂▃▄▅▆▇█';
/** A text sparkline of up to 40 points (Markdown has no pictures of its own). */
export function sparkline(points: ChartPoint[]): string {
  if (points.length === 0) return '(no samples)';
  const step = Math.max(1, Math.ceil(points.length / 40));
  const vs = points.filter((_, i) => i % step === 0).map((p) => p.v);
  const lo = Math.min(...vs);
  const hi = Math.max(...vs);
  return vs.map((v) => SPARK[hi === lo ? 0 : Math.round(((v - lo) / (hi - lo)) * (SPARK.length - 1))]).join('');
}

function summaryCounts(criteria: CriterionResult[]) {
  const ok = criteria.filter((c) => c.ok).length;
  return { ok, total: criteria.length, allOk: ok === criteria.length };
}

export function renderMarkdown(d: MigrationReportData): string {
  const s = summaryCounts(d.criteria);
  const out: string[] = [];
  out.push(`# prestamos-cdc migration report`, '');
  out.push(`Generated ${d.generatedAt} on database \`${d.database}\`. Phase: **${d.progress.phase}**${d.progress.readsFrom ? `, reads from the ${d.progress.readsFrom} tables` : ''}.`, '');
  out.push(`**${s.ok} of ${s.total} checks pass${s.allOk ? '' : ' — NOT READY'}.** Consistency from ${escapeMd(d.consistency.source)}.`, '');
  let section = '';
  for (const c of d.criteria) {
    const heading = `${c.guide} — ${c.section}`;
    if (heading !== section) {
      section = heading;
      out.push('', `## ${escapeMd(heading)}`, '', '| | item | evidence |', '|---|---|---|');
    }
    out.push(`| ${c.ok ? '✅' : '❌'} | ${escapeMd(c.item)} | ${escapeMd(c.evidence)} |`);
  }
  out.push('', '## Capital per junta', '', `${d.juntas.total} juntas; the ${d.juntas.shown.length} listed first are those that are off, then by name.`, '');
  out.push('| | junta | current | available | calculated available | available − current | Σ interest − Σ outstanding |', '|---|---|---|---|---|---|---|');
  for (const j of d.juntas.shown) out.push(`| ${j.ok ? '✅' : '❌'} | ${escapeMd(j.nombre ?? j.juntaId)} | ${j.currentCapital} | ${j.availableCapital} | ${j.calculatedAvailable} | ${j.availableMinusCurrent} | ${j.interestPaidMinusOutstanding} |`);
  out.push('', '## The run', '');
  for (const c of chartSeries(d.samples)) out.push(`- ${escapeMd(c.title)} (${c.unit}): \`${sparkline(c.points)}\` ${c.points.length ? `last ${fmt(c.points[c.points.length - 1]!.v)}, max ${fmt(Math.max(...c.points.map((p) => p.v)))}` : ''}`);
  out.push('', '## Failed records, repairs, cutovers', '');
  out.push(`- Failed records open: ${d.failedRecords.count}`);
  for (const f of d.failedRecords.records) out.push(`  - #${f.id} ${escapeMd(f.sourceTable ?? '?')} ${escapeMd(f.rowId ?? '?')}: ${escapeMd(f.error.slice(0, 200))}`);
  out.push(`- Self-repairs: ${d.repairs.total}`);
  for (const r of d.repairs.recent) out.push(`  - ${r.at}: ${escapeMd(JSON.stringify((r.params as { target?: unknown })?.target ?? null))} — ${escapeMd(r.outcome)}`);
  out.push(`- Cutovers: ${d.cutovers.length}`);
  for (const c of d.cutovers) out.push(`  - ${c.at} by ${escapeMd(c.actor)}: ${escapeMd(JSON.stringify(c.params))} — ${escapeMd(c.outcome)}`);
  out.push('');
  return out.join('\n');
}

const CSS = `body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2933;margin:24px auto;max-width:1100px;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #e4e7eb;padding-bottom:4px}
table{border-collapse:collapse;width:100%;margin:6px 0}th,td{border:1px solid #e4e7eb;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f5f7fa}td.ok{color:#0b7a3e;font-weight:700}td.no{color:#b42318;font-weight:700}
.verdict{padding:10px 14px;border-radius:6px;font-weight:600;margin:12px 0}.pass{background:#e3f9ea;color:#0b7a3e}.fail{background:#fde8e7;color:#b42318}
.charts{display:flex;flex-wrap:wrap;gap:12px}.muted{color:#616e7c}code{background:#f5f7fa;padding:1px 4px;border-radius:3px}`;

export function renderHtml(d: MigrationReportData): string {
  const s = summaryCounts(d.criteria);
  const e = escapeHtml;
  const rows: string[] = [];
  let section = '';
  for (const c of d.criteria) {
    const heading = `${c.guide} — ${c.section}`;
    if (heading !== section) {
      section = heading;
      rows.push(`<tr><th colspan="3">${e(heading)}</th></tr>`);
    }
    rows.push(`<tr><td class="${c.ok ? 'ok' : 'no'}" title="${c.ok ? 'pass' : 'fail'}">${c.ok ? '✔ pass' : '✘ fail'}</td><td>${e(c.item)}</td><td>${e(c.evidence)}</td></tr>`);
  }
  const juntas = d.juntas.shown
    .map((j) => `<tr><td class="${j.ok ? 'ok' : 'no'}">${j.ok ? '✔' : '✘'}</td><td>${e(j.nombre ?? j.juntaId)}</td><td>${e(j.currentCapital)}</td><td>${e(j.availableCapital)}</td><td>${e(j.calculatedAvailable)}</td><td>${e(j.availableMinusCurrent)}</td><td>${e(j.interestPaidMinusOutstanding)}</td></tr>`)
    .join('\n');
  const tables = d.progress.tables.map((t) => `<tr><td>${e(t.table)}</td><td>${t.total}</td><td>${t.migrated}</td><td>${t.failed}</td><td>${t.remaining}</td><td>${t.percent} %</td></tr>`).join('\n');
  const audit = (list: MigrationReportData['cutovers'], what: (x: MigrationReportData['cutovers'][number]) => string) =>
    list.length ? `<ul>${list.map((x) => `<li>${e(x.at)} — ${e(what(x))}: ${e(x.outcome)}</li>`).join('')}</ul>` : '<p class="muted">none</p>';
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>prestamos-cdc migration report — ${e(d.database)}</title><style>${CSS}</style></head>
<body>
<h1>prestamos-cdc migration report</h1>
<p class="muted">Generated ${e(d.generatedAt)} on database <code>${e(d.database)}</code>. Phase: <b>${e(d.progress.phase)}</b>${d.progress.readsFrom ? `, reads from the ${e(d.progress.readsFrom)} tables` : ''}. Consistency from ${e(d.consistency.source)}.</p>
<div class="verdict ${s.allOk ? 'pass' : 'fail'}" id="verdict">${s.ok} of ${s.total} checks pass${s.allOk ? ': every success criterion and post-migration check is met' : ' — NOT READY'}</div>
<h2>Success criteria and post-migration verification</h2>
<table id="criteria"><tr><th>result</th><th>item</th><th>evidence from the live system</th></tr>
${rows.join('\n')}
</table>
<h2>The run</h2>
<div class="charts">${chartSeries(d.samples).map((c) => svgLineChart(c)).join('\n')}</div>
<h2>Per table</h2>
<table><tr><th>table</th><th>legacy rows</th><th>migrated</th><th>failed</th><th>remaining</th><th>done</th></tr>
${tables}
</table>
<h2>Capital per junta</h2>
<p class="muted">${d.juntas.total} juntas; the ${d.juntas.shown.length} listed first are those that are off, then by name. Cross-check: available − current = Σ interest_paid − Σ outstanding_principal.</p>
<table id="juntas"><tr><th></th><th>junta</th><th>current</th><th>available</th><th>calculated available</th><th>available − current</th><th>Σ interest − Σ outstanding</th></tr>
${juntas}
</table>
<h2>Failed records, repairs, cutovers</h2>
<p>Failed records open: ${d.failedRecords.count}</p>
${d.failedRecords.records.length ? `<ul>${d.failedRecords.records.map((f) => `<li>#${e(f.id)} ${e(f.sourceTable ?? '?')} ${e(f.rowId ?? '?')}: ${e(f.error.slice(0, 200))}</li>`).join('')}</ul>` : ''}
<p>Self-repairs: ${d.repairs.total}</p>
${audit(d.repairs.recent, (x) => JSON.stringify((x.params as { target?: unknown })?.target ?? null))}
<p>Cutovers: ${d.cutovers.length}</p>
${audit(d.cutovers, (x) => `${x.actor} ${JSON.stringify(x.params)}`)}
</body></html>
`;
}
