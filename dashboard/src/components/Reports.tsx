// Reports (supervisor+): GET /reports/overview?days=7|30|90 as KPI cards and uPlot charts. Loaded lazily (uPlot
// is only downloaded by those who open this page).
import { useEffect, useMemo, useState } from 'preact/hooks';
import type uPlot from 'uplot';
import { api, errorMessage, PRIORITIES, type Reports as ReportData } from '../api';
import { duration, humanize } from '../format';
import { useLive } from '../live';
import { Chart, categoryBars } from './Chart';
import { ErrorBanner, Loading } from './ui';

const RANGES = [7, 30, 90] as const;
const PRIORITY_COLORS: Record<string, string> = { urgent: '#dc2626', high: '#f59e0b', medium: '#6366f1', low: '#94a3b8' };

const DAY = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });
const minutes = (m: number | null) => (m === null ? '—' : duration(m * 60_000));
const hours = (h: number | null) => (h === null ? '—' : duration(h * 3600_000));

export function Reports() {
  const [days, setDays] = useState<number>(7);
  const [data, setData] = useState<ReportData | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);

  async function load(d: number) {
    setLoading(true);
    try {
      setData(await api.reports(d));
      setError(null);
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setLoading(false);
    }
  }
  useEffect(() => {
    void load(days);
  }, [days]);
  useLive((m) => {
    if (m.type === 'ticket' && m.event !== 'updated') void load(days);
  });

  return (
    <div class="page reports" data-testid="reports">
      <div class="page-head">
        <h1>Reports</h1>
        <div class="segmented" role="group" aria-label="Range">
          {RANGES.map((r) => (
            <button key={r} type="button" class={r === days ? 'active' : ''} aria-pressed={r === days}
              onClick={() => setDays(r)} data-testid={`range-${r}`}>Last {r} days</button>
          ))}
        </div>
      </div>
      <ErrorBanner error={error} testid="reports-error" />
      {!data && loading && <Loading label="Loading reports…" />}
      {data && <ReportBody data={data} />}
    </div>
  );
}

function ReportBody({ data }: { data: ReportData }) {
  const created = useMemo<uPlot.AlignedData>(() => [
    data.created_per_day.map((_, i) => i), data.created_per_day.map((d) => d.count),
  ], [data]);
  const dayLabels = data.created_per_day.map((d) => DAY.format(new Date(`${d.date}T00:00:00Z`)));
  const statusLabels = Object.keys(data.open_by_status);
  const byStatus = useMemo<uPlot.AlignedData>(() => [
    statusLabels.map((_, i) => i), statusLabels.map((k) => data.open_by_status[k] ?? 0),
  ], [data]);
  const priorities = PRIORITIES.filter((p) => p in data.open_by_priority);
  const byPriority = useMemo<uPlot.AlignedData>(() => [
    priorities.map((_, i) => i), priorities.map((k) => data.open_by_priority[k] ?? 0),
  ], [data]);
  const agents = data.agents;
  const byAgent = useMemo<uPlot.AlignedData>(() => [
    agents.map((_, i) => i), agents.map((a) => a.open), agents.map((a) => a.pending),
  ], [data]);
  const totalCreated = data.created_per_day.reduce((s, d) => s + d.count, 0);
  const slaTotal = data.sla.met + data.sla.breached;

  return (
    <>
      <div class="kpis">
        <Kpi testid="kpi-created" label="Tickets created" value={String(totalCreated)} sub={`in the last ${data.days} days`} />
        <Kpi testid="kpi-first-response" label="First response" value={minutes(data.first_response.median_minutes)}
          sub={`median · p90 ${minutes(data.first_response.p90_minutes)} · ${data.first_response.count} tickets`} />
        <Kpi testid="kpi-resolution" label="Resolution" value={hours(data.resolution.median_hours)}
          sub={`median · p90 ${hours(data.resolution.p90_hours)} · ${data.resolution.count} tickets`} />
        <Kpi testid="kpi-sla" label="SLA met" value={slaTotal ? `${Math.round((data.sla.met / slaTotal) * 100)}%` : '—'}
          sub={`${data.sla.met} met · ${data.sla.breached} breached · ${data.sla.at_risk} at risk`}
          tone={slaTotal && data.sla.met / slaTotal < 0.9 ? 'bad' : 'ok'} />
        <Kpi testid="kpi-ai" label="AI drafts sent" value={String(data.ai_drafts.sent)}
          sub={`mean edit distance ${data.ai_drafts.mean_edit_distance === null ? '—' : data.ai_drafts.mean_edit_distance.toFixed(1)} · ${data.ai_drafts.unchanged} unchanged`} />
      </div>

      <div class="charts">
        <section class="card chart-card wide">
          <h2>Tickets created per day</h2>
          <Chart testid="chart-created" label="Tickets created per day" data={created} options={categoryBars(dayLabels, [{ label: 'Created', color: '#6366f1' }])} />
        </section>
        <section class="card chart-card">
          <h2>Open by status</h2>
          <Chart testid="chart-status" label="Open tickets by status" data={byStatus} height={200}
            options={categoryBars(statusLabels.map(humanize), [{ label: 'Tickets', color: '#0ea5e9' }])} />
        </section>
        <section class="card chart-card">
          <h2>Open by priority</h2>
          <Chart testid="chart-priority" label="Open tickets by priority" data={byPriority} height={200}
            options={categoryBars(priorities.map(humanize), [{ label: 'Tickets', color: PRIORITY_COLORS.medium! }])} />
        </section>
        <section class="card chart-card wide">
          <h2>Load per agent</h2>
          {agents.length ? (
            <Chart testid="chart-agents" label="Open and pending tickets per agent" data={byAgent} height={220}
              options={categoryBars(agents.map((a) => a.name), [
                { label: 'Open', color: '#6366f1' }, { label: 'Pending', color: '#f59e0b' },
              ], true)} />
          ) : <p class="muted">No assigned tickets.</p>}
          <table class="simple" data-testid="agents-table">
            <thead><tr><th>Agent</th><th>Open</th><th>Pending</th><th>Replies in range</th></tr></thead>
            <tbody>
              {agents.map((a) => (
                <tr key={a.staff_id}><td>{a.name}</td><td>{a.open}</td><td>{a.pending}</td><td>{a.replies}</td></tr>
              ))}
            </tbody>
          </table>
        </section>
      </div>
    </>
  );
}

function Kpi({ label, value, sub, testid, tone }: { label: string; value: string; sub: string; testid: string; tone?: 'ok' | 'bad' }) {
  return (
    <div class={`card kpi ${tone ? `kpi-${tone}` : ''}`} data-testid={testid}>
      <span class="kpi-label">{label}</span>
      <strong class="kpi-value" data-testid={`${testid}-value`}>{value}</strong>
      <span class="kpi-sub">{sub}</span>
    </div>
  );
}
