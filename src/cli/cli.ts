/**
 * Shared plumbing for the npm scripts: flag parsing with --help, errors that name the option,
 * non-zero exit codes, progress on stderr.
 */
import { parseArgs } from 'node:util';
export { writeFileAtomic } from '../common/files.js';
export { progress } from '../common/progress.js';

export interface FlagSpec {
  type: 'string' | 'boolean';
  description: string;
  default?: string;
}

export class UsageError extends Error {}

/** The exit-status convention of every npm script, printed at the end of each --help. */
export const EXIT_CODES = 'Exit status: 0 done, 1 failed (the message says what and where), 2 usage error (a bad or missing option).';

/** Parse argv against `flags`; prints help and exits 0 on --help. */
export function parseFlags<F extends Record<string, FlagSpec>>(
  command: string,
  summary: string,
  flags: F,
  argv = process.argv.slice(2),
): { [K in keyof F]: F[K]['type'] extends 'boolean' ? boolean : string } {
  const help = (): string => {
    const rows = Object.entries(flags).map(([name, f]) => {
      const left = `  --${name}${f.type === 'string' ? ' VALUE' : ''}`;
      const def = f.default !== undefined ? ` (default: ${f.default})` : '';
      return `${left.padEnd(26)} ${f.description}${def}`;
    });
    return [`Usage: npm run ${command} -- [options]`, '', summary, '', 'Options:', ...rows, `  ${'--help'.padEnd(24)} show this help`, '', EXIT_CODES].join('\n');
  };
  let values: Record<string, string | boolean | undefined>;
  try {
    const options = Object.fromEntries(Object.entries(flags).map(([k, f]) => [k, { type: f.type }]));
    ({ values } = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean' } }, strict: true, allowPositionals: false }));
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\n${help()}`);
  }
  if (values.help) {
    process.stdout.write(`${help()}\n`);
    process.exit(0);
  }
  const out: Record<string, string | boolean> = {};
  for (const [k, f] of Object.entries(flags)) out[k] = values[k] ?? (f.type === 'boolean' ? false : (f.default ?? ''));
  return out as never;
}

/** Run a flag parser (e.g. parseLoss) whose errors name the flag: they become usage errors. */
export function usage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** A number flag, or a UsageError naming it. */
export function numberFlag(name: string, value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got "${value}"`);
  return n;
}

/** Run a CLI main: errors print one clear line (no stack for usage errors) and exit non-zero. */
export function runMain(main: () => Promise<void> | void): void {
  Promise.resolve()
    .then(main)
    .catch((e: unknown) => {
      const err = e as Error;
      process.stderr.write(`error: ${err.message}\n`);
      if (!(err instanceof UsageError) && err.name !== 'ConfigError' && process.env.DEBUG) process.stderr.write(`${err.stack}\n`);
      process.exit(err instanceof UsageError ? 2 : 1);
    });
}
