/**
 * The chain a request's `model` names: an alias's models, `default` the whole chain (unless an alias redefines
 * it), a configured model name that model alone; undefined for anything else (a 404 `model_not_found`).
 */
export function chainFor(model: string, models: readonly string[], aliases: Record<string, string[]> = {}): string[] | undefined {
  if (Object.prototype.hasOwnProperty.call(aliases, model)) return aliases[model];
  if (model === 'default') return [...models];
  return models.includes(model) ? [model] : undefined;
}

/** The ids a client may ask for: `default`, every alias and every configured model, once each. */
function modelIds(models: readonly string[], aliases: Record<string, string[]>): string[] {
  return [...new Set(['default', ...Object.keys(aliases), ...models])];
}

/** One of OpenAI's `model` objects. */
function modelObject(id: string): Record<string, unknown> {
  return { id, object: 'model', created: 0, owned_by: 'koa-llm-resilience' };
}

/** `GET /models`: `default`, every alias and every configured model, once each, as OpenAI lists models. */
export function modelList(models: readonly string[], aliases: Record<string, string[]> = {}): unknown {
  return { object: 'list', data: modelIds(models, aliases).map(modelObject) };
}

/** `GET /models/{id}`: the model object of an id `GET /models` lists (compared exactly), or undefined (a 404). */
export function modelById(id: string, models: readonly string[], aliases: Record<string, string[]> = {}): Record<string, unknown> | undefined {
  return modelIds(models, aliases).includes(id) ? modelObject(id) : undefined;
}
