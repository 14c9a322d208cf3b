/*
 * How many generated cases a property runs, and from which seed. CI runs a fixed seed and
 * a bounded count, so that a failure is reproducible and the suite stays fast; the longer
 * run (e2e/generatedAttacks.ts) sets FC_RUNS and a fresh FC_SEED. A failure prints the
 * seed, the path and the shrunk counterexample (fast-check's own report), which FC_SEED and
 * FC_PATH replay.
 */
import fc from 'fast-check';

/** The seed CI uses: fixed, so that every Node version tries the same cases. */
export const CI_SEED = 13_2026;

/**
 * fast-check parameters for a property that runs `ciRuns` cases in CI. FC_RUNS scales every
 * property alike: it is the count of the property whose CI count is 100.
 */
export function fcParameters<T>(ciRuns: number): fc.Parameters<T> {
  const scale = process.env.FC_RUNS ? Number(process.env.FC_RUNS) / 100 : 1;
  const seed = process.env.FC_SEED ? Number(process.env.FC_SEED) : CI_SEED;
  const path = process.env.FC_PATH || undefined;
  return {
    seed,
    path,
    numRuns: Math.max(1, Math.round(ciRuns * scale)),
    // Every case is a real request through a real backend: shrinking is bounded too, so
    // that a failure is reported in seconds, not minutes.
    endOnFailure: false,
    interruptAfterTimeLimit: process.env.FC_RUNS ? undefined : 45_000,
    markInterruptAsFailure: false,
    // FC_VERBOSE=1 lists every failure met while shrinking, not only the smallest.
    verbose: process.env.FC_VERBOSE ? fc.VerbosityLevel.Verbose : fc.VerbosityLevel.None,
  };
}
