/** A small-multiples SVG: one panel per series, p50/p99 latency per second on a log scale, failures as bars. */
export interface ChartSeries {
  name: string;
  /** Per time bucket (1 s): p50 and p99 latency (ms) of requests sent in it, and the failure fraction. */
  buckets: { t: number; p50: number; p99: number; failed: number }[];
}
export interface ChartPhase {
  from: number;
  to: number;
  label: string;
  color: string;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function latencyChart(series: ChartSeries[], phases: ChartPhase[], durationS: number, title: string): string {
  const W = 900;
  const PH = 120;
  const LM = 60;
  const RM = 20;
  const TOP = 50;
  const GAP = 34;
  const H = TOP + series.length * (PH + GAP) + 30;
  const minMs = 10;
  const maxMs = 30_000;
  const x = (t: number) => LM + (t / durationS) * (W - LM - RM);
  const y = (ms: number, top: number) => {
    const v = Math.min(maxMs, Math.max(minMs, ms));
    return top + PH - ((Math.log10(v) - Math.log10(minMs)) / (Math.log10(maxMs) - Math.log10(minMs))) * PH;
  };
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${LM}" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`,
    `<g transform="translate(${W - 330},12)"><line x1="0" y1="6" x2="20" y2="6" stroke="#1f77b4" stroke-width="2"/><text x="24" y="10">p50</text>` +
      `<line x1="60" y1="6" x2="80" y2="6" stroke="#d62728" stroke-width="1.5"/><text x="84" y="10">p99</text>` +
      `<rect x="120" y="1" width="12" height="10" fill="#000" opacity="0.35"/><text x="136" y="10">failed share (bar height)</text></g>`,
  ];
  series.forEach((s, i) => {
    const top = TOP + i * (PH + GAP);
    parts.push(`<text x="${LM}" y="${top - 6}" font-weight="bold">${esc(s.name)}</text>`);
    for (const p of phases) {
      parts.push(`<rect x="${x(p.from)}" y="${top}" width="${x(p.to) - x(p.from)}" height="${PH}" fill="${p.color}" opacity="0.15"/>`);
      parts.push(`<text x="${x(p.from) + 3}" y="${top + 11}" fill="#555">${esc(p.label)}</text>`);
    }
    parts.push(`<rect x="${LM}" y="${top}" width="${W - LM - RM}" height="${PH}" fill="none" stroke="#999"/>`);
    for (const ms of [10, 100, 1000, 10_000]) {
      parts.push(`<line x1="${LM}" x2="${W - RM}" y1="${y(ms, top)}" y2="${y(ms, top)}" stroke="#ddd"/>`);
      parts.push(`<text x="${LM - 4}" y="${y(ms, top) + 4}" text-anchor="end" fill="#555">${ms >= 1000 ? `${ms / 1000}s` : `${ms}ms`}</text>`);
    }
    for (const b of s.buckets) {
      if (b.failed > 0) parts.push(`<rect x="${x(b.t)}" y="${top + PH - b.failed * PH * 0.5}" width="${Math.max(1, x(b.t + 1) - x(b.t) - 1)}" height="${b.failed * PH * 0.5}" fill="#000" opacity="0.35"/>`);
    }
    const line = (key: 'p50' | 'p99', color: string, width: number) => {
      const pts = s.buckets.filter((b) => Number.isFinite(b[key])).map((b) => `${x(b.t + 0.5).toFixed(1)},${y(b[key], top).toFixed(1)}`);
      if (pts.length) parts.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${color}" stroke-width="${width}"/>`);
    };
    line('p99', '#d62728', 1.5);
    line('p50', '#1f77b4', 2);
  });
  const lastTop = TOP + (series.length - 1) * (PH + GAP);
  for (let t = 0; t <= durationS; t += 5) parts.push(`<text x="${x(t)}" y="${lastTop + PH + 14}" text-anchor="middle" fill="#555">${t}s</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}
