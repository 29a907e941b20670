import { createMetrics } from '../../src/metrics';

const value = async (text: Promise<string>, series: string): Promise<number | undefined> => {
  const line = (await text).split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

test('idle scale-down metrics: every result present from the start, the in-flight gauge, the idle histogram', async () => {
  const metrics = createMetrics('test');
  const scrape = (): Promise<string> => metrics.registry.metrics();
  for (const result of ['scaled', 'conflict', 'aborted', 'denied', 'error'])
    expect(await value(scrape(), `faas_waker_idle_scale_downs_total{result="${result}"}`)).toBe(0);
  metrics.idle.inFlightChanged?.(1);
  metrics.idle.inFlightChanged?.(1);
  metrics.idle.inFlightChanged?.(-1);
  metrics.idle.scaleDown?.('scaled', 900_000);
  metrics.idle.scaleDown?.('conflict');
  metrics.idle.activityWrite?.('ok');
  expect(await value(scrape(), 'faas_waker_requests_in_flight')).toBe(1);
  expect(await value(scrape(), 'faas_waker_idle_scale_downs_total{result="scaled"}')).toBe(1);
  expect(await value(scrape(), 'faas_waker_idle_scale_downs_total{result="conflict"}')).toBe(1);
  expect(await value(scrape(), 'faas_waker_idle_seconds_sum')).toBe(900);
  expect(await value(scrape(), 'faas_waker_idle_seconds_count')).toBe(1);
  expect(await value(scrape(), 'faas_waker_activity_writes_total{result="ok"}')).toBe(1);
});
