import { ModelBreaker, type OutcomeRecorder } from '../../../lib/core/breaker/model-breaker';
import { EventBus } from '../../../lib/core/events/event-bus';
import { AttemptFailure } from '../../../lib/core/fallback/attempt-failure';

/** An attempt as the chain hands it to a breaker: it reports its own outcome to the recorder when it ends. */
const job = (ok: boolean) => ({
  run(recorder?: OutcomeRecorder): Promise<string> {
    if (ok) return Promise.resolve(recorder ? recorder.succeeded('answer') : 'answer');
    const failure = new AttemptFailure({ outcome: 'error', countsAsFailure: true, fallThrough: true, callerAborted: false, message: 'provider error 500' });
    return recorder ? recorder.failed(failure) : Promise.reject(failure);
  },
});

/** An attempt that got a 429: it fails over to the next model, and must not count for the breaker either way. */
const rateLimited = {
  run(recorder?: OutcomeRecorder): Promise<string> {
    const failure = new AttemptFailure({ outcome: 'rate_limited', countsAsFailure: false, fallThrough: true, callerAborted: false, message: 'rate limited', status: 429 });
    return recorder ? recorder.failed(failure) : Promise.reject(failure);
  },
};

describe('ModelBreaker', () => {
  let breaker: ModelBreaker;
  const opened: string[] = [];
  beforeEach(() => {
    opened.length = 0;
    const events = new EventBus();
    events.on('breaker:open', (e) => opened.push(e.model));
    breaker = new ModelBreaker('primary', { errorThresholdPercentage: 50, volumeThreshold: 5, rollingWindowMs: 10_000, resetTimeoutMs: 60_000, consecutiveFailures: 0 }, events);
  });
  afterEach(() => breaker.shutdown());

  it('counts a success on a closed breaker in opossum’s window, and hands the answer back at once', async () => {
    expect(breaker.succeeded('answer')).toBe('answer'); // a value, not a promise: no promise chain per success
    await expect(breaker.run(job(true))).resolves.toBe('answer');
    expect(breaker.stats()).toEqual({ successes: 2, failures: 0 });
  });

  it('opens on the error rate of everything counted: successes weigh against failures', async () => {
    for (let i = 0; i < 6; i++) await breaker.run(job(true));
    for (let i = 0; i < 5; i++) await expect(breaker.run(job(false))).rejects.toBeInstanceOf(AttemptFailure);
    // 5 failures of 11 calls (45%): closed; counted without the successes it would be 100% and open
    expect(breaker.state).toBe('closed');
    expect(opened).toEqual([]);
    await expect(breaker.run(job(false))).rejects.toBeInstanceOf(AttemptFailure);
    // 6 of 12 (50%): at the threshold, so open
    expect(breaker.state).toBe('open');
    expect(opened).toEqual(['primary']);
    expect(breaker.stats()).toEqual({ successes: 6, failures: 6 });
  });

  it('leaves 429s out of the error rate: counted neither as failures nor as successes', async () => {
    for (let i = 0; i < 6; i++) await expect(breaker.run(rateLimited)).rejects.toMatchObject({ failure: { outcome: 'rate_limited' } });
    expect(breaker.stats()).toEqual({ successes: 0, failures: 0 });
    for (let i = 0; i < 4; i++) await expect(breaker.run(job(false))).rejects.toBeInstanceOf(AttemptFailure);
    // 4 calls counted: under the volume threshold (with the 429s counted as successes, 10 calls at 40%: closed too)
    expect(breaker.state).toBe('closed');
    await expect(breaker.run(job(false))).rejects.toBeInstanceOf(AttemptFailure);
    // 5 of 5 counted calls failed: open (counted as successes, the 429s would have kept it closed at 5 of 11)
    expect(breaker.state).toBe('open');
    expect(breaker.stats()).toEqual({ successes: 0, failures: 5 });
  });

  it('does not count an answer that arrives after the breaker opened', async () => {
    for (let i = 0; i < 5; i++) await expect(breaker.run(job(false))).rejects.toBeInstanceOf(AttemptFailure);
    expect(breaker.state).toBe('open');
    expect(breaker.succeeded('late')).toBe('late');
    expect(breaker.stats()).toEqual({ successes: 0, failures: 5 });
  });
});

