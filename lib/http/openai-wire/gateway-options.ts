import { ConfigError, type ConfigProblem } from '../../errors/config-error';
import type { LlmEngine } from '../../core/engine';
import { prefixProblem } from '../route-path';

/** The gateway's options every adapter shares (each adds its own `llm`). */
export interface OpenAIGatewayOptions {
  /** Bearer tokens a client must send (compared in constant time). Required, at least one. Never forwarded upstream. */
  apiKeys: string[];
  /**
   * Chain aliases: a request's `model` → configured model names. Default: `default` = the whole chain; any
   * configured model name also works alone (that model only).
   */
  aliases?: Record<string, string[]>;
  /** Path prefix. Default: `/v1`. */
  prefix?: string;
  /**
   * Largest accepted request body, in bytes; a larger one is answered 413 (`request_too_large`) without more than
   * this being held in memory. Default: 32 MiB, which takes an image at OpenAI's own per-image limit (20 MB, about
   * 26.7 MB as the base64 of a data URL) with its conversation. An integer from 1 to 256 MiB.
   */
  maxBodyBytes?: number;
}

/** The largest `maxBodyBytes`: a body is parsed as one string, and V8's strings stop a little short of 512 MiB. */
export const MAX_MAX_BODY_BYTES = 256 * 1024 * 1024;

/** The paths the gateway serves under its prefix, and the methods each takes (`HEAD` with every `GET`). */
export const GATEWAY_ROUTES = ['/chat/completions', '/models'] as const;
/** The one route with a parameter: `GET <prefix>/models/{id}`. */
export const MODEL_ROUTE_BASE = '/models';
/** The methods a gateway route takes (`HEAD` with `GET`, as @koa/router and Express serve it). */
export const ROUTE_METHODS = { '/chat/completions': ['POST'], '/models': ['GET', 'HEAD'], '/models/{id}': ['GET', 'HEAD'] } as const;

/** Throws a `ConfigError` naming every bad option (alias targets are checked against `llm`'s models when given). */
export function checkGatewayOptions(options: (OpenAIGatewayOptions & { llm?: { engine: LlmEngine } }) | undefined): void {
  const problems: ConfigProblem[] = [];
  if (!options || !Array.isArray(options.apiKeys) || options.apiKeys.length === 0) problems.push({ path: '/apiKeys', message: 'must be a non-empty array of strings' });
  else options.apiKeys.forEach((k, i) => (typeof k !== 'string' || k.length < 8) && problems.push({ path: `/apiKeys/${i}`, message: 'must be a string of at least 8 characters' }));
  for (const [alias, names] of Object.entries(options?.aliases ?? {})) {
    if (!Array.isArray(names) || names.length === 0 || names.some((n) => typeof n !== 'string')) problems.push({ path: `/aliases/${alias}`, message: 'must be a non-empty array of model names' });
  }
  const known = options?.llm?.engine.options.models.map((m) => m.name);
  if (known) {
    for (const [alias, names] of Object.entries(options?.aliases ?? {})) {
      for (const n of Array.isArray(names) ? names : []) if (!known.includes(n)) problems.push({ path: `/aliases/${alias}`, message: `names unknown model "${n}"` });
    }
  }
  const limit = options?.maxBodyBytes;
  if (limit !== undefined && (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_MAX_BODY_BYTES)) {
    problems.push({ path: '/maxBodyBytes', message: `must be an integer from 1 to ${MAX_MAX_BODY_BYTES} (bytes)` });
  }
  const badPrefix = prefixProblem(options?.prefix);
  if (badPrefix) problems.push({ path: '/prefix', message: badPrefix });
  if (problems.length > 0) throw new ConfigError(problems);
}
