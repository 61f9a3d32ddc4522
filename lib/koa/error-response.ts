import type { ParameterizedContext } from 'koa';
import { errorAnswer } from '../http/error-answer';

/** Answers our own errors that a route did not catch (see `errorAnswer`). Returns false for anything else (Koa handles it). */
export function respondWithError(ctx: ParameterizedContext, err: unknown): boolean {
  const answer = errorAnswer(err);
  if (!answer) return false;
  ctx.status = answer.status;
  for (const [name, value] of Object.entries(answer.headers)) ctx.set(name, value);
  ctx.body = answer.body;
  return true;
}
