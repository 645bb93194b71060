/**
 * What can go wrong when the engine is given degenerate input. These are values: the task edge turns them
 * into an AppError with words a user can act on. Engine functions that take already-validated input throw
 * `AttributionInputError` (a programmer error: validate at the boundary with `validateJourney`).
 */
export type AttributionError =
  | { readonly _tag: 'EmptyJourney'; readonly conversionId: string }
  | { readonly _tag: 'InvalidJourney'; readonly conversionId: string; readonly reason: string }
  | { readonly _tag: 'NeedsTimestamps'; readonly model: string }
  | { readonly _tag: 'UnknownModel'; readonly model: string }
  | { readonly _tag: 'UnknownConversionType'; readonly name: string; readonly known: readonly string[] }
  | { readonly _tag: 'InvalidPaths'; readonly reason: string };

export function describeAttributionError(e: AttributionError): string {
  switch (e._tag) {
    case 'EmptyJourney':
      return `journey ${e.conversionId} has no sessions; a conversion with no earlier session cannot be attributed`;
    case 'InvalidJourney':
      return `journey ${e.conversionId}: ${e.reason}`;
    case 'NeedsTimestamps':
      return `model ${e.model} needs session timestamps; aggregated paths carry none (run it over stored journeys instead)`;
    case 'UnknownModel':
      return `unknown model "${e.model}"`;
    case 'UnknownConversionType':
      return `unknown conversion type "${e.name}" (known: ${e.known.join(', ') || 'none'})`;
    case 'InvalidPaths':
      return `invalid paths: ${e.reason}`;
  }
}

export class AttributionInputError extends Error {
  constructor(readonly error: AttributionError) {
    super(describeAttributionError(error));
    this.name = 'AttributionInputError';
  }
}
