import * as E from 'fp-ts/lib/Either.js';
import { MODEL_NAMES, type ModelName } from './attribution/types.js';
import { usageError, type AppError } from './errors.js';

/** Which models a step can run, for reading its --models flag. */
export interface ModelChoice {
  /** what `all` means: the models this step can run */
  readonly available: readonly ModelName[];
  /** what an empty list means */
  readonly whenEmpty: readonly ModelName[];
  /** why a model that exists cannot run in this step (e.g. ihc over paths without timestamps) */
  readonly unavailable?: (m: ModelName) => string;
}

/**
 * --models of every step: `all`, `none`, or a comma list of model names (spaces around names ignored, a repeat
 * counted once, the order kept). Anything else is a UsageError naming the word and the known names.
 */
export function parseModels(text: string, choice: ModelChoice): E.Either<AppError, ModelName[]> {
  const names = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (names.length === 0) return E.right([...choice.whenEmpty]);
  if (names.length === 1 && names[0] === 'all') return E.right([...choice.available]);
  if (names.length === 1 && names[0] === 'none') return E.right([]);
  const out: ModelName[] = [];
  for (const name of names) {
    const m = MODEL_NAMES.find((x) => x === name);
    if (m === undefined) return E.left(usageError(`unknown model "${name}" in --models (known: ${MODEL_NAMES.join(', ')}, or all / none)`));
    if (!choice.available.includes(m)) {
      return E.left(usageError(choice.unavailable?.(m) ?? `model ${m} cannot run here; available: ${choice.available.join(', ')}`));
    }
    if (!out.includes(m)) out.push(m);
  }
  return E.right(out);
}
