// uPlot charts: a thin Preact wrapper (created on mount, resized with its box, destroyed on unmount) and option
// builder for bar charts over categories (days, statuses, priorities, agents).
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { useLayoutEffect, useRef } from 'preact/hooks';

const AXIS = { stroke: '#6b7280', grid: { stroke: '#eef0f3', width: 1 }, ticks: { stroke: '#e5e7eb', width: 1 }, font: '11px system-ui, sans-serif' };
/** Counts: whole-number ticks only. */
const COUNT_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000];
const yRange = (_u: uPlot, _min: number, max: number): uPlot.Range.MinMax => [0, Math.max(4, Math.ceil(max * 1.15))];

export function Chart({ options, data, height = 220, testid, label }: {
  options: (width: number) => Omit<uPlot.Options, 'width' | 'height'>;
  data: uPlot.AlignedData;
  height?: number;
  testid: string;
  label: string;
}) {
  const ref = useRef<HTMLDivElement>(null);
  // A layout effect: the chart is replaced in the same frame as the numbers around it.
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return undefined;
    const width = Math.max(200, el.clientWidth);
    const plot = new uPlot({ ...options(width), width, height } as uPlot.Options, data, el);
    const ro = new ResizeObserver(() => {
      const w = Math.max(200, el.clientWidth);
      if (w !== plot.width) plot.setSize({ width: w, height });
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.destroy();
    };
  }, [data, height]);
  return <div class="chart" ref={ref} data-testid={testid} role="img" aria-label={label} />;
}

/** Bars over named categories (x = 0…n-1); several series are drawn side by side. */
export function categoryBars(labels: string[], series: { label: string; color: string }[], showLegend = false) {
  const n = series.length;
  // Long ranges (90 days) label every k-th bar only.
  const every = Math.max(1, Math.ceil(labels.length / 12));
  return (): Omit<uPlot.Options, 'width' | 'height'> => ({
    legend: { show: showLegend, live: false },
    cursor: { show: false },
    scales: {
      x: { time: false, range: [-0.5, labels.length - 0.5] },
      y: { range: yRange },
    },
    axes: [
      {
        ...AXIS,
        grid: { show: false },
        splits: () => labels.map((_, i) => i).filter((i) => (labels.length - 1 - i) % every === 0),
        values: (_u, splits) => splits.map((i) => labels[i] ?? ''),
      },
      { ...AXIS, incrs: COUNT_INCRS, size: 36 },
    ],
    series: [
      {},
      ...series.map((s, i) => ({
        label: s.label,
        fill: s.color,
        stroke: s.color,
        width: 0,
        points: { show: false },
        // Side by side: with two series the first hugs the tick from the left, the second from the right.
        paths: uPlot.paths.bars!({
          size: [n > 1 ? 0.35 : 0.7, 56],
          align: (n === 1 ? 0 : i === 0 ? -1 : 1) as -1 | 0 | 1,
          radius: 0.12,
        }),
      })),
    ],
  });
}
