import { trimOldest } from '../waker/bounded';
import { heldAnswer, overrideTimeout, type HeldAnswer } from './responses';

/** Distinct override encodings remembered (one per distinct per-function hold); past it, encoded per use. */
const MAX_CACHED_OVERRIDES = 64;
/** Functions whose held answers stay encoded (all but the wait); past it, the oldest is dropped. */
const MAX_CACHED_FUNCTIONS = 64;

/** The stream handler's answers that repeat, encoded once (bounded): overrides, and held CONTINUEs. */
export interface AnswerCache {
  /** The override for a hold of `budgetMs` (plus the margin). */
  override(budgetMs: number): Buffer;
  /** A released burst answers every waiter alike but for the wait: one encoding per function and kind. */
  held(fn: string, coldStart: boolean, tracked: boolean): HeldAnswer;
}

export function createAnswerCache(overrideMarginMs: number): AnswerCache {
  const overrides = new Map<number, Buffer>();
  /** Per function, its (at most 4) kinds of held answer, indexed by `kindOf`. */
  const answers = new Map<string, (HeldAnswer | undefined)[]>();
  return {
    override(budgetMs) {
      const cached = overrides.get(budgetMs);
      if (cached !== undefined) return cached;
      const bytes = overrideTimeout(budgetMs + overrideMarginMs);
      if (overrides.size < MAX_CACHED_OVERRIDES) overrides.set(budgetMs, bytes);
      return bytes;
    },
    held(fn, coldStart, tracked) {
      // A released burst calls this once per waiter: one map lookup, no key string built.
      let kinds = answers.get(fn);
      if (kinds === undefined) {
        kinds = [];
        answers.set(fn, kinds);
        trimOldest(answers, MAX_CACHED_FUNCTIONS);
      }
      const kind = (coldStart ? 2 : 0) | (tracked ? 1 : 0);
      return (kinds[kind] ??= heldAnswer(fn, coldStart, tracked));
    },
  };
}
