// What every benchmark gets (paths, mode, runtimes) and what it hands back (figures with their baselines).
import type { Runtimes } from './runtimes.js';

export interface BenchContext {
  root: string;
  /** Tiny, fast form of every benchmark (bench:smoke). */
  quick: boolean;
  /** A private temp folder, removed at the end. */
  work: string;
  runtimes: Runtimes;
  log(line: string): void;
}

export interface Figure {
  name: string;
  unit: string;
  /** One value per run; the figure is their median. */
  runs: number[];
  value: number | null;
  /** Name of the baseline figure measured in the same run, and the value/baseline ratio. */
  baseline?: string;
  ratio?: number | null;
  note?: string;
}

export interface SuiteResult {
  id: string;
  title: string;
  /** The exact commands the figures come from. */
  commands: string[];
  figures: Figure[];
  notes: string[];
}
