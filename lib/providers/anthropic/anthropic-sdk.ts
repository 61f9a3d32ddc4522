import { loadOptional, OPTIONAL_PACKAGES } from '../../core/load-optional';

/** The SDK's module, as `require('@anthropic-ai/sdk')` gives it. */
export type AnthropicSdk = typeof import('@anthropic-ai/sdk');

/** The SDK's JSON-schema helper (what its own structured-output helpers send). */
type TransformJsonSchema = (schema: Record<string, unknown>) => Record<string, unknown>;

let sdk: AnthropicSdk | undefined;
let transform: TransformJsonSchema | undefined;

/**
 * `@anthropic-ai/sdk`, an optional peer dependency, loaded when the first Anthropic provider is made: an app
 * without Anthropic models neither installs nor loads it (a `MissingPackageError` names the install command).
 */
export function anthropicSdk(): AnthropicSdk {
  sdk ??= loadOptional<AnthropicSdk>(OPTIONAL_PACKAGES.anthropicSdk);
  return sdk;
}

/**
 * The SDK's `transformJSONSchema`: a schema rewritten into the subset structured outputs accept (every object
 * closed with `additionalProperties: false`, unsupported keywords moved into the description). It throws for a
 * schema it cannot express (no `type` and no `anyOf`/`enum`/…).
 */
export function anthropicSchemaTransform(): TransformJsonSchema {
  transform ??= loadOptional<{ transformJSONSchema: TransformJsonSchema }>(OPTIONAL_PACKAGES.anthropicSdk, '@anthropic-ai/sdk/lib/transform-json-schema').transformJSONSchema;
  return transform;
}
