import type { FunctionCallingConfigMode, GenerateContentConfig, GenerateContentParameters, ToolConfig } from '@google/genai';
import { ProviderError, type ProviderCall } from '../../core/provider/chat-provider';
import { geminiContents } from './gemini-contents';
import type { ThoughtSignatures } from './gemini-signatures';

/**
 * What the SDK is given for one call: the contents (see `geminiContents`) and the config, which is the request's
 * parameters in Gemini's words, then `providerOptions.gemini` merged over them (the SDK's config keys, e.g.
 * `topK`, `thinkingConfig`, `safetySettings`: a key there overrides the mapped one), then what the library owns and
 * a pass-through may not change: the call's `abortSignal`, and one HTTP request per call (the SDK's automatic
 * function calling and automatic continuation, which would make more requests on their own, are off).
 */
export function geminiParams(call: ProviderCall, signatures?: ThoughtSignatures): GenerateContentParameters {
  const { contents, systemInstruction } = geminiContents(call.messages, signatures);
  const config: GenerateContentConfig = {};
  if (systemInstruction) config.systemInstruction = systemInstruction;
  if (call.temperature !== undefined) config.temperature = call.temperature;
  if (call.topP !== undefined) config.topP = call.topP;
  if (call.stop !== undefined) config.stopSequences = typeof call.stop === 'string' ? [call.stop] : [...call.stop];
  if (call.maxTokens !== undefined) config.maxOutputTokens = call.maxTokens;
  if (call.seed !== undefined) config.seed = call.seed;
  const format = call.responseFormat;
  if (format?.type === 'json_object') config.responseMimeType = 'application/json';
  if (format?.type === 'json_schema') {
    config.responseMimeType = 'application/json';
    if (format.json_schema.schema !== undefined) config.responseJsonSchema = format.json_schema.schema;
  }
  if (call.tools !== undefined && call.tools.length > 0) {
    config.tools = [
      {
        functionDeclarations: call.tools.map((t) => ({
          name: t.function.name,
          ...(t.function.description !== undefined ? { description: t.function.description } : {}),
          ...(t.function.parameters !== undefined ? { parametersJsonSchema: t.function.parameters } : {}),
        })),
      },
    ];
  }
  if (call.toolChoice !== undefined) config.toolConfig = toolConfigOf(call.toolChoice);
  const passThrough = call.providerOptions?.gemini;
  return {
    model: call.model,
    contents,
    config: {
      ...config,
      ...(passThrough as GenerateContentConfig | undefined),
      abortSignal: call.signal,
      automaticFunctionCalling: { disable: true },
      automaticContinuation: false,
    },
  };
}

/** OpenAI's `tool_choice` as Gemini's function calling mode (`required` is `ANY`; a named function, `ANY` of it alone). */
function toolConfigOf(choice: NonNullable<ProviderCall['toolChoice']>): ToolConfig {
  const mode = (m: string): FunctionCallingConfigMode => m as FunctionCallingConfigMode;
  if (choice === 'auto') return { functionCallingConfig: { mode: mode('AUTO') } };
  if (choice === 'none') return { functionCallingConfig: { mode: mode('NONE') } };
  if (choice === 'required') return { functionCallingConfig: { mode: mode('ANY') } };
  if (typeof choice === 'object' && choice !== null && typeof choice.function?.name === 'string') {
    return { functionCallingConfig: { mode: mode('ANY'), allowedFunctionNames: [choice.function.name] } };
  }
  throw new ProviderError('Gemini: tool_choice must be auto, none, required or a named function', { status: 400, code: 'unsupported_content' });
}
