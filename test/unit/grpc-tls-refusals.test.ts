import { RefusalLog } from '../../src/extproc/grpc-tls';
import { createLogger } from '../../src/logging';

interface Line {
  event?: string;
  refused?: number;
  reasons?: Record<string, number>;
}

test('refused handshakes: a new reason is logged at once, repeats are summed into the next line', () => {
  const lines: Line[] = [];
  const logger = createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line) as Line) });
  let now = 1_000;
  const log = new RefusalLog(logger, { refusedLogIntervalMs: 10_000, now: () => now });
  log.add('CERT_HAS_EXPIRED');
  expect(lines).toEqual([expect.objectContaining({ event: 'grpc.tls_refused', refused: 1, reasons: { CERT_HAS_EXPIRED: 1 } })]);
  log.add('CERT_HAS_EXPIRED');
  log.add('CERT_HAS_EXPIRED');
  expect(lines).toHaveLength(1); // within the interval: counted, not logged
  now += 1_000;
  log.add('UNABLE_TO_VERIFY_LEAF_SIGNATURE'); // new: logged at once, with the repeats so far
  expect(lines[1]).toEqual(expect.objectContaining({ refused: 3, reasons: { CERT_HAS_EXPIRED: 2, UNABLE_TO_VERIFY_LEAF_SIGNATURE: 1 } }));
  now += 10_000;
  log.add('CERT_HAS_EXPIRED'); // a known reason once the interval is over: logged at once
  expect(lines[2]).toEqual(expect.objectContaining({ refused: 1, reasons: { CERT_HAS_EXPIRED: 1 } }));
  expect(lines).toHaveLength(3);
});
