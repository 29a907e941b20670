import {
  ClientGoneError,
  errorMessage,
  FunctionNotFoundError,
  HoldTimeoutError,
  InvalidFunctionNameError,
  ProviderError,
  ProviderUnavailableError,
  QueueFullError,
  ShuttingDownError,
  NoWakePathError,
  toHttpAnswer,
  WakeError,
  WakeTimeoutError,
  type HttpAnswer,
} from '../../src/errors';

const DETAIL = 'SECRET-DETAIL provider said: password=hunter2';

describe('toHttpAnswer: the status table (DESIGN.md §5)', () => {
  test.each<[string, unknown, HttpAnswer]>([
    [
      'InvalidFunctionNameError',
      new InvalidFunctionNameError(DETAIL),
      { status: 400, reason: 'invalid_name', body: 'invalid function name\n', details: 'faas_waker_invalid_function_name' },
    ],
    [
      'FunctionNotFoundError',
      new FunctionNotFoundError(DETAIL),
      { status: 404, reason: 'not_found', body: 'function not found\n', details: 'faas_waker_function_not_found' },
    ],
    [
      'QueueFullError',
      new QueueFullError(DETAIL),
      {
        status: 503,
        reason: 'queue_full',
        body: 'too many requests waiting for this function\n',
        details: 'faas_waker_hold_queue_full',
        retryAfterSec: 1,
      },
    ],
    [
      'HoldTimeoutError',
      new HoldTimeoutError(DETAIL),
      {
        status: 504,
        reason: 'hold_timeout',
        body: 'function did not become ready in time\n',
        details: 'faas_waker_hold_timeout',
        retryAfterSec: 2,
      },
    ],
    [
      'WakeTimeoutError',
      new WakeTimeoutError(DETAIL),
      {
        status: 504,
        reason: 'wake_timeout',
        body: 'function did not become ready in time\n',
        details: 'faas_waker_wake_timeout',
        retryAfterSec: 5,
      },
    ],
    [
      'ProviderUnavailableError',
      new ProviderUnavailableError(DETAIL),
      {
        status: 503,
        reason: 'provider_unavailable',
        body: 'function provider unavailable\n',
        details: 'faas_waker_provider_unavailable',
        retryAfterSec: 5,
      },
    ],
    [
      'ProviderError',
      new ProviderError(DETAIL, 500),
      { status: 502, reason: 'provider_error', body: 'function provider error\n', details: 'faas_waker_provider_error' },
    ],
    [
      'ProviderError without status',
      new ProviderError(DETAIL),
      { status: 502, reason: 'provider_error', body: 'function provider error\n', details: 'faas_waker_provider_error' },
    ],
    [
      'ShuttingDownError',
      new ShuttingDownError(DETAIL),
      { status: 503, reason: 'shutting_down', body: 'shutting down, retry\n', details: 'faas_waker_shutting_down', retryAfterSec: 1 },
    ],
    [
      'NoWakePathError',
      new NoWakePathError(DETAIL),
      {
        status: 503,
        reason: 'no_wake_path',
        body: 'function is asleep; this path does not wake it\n',
        details: 'faas_waker_no_wake_path',
        retryAfterSec: 5,
      },
    ],
    ['plain Error', new Error(DETAIL), { status: 500, reason: 'internal', body: 'internal error\n', details: 'faas_waker_internal_error' }],
    [
      'TypeError',
      new TypeError(DETAIL),
      { status: 500, reason: 'internal', body: 'internal error\n', details: 'faas_waker_internal_error' },
    ],
    ['a string', DETAIL, { status: 500, reason: 'internal', body: 'internal error\n', details: 'faas_waker_internal_error' }],
    ['undefined', undefined, { status: 500, reason: 'internal', body: 'internal error\n', details: 'faas_waker_internal_error' }],
    ['null', null, { status: 500, reason: 'internal', body: 'internal error\n', details: 'faas_waker_internal_error' }],
  ])('%s', (_name, err, expected) => {
    const answer = toHttpAnswer(err);
    // toStrictEqual: retryAfterSec must be absent (not undefined) when retrying makes no sense.
    expect(answer).toStrictEqual(expected);
    expect(answer.body.endsWith('\n')).toBe(true);
    expect(answer.body).not.toContain('SECRET');
    expect(answer.body).not.toContain('hunter2');
    expect(answer.details).toMatch(/^[a-z_]+$/);
  });

  test('every answer with a retry-after is a 503 or 504', () => {
    const errors = [
      new QueueFullError('x'),
      new HoldTimeoutError('x'),
      new WakeTimeoutError('x'),
      new ProviderUnavailableError('x'),
      new ShuttingDownError('x'),
      new NoWakePathError('x'),
    ];
    for (const err of errors) expect([503, 504]).toContain(toHttpAnswer(err).status);
  });
});

describe('WakeError classes', () => {
  test.each([
    [new InvalidFunctionNameError('m'), 'INVALID_NAME', 'InvalidFunctionNameError'],
    [new FunctionNotFoundError('m'), 'NOT_FOUND', 'FunctionNotFoundError'],
    [new QueueFullError('m'), 'QUEUE_FULL', 'QueueFullError'],
    [new HoldTimeoutError('m'), 'HOLD_TIMEOUT', 'HoldTimeoutError'],
    [new WakeTimeoutError('m'), 'WAKE_TIMEOUT', 'WakeTimeoutError'],
    [new ProviderError('m', 502), 'PROVIDER_ERROR', 'ProviderError'],
    [new ProviderUnavailableError('m'), 'PROVIDER_UNAVAILABLE', 'ProviderUnavailableError'],
    [new ShuttingDownError('m'), 'SHUTTING_DOWN', 'ShuttingDownError'],
    [new ClientGoneError('m'), 'CLIENT_GONE', 'ClientGoneError'],
    [new NoWakePathError('m'), 'NO_WAKE_PATH', 'NoWakePathError'],
  ])('%p has code %s and name %s', (err, code, name) => {
    expect(err).toBeInstanceOf(WakeError);
    expect(err).toBeInstanceOf(Error);
    expect([err.code, err.name, err.message]).toEqual([code, name, 'm']);
  });

  test('cause and status are kept', () => {
    const cause = new Error('socket hang up');
    const err = new ProviderError('bad', 503, { cause });
    expect([err.status, err.cause]).toEqual([503, cause]);
  });

  test.each([
    [new Error('boom'), 'boom'],
    ['text', 'text'],
    [42, '42'],
  ])('errorMessage(%p) = %s', (err, expected) => {
    expect(errorMessage(err)).toBe(expected);
  });
});
