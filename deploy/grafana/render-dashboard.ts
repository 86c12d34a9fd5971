// Draws the provisioned Grafana dashboard's layout as an SVG picture for the docs: every panel where
// the JSON puts it, with its title, its kind, its unit and its queries (legend and PromQL). It shows no
// data — there is no Prometheus here — only what the JSON defines. A test keeps docs/dashboard.svg equal
// to what this prints for the current JSON.
//   node deploy/grafana/render-dashboard.ts            writes docs/dashboard.svg
//   node deploy/grafana/render-dashboard.ts --png      also docs/dashboard.png (needs rsvg-convert:
//                                                      Debian's librsvg2-bin)
import { readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const DASHBOARD_JSON = path.join(HERE, 'dashboards/prestamos-cdc.json');
export const SVG_FILE = path.resolve(HERE, '../../docs/dashboard.svg');
export const PNG_FILE = path.resolve(HERE, '../../docs/dashboard.png');

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: { expr: string; legendFormat?: string }[];
  fieldConfig?: { defaults?: { unit?: string } };
  panels?: Panel[];
}

const WIDTH = 1680;
const MARGIN = 16;
const HEADER = 64;
const COL = (WIDTH - 2 * MARGIN) / 24;
const ROW = 30;
const GAP = 6;
const COLORS = ['#73bf69', '#f2cc0c', '#5794f2', '#ff780a', '#f2495c', '#b877d9', '#8ab8ff', '#fade2a'];
const KIND: Record<string, string> = { timeseries: 'time series', stat: 'stat', bargauge: 'bar gauge', 'state-timeline': 'state timeline' };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
/** Cuts text to what fits in `px` at about `charPx` per character. */
const fit = (s: string, px: number, charPx: number) => {
  const n = Math.max(1, Math.floor(px / charPx));
  return s.length <= n ? s : s.slice(0, Math.max(0, n - 1)) + '…';
};

function panelSvg(p: Panel): string {
  const x = MARGIN + p.gridPos.x * COL + GAP / 2;
  const y = HEADER + p.gridPos.y * ROW + GAP / 2;
  const w = p.gridPos.w * COL - GAP;
  const h = p.gridPos.h * ROW - GAP;
  if (p.type === 'row') {
    return `<text x="${x + 4}" y="${y + 19}" class="row">${esc(p.title)}</text><line x1="${x}" y1="${y + h}" x2="${x + w}" y2="${y + h}" class="rule"/>`;
  }
  const out: string[] = [];
  out.push(`<rect x="${x}" y="${y}" width="${w}" height="${h}" rx="3" class="panel"/>`);
  const unit = p.fieldConfig?.defaults?.unit;
  const kind = `${KIND[p.type] ?? p.type}${unit && unit !== 'none' ? ` · ${unit}` : ''}`;
  const kindPx = kind.length * 6.2;
  if (kindPx + 7.4 * p.title.length + 30 <= w) {
    out.push(`<text x="${x + 10}" y="${y + 20}" class="title">${esc(p.title)}</text>`);
    out.push(`<text x="${x + w - 10}" y="${y + 20}" class="kind" text-anchor="end">${esc(kind)}</text>`);
  } else {
    // narrow panel: the kind goes under the title
    out.push(`<text x="${x + 10}" y="${y + 20}" class="title">${esc(fit(p.title, w - 20, 7.4))}</text>`);
    out.push(`<text x="${x + 10}" y="${y + 36}" class="kind">${esc(fit(kind, w - 20, 6.2))}</text>`);
  }
  const targets = p.targets ?? [];
  // a faint plot area for the chart kinds
  const plotTop = y + 32;
  const listHeight = targets.length * 30 + 6;
  const plotBottom = y + h - listHeight;
  if ((p.type === 'timeseries' || p.type === 'state-timeline') && plotBottom - plotTop > 24) {
    for (let i = 0; i <= 3; i++) {
      const ly = plotTop + ((plotBottom - plotTop) * i) / 3;
      out.push(`<line x1="${x + 10}" y1="${ly.toFixed(1)}" x2="${x + w - 10}" y2="${ly.toFixed(1)}" class="grid"/>`);
    }
  } else if (p.type === 'bargauge' && plotBottom - plotTop > 24) {
    const bars = Math.min(4, Math.max(1, Math.floor((plotBottom - plotTop) / 22)));
    for (let i = 0; i < bars; i++) out.push(`<rect x="${x + 10}" y="${plotTop + 4 + i * 22}" width="${w - 20}" height="14" rx="2" class="bar"/>`);
  }
  targets.forEach((t, i) => {
    const ty = y + h - listHeight + 6 + i * 30;
    const color = COLORS[i % COLORS.length]!;
    out.push(`<rect x="${x + 10}" y="${ty + 3}" width="10" height="3" fill="${color}"/>`);
    out.push(`<text x="${x + 26}" y="${ty + 9}" class="legend">${esc(fit(t.legendFormat || '(series)', w - 40, 6.4))}</text>`);
    out.push(`<text x="${x + 26}" y="${ty + 23}" class="expr">${esc(fit(t.expr, w - 40, 6.0))}</text>`);
  });
  return out.join('');
}

export function renderDashboardSvg(json: string): string {
  const dashboard = JSON.parse(json) as { title: string; panels: Panel[] };
  const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
  const bottom = Math.max(...panels.map((p) => p.gridPos.y + p.gridPos.h));
  const height = HEADER + bottom * ROW + MARGIN;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}">`,
    '<style>',
    'text{font-family:"DejaVu Sans",Inter,Helvetica,Arial,sans-serif;fill:#ccccdc}',
    '.h1{font-size:20px;font-weight:600;fill:#e6e6f0}.sub{font-size:12px;fill:#8e8e9e}',
    '.row{font-size:15px;font-weight:600;fill:#e6e6f0}.rule{stroke:#2c3235;stroke-width:1}',
    '.panel{fill:#181b1f;stroke:#2c3235;stroke-width:1}.title{font-size:13px;font-weight:600}',
    '.kind{font-size:11px;fill:#8e8e9e}.grid{stroke:#24292e;stroke-width:1}.bar{fill:#22252b}',
    '.legend{font-size:11px}.expr{font-family:"DejaVu Sans Mono",Menlo,monospace;font-size:10px;fill:#8e8e9e}',
    '</style>',
    `<rect width="${WIDTH}" height="${height}" fill="#111217"/>`,
    `<text x="${MARGIN}" y="30" class="h1">${esc(dashboard.title)}</text>`,
    `<text x="${MARGIN}" y="50" class="sub">Layout of deploy/grafana/dashboards/prestamos-cdc.json drawn from the JSON by deploy/grafana/render-dashboard.ts: panels, kinds, units and queries; no data.</text>`,
    ...panels.map(panelSvg),
    '</svg>',
    '',
  ].join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  writeFileSync(SVG_FILE, renderDashboardSvg(readFileSync(DASHBOARD_JSON, 'utf8')));
  console.log(`wrote ${path.relative(process.cwd(), SVG_FILE)}`);
  if (process.argv.includes('--png')) {
    execFileSync('rsvg-convert', ['--format=png', `--output=${PNG_FILE}`, SVG_FILE]);
    console.log(`wrote ${path.relative(process.cwd(), PNG_FILE)}`);
  }
}
