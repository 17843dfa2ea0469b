import type { UsagePoint } from "./api.js";

/** Requests (allowed and rejected, stacked) per sampling interval, as an accessible SVG bar chart. */
export function UsageChart({ points, label }: { points: UsagePoint[]; label: string }) {
  const width = 480;
  const height = 120;
  const shown = points.slice(-60);
  const max = Math.max(1, ...shown.map((p) => p.requests));
  const bar = width / Math.max(shown.length, 1);
  const total = shown.reduce((s, p) => s + p.requests, 0);
  const rejected = shown.reduce((s, p) => s + p.rejected, 0);
  return (
    <figure class="chart">
      <svg
        viewBox={`0 0 ${width} ${height}`}
        role="img"
        aria-label={`${label}: ${total} requests, ${rejected} rejected`}
      >
        {shown.map((p, i) => {
          const allowed = ((p.requests - p.rejected) / max) * height;
          const denied = (p.rejected / max) * height;
          return (
            <g key={p.at}>
              <rect class="allowed" x={i * bar} y={height - allowed} width={Math.max(bar - 1, 1)} height={allowed} />
              <rect
                class="rejected"
                x={i * bar}
                y={height - allowed - denied}
                width={Math.max(bar - 1, 1)}
                height={denied}
              />
            </g>
          );
        })}
      </svg>
      <figcaption>
        {total} requests, {rejected} rejected (429) over the last {shown.length} samples
      </figcaption>
    </figure>
  );
}