describe('ModelBreaker with a function (a streamed attempt)', () => {
  let breaker: ModelBreaker;
  beforeEach(() => {
    breaker = new ModelBreaker('primary', { errorThresholdPercentage: 50, volumeThreshold: 5, rollingWindowMs: 10_000, resetTimeoutMs: 60_000, consecutiveFailures: 0 }, new EventBus());
  });
  afterEach(() => breaker.shutdown());

  const fails = (countsAsFailure: boolean) => () =>
    Promise.reject(new AttemptFailure({ outcome: countsAsFailure ? 'error' : 'invalid', countsAsFailure, fallThrough: true, callerAborted: false, message: 'x' }));

  it('does not count what must not count, neither as a failure nor as a success (as for complete() attempts)', async () => {
    for (let i = 0; i < 6; i++) await expect(breaker.run(fails(false))).rejects.toBeInstanceOf(AttemptFailure);
    expect(breaker.stats()).toEqual({ successes: 0, failures: 0 });
    for (let i = 0; i < 5; i++) await expect(breaker.run(fails(true))).rejects.toBeInstanceOf(AttemptFailure);
    // 5 of 5 counted calls failed: open (had the others counted as successes, 5 of 11 would have kept it closed)
    expect(breaker.state).toBe('open');
  });
});

describe('ModelBreaker: failures in a row (consecutiveFailures)', () => {
  const options = { errorThresholdPercentage: 50, volumeThreshold: 5, rollingWindowMs: 10_000, resetTimeoutMs: 60_000 };
  const breakers: ModelBreaker[] = [];
  const make = (consecutiveFailures: number, extra: Partial<typeof options> = {}): ModelBreaker => {
    const b = new ModelBreaker('primary', { ...options, ...extra, consecutiveFailures }, new EventBus());
    breakers.push(b);
    return b;
  };
  afterEach(() => {
    for (const b of breakers.splice(0)) b.shutdown();
  });

  it('opens after that many failures in a row, whatever successes the window holds', async () => {
    const breaker = make(3);
    for (let i = 0; i < 20; i++) await breaker.run(job(true));
    await expect(breaker.run(job(false))).rejects.toBeInstanceOf(AttemptFailure);
    await expect(breaker.run(job(false))).rejects.toBeInstanceOf(AttemptFailure);
    expect(breaker.state).toBe('closed'); // 2 of 22: far under the error rate, and not yet 3 in a row
    await expect(breaker.run(job(false))).rejects.toBeInstanceOf(AttemptFailure);
    expect(breaker.state).toBe('open');
  });

  it('opens under a window that never reaches its volume (light traffic)', async () => {
    const breaker = make(4, { volumeThreshold: 1000 });
    for (let i = 0; i < 3; i++) await expect(breaker.run(job(false))).rejects.toBeInstanceOf(AttemptFailure);
    expect(breaker.state).toBe('closed');
    await expect(breaker.run(job(false))).rejects.toBeInstanceOf(AttemptFailure);
    expect(breaker.state).toBe('open');
  });

  it('a success breaks the run; what does not count (429s) neither breaks nor extends it', async () => {
    const breaker = make(3, { volumeThreshold: 1000 });
    await expect(breaker.run(job(false))).rejects.toBeInstanceOf(AttemptFailure);
    await expect(breaker.run(job(false))).rejects.toBeInstanceOf(AttemptFailure);
    await breaker.run(job(true));
    await expect(breaker.run(job(false))).rejects.toBeInstanceOf(AttemptFailure);
    await expect(breaker.run(rateLimited)).rejects.toMatchObject({ failure: { outcome: 'rate_limited' } });
    await expect(breaker.run(rateLimited)).rejects.toMatchObject({ failure: { outcome: 'rate_limited' } });
    await expect(breaker.run(job(false))).rejects.toBeInstanceOf(AttemptFailure);
    expect(breaker.state).toBe('closed'); // 2 in a row since the success; the 429s did not count
    await expect(breaker.run(job(false))).rejects.toBeInstanceOf(AttemptFailure);
    expect(breaker.state).toBe('open');
  });

  it('0 turns the trigger off', async () => {
    const breaker = make(0, { volumeThreshold: 1000 });
    for (let i = 0; i < 50; i++) await expect(breaker.run(job(false))).rejects.toBeInstanceOf(AttemptFailure);
    expect(breaker.state).toBe('closed');
  });
});
