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
    breaker = new ModelBreaker('primary', { errorThresholdPercentage: 50, volumeThreshold: 5, rollingWindowMs: 10_000, resetTimeoutMs: 60_000 }, events);
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
    breaker = new ModelBreaker('primary', { errorThresholdPercentage: 50, volumeThreshold: 5, rollingWindowMs: 10_000, resetTimeoutMs: 60_000 }, new EventBus());
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
