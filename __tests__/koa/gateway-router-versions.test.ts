/**
 * The gateway's routes under every @koa/router major the package supports (12 to 15): the path patterns differ
 * between them (path-to-regexp 6 in 12 and 13, 8 in 14 and 15), and the router the gateway is built from is the
 * app's own copy. Unknown routes, wrong methods and `GET /models/{id}` with an encoded id answer alike in each.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import type { LlmResilienceMiddleware } from '../../lib';
import { startFakeLlm, type FakeLlm } from '../../lib/testing';

const KEY = 'gateway-key-0123456789';
let fake: FakeLlm;
beforeAll(async () => {
  fake = await startFakeLlm();
});
afterAll(() => fake.close());

interface Seen {
  status: number;
  allow: string | null;
  body: unknown;
}

describe.each(['koa-router-12', 'koa-router-13', 'koa-router-14', '@koa/router'])('with %s as the app\'s @koa/router', (routerPackage) => {
  let server: http.Server;
  let llm: LlmResilienceMiddleware;
  let base: string;

  beforeAll(async () => {
    let lib!: typeof import('../../lib');
    let router!: ReturnType<typeof lib.openAICompatibleRouter>;
    // the router is made inside: the library loads the app's @koa/router when its first router is made
    jest.isolateModules(() => {
      jest.doMock('@koa/router', () => jest.requireActual(routerPackage));
      lib = jest.requireActual('../../lib');
      router = lib.openAICompatibleRouter({ apiKeys: [KEY], aliases: { cheap: ['org/vision-1'] } });
    });
    // the catch-all in the pattern syntax of that version's path-to-regexp: proof of which router was used
    const catchAll = ['koa-router-12', 'koa-router-13'].includes(routerPackage) ? '/v1/(.*)' : '/v1/{*rest}';
    expect(router.stack.map((l) => l.path)).toContain(catchAll);
    llm = lib.llmResilience({ models: [{ name: 'org/vision-1', model: 'vision', baseURL: fake.url, apiKey: 'k' }], cache: false });
    const app = new Koa();
    app.silent = true;
    app.use(llm).use(router.routes()).use(router.allowedMethods());
    server = http.createServer(app.callback());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await llm.close();
    jest.dontMock('@koa/router');
  });

  const ask = async (method: string, path: string, key = true): Promise<Seen> => {
    const res = await fetch(`${base}${path}`, { method, headers: key ? { authorization: `Bearer ${KEY}` } : {} });
    return { status: res.status, allow: res.headers.get('allow'), body: await res.json() };
  };

  it('answers unknown routes 404 and wrong methods 405, after the key check', async () => {
    expect(await ask('POST', '/v1/embeddings', false)).toMatchObject({ status: 401, body: { error: { code: 'invalid_api_key' } } });
    expect(await ask('POST', '/v1/embeddings')).toMatchObject({ status: 404, body: { error: { message: 'Invalid URL (POST /v1/embeddings)', type: 'invalid_request_error' } } });
    expect(await ask('GET', '/v1/')).toMatchObject({ status: 404 });
    expect(await ask('GET', '/V1/Chat/Completions/')).toMatchObject({ status: 405, allow: 'POST', body: { error: { code: 'method_not_allowed' } } });
    expect(await ask('DELETE', '/v1/models/cheap')).toMatchObject({ status: 405, allow: 'GET, HEAD' });
  });

  it('serves GET /models/{id} with the id percent-decoded', async () => {
    expect(await ask('GET', '/v1/models/org%2Fvision-1')).toMatchObject({ status: 200, body: { id: 'org/vision-1', object: 'model' } });
    expect(await ask('GET', '/v1/models/cheap/')).toMatchObject({ status: 200, body: { id: 'cheap' } });
    expect(await ask('GET', '/v1/models/nope')).toMatchObject({ status: 404, body: { error: { code: 'model_not_found', param: 'model' } } });
    expect(await ask('GET', '/v1/models')).toMatchObject({ status: 200, body: { object: 'list' } });
  });
});
