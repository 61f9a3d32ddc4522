/** The options of the limits per tenant: validated with every other option, each bad field named; defaults. */
import fc from 'fast-check';
import { ConfigError, createEngine, llmResilience } from '../../../lib';
import { resolveOptions } from '../../../lib/core/options/resolve-options';

const models = [{ model: 'm', apiKey: 'k', baseURL: 'http://127.0.0.1:9' }];

function problems(options: Record<string, unknown>): string[] {
  try {
    resolveOptions({ models, ...options } as never);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems.map((p) => p.path);
  }
  return [];
}

describe('tenant and tenantLimits options', () => {
  it('names every bad field at once', () => {
    expect(
      problems({ tenant: 'x-tenant', tenantLimits: { requestsPerMinute: 0, tokensPerMinute: 1.5, usdPerDay: -1, perTenant: 3, perMinute: 5 } }).sort(),
    ).toEqual(['/tenant', '/tenantLimits/perMinute', '/tenantLimits/perTenant', '/tenantLimits/requestsPerMinute', '/tenantLimits/tokensPerMinute', '/tenantLimits/usdPerDay'].sort());
    expect(problems({ tenantLimits: 'lots' })).toEqual(['/tenantLimits']);
  });

  it('a limit must be a positive number (generated)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ max: 0 }), fc.constant(Number.NaN), fc.string(), fc.constant(null)), (bad) => {
        expect(problems({ tenantLimits: { requestsPerMinute: bad } })).toEqual(['/tenantLimits/requestsPerMinute']);
        expect(problems({ tenantLimits: { usdPerDay: bad } })).toEqual(['/tenantLimits/usdPerDay']);
      }),
    );
  });

  it('defaults: no limits; the tenant is the `tenant` option, else the cache\'s scope, else none', () => {
    const plain = resolveOptions({ models });
    expect(plain.tenantLimits).toBeUndefined();
    expect(plain.tenant).toBeUndefined();
    const scope = () => 's';
    expect(resolveOptions({ models, cache: { scope } }).tenant).toBe(scope);
    const tenant = () => 't';
    expect(resolveOptions({ models, cache: { scope }, tenant }).tenant).toBe(tenant);
    expect(resolveOptions({ models, cache: false }).tenant).toBeUndefined();
    expect(resolveOptions({ models, tenantLimits: { requestsPerMinute: 5 } }).tenantLimits).toEqual({ requestsPerMinute: 5, tokensPerMinute: undefined, usdPerDay: undefined, perTenant: undefined });
  });

  it('llmResilience and createEngine throw the ConfigError at start-up', () => {
    expect(() => llmResilience({ models, tenantLimits: { requestsPerMinute: -1 } })).toThrow(ConfigError);
    expect(() => createEngine({ models, tenant: 42 as never })).toThrow(/\/tenant: must be a function/);
  });
});
