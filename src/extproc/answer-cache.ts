import { trimOldest } from '../waker/bounded';
import { heldAnswer, overrideTimeout, type HeldAnswer } from './responses';

/** Distinct override encodings remembered (one per distinct per-function hold); past it, encoded per use. */
const MAX_CACHED_OVERRIDES = 64;
/** Functions whose held answers stay encoded (all but the wait); past it, the oldest is dropped. */
const MAX_CACHED_ANSWERS = 256;

/** The stream handler's answers that repeat, encoded once (bounded): overrides, and held CONTINUEs. */
export interface AnswerCache {
  /** The override for a hold of `budgetMs` (plus the margin). */
  override(budgetMs: number): Buffer;
  /** A released burst answers every waiter alike but for the wait: one encoding per function and kind. */
  held(fn: string, coldStart: boolean, tracked: boolean): HeldAnswer;
}

export function createAnswerCache(overrideMarginMs: number): AnswerCache {
  const overrides = new Map<number, Buffer>();
  const answers = new Map<string, HeldAnswer>();
  return {
    override(budgetMs) {
      const cached = overrides.get(budgetMs);
      if (cached !== undefined) return cached;
      const bytes = overrideTimeout(budgetMs + overrideMarginMs);
      if (overrides.size < MAX_CACHED_OVERRIDES) overrides.set(budgetMs, bytes);
      return bytes;
    },
    held(fn, coldStart, tracked) {
      const key = `${coldStart ? 'c' : 'h'}${tracked ? 't' : 'u'}${fn}`;
      const cached = answers.get(key);
      if (cached !== undefined) return cached;
      const answer = heldAnswer(fn, coldStart, tracked);
      answers.set(key, answer);
      trimOldest(answers, MAX_CACHED_ANSWERS);
      return answer;
    },
  };
}
