/**
 * Shared plumbing for the npm scripts: typed flags with --help, errors that name the option,
 * non-zero exit codes, progress on stderr.
 *
 * A flag is a parser, a typed default and a help text apart: `parseFlags` reads argv, runs each given
 * flag's parser (whose errors become usage errors naming the flag) and hands back parsed values; a flag
 * not given gets its default as it is (`undefined` where the caller decides, e.g. by provider).
 */
import { parseArgs } from 'node:util';
export { writeFileAtomic } from '../common/files.js';
export { progress } from '../common/progress.js';

/** A flag with a value. */
export interface ValueFlag<T> {
  help: string;
  /** Reads the given text; throws (an Error naming `--${flag}`) unless it is a valid value. */
  parse: Parser<T>;
  /** The value when the flag is not given. */
  default: T;
  /** How --help shows the default, where the default itself does not say it (e.g. "200 (GPU), 30 (CPU)"). */
  defaultHelp?: string;
}

/** A switch: true when given, false otherwise. */
export interface SwitchFlag {
  help: string;
  switch: true;
}

export type FlagSpec = ValueFlag<unknown> | SwitchFlag;

/** The parsed value of a flag: its parser's result or its default; a switch's boolean. */
export type FlagValue<S> = S extends { parse: (raw: string, flag: string) => infer T; default: infer D }
  ? T | D
  : boolean;
export type FlagValues<F> = { [K in keyof F]: FlagValue<F[K]> };

export class UsageError extends Error {}

/** The exit-status convention of every npm script, printed at the end of each --help. */
export const EXIT_CODES =
  'Exit status: 0 done, 1 failed (the message says what and where), 2 usage error (a bad or missing option).';

const isSwitch = (f: FlagSpec): f is SwitchFlag => 'switch' in f;

const HELP_WIDTH = 110;
const LEFT = 26;

/** Words of `text` in lines of at most `width` (a longer word gets a line of its own). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line];
}

/** The default as --help shows it: defaultHelp, else a non-empty string or a number; none for other values. */
function shownDefault(f: ValueFlag<unknown>): string | undefined {
  if (f.defaultHelp !== undefined) return f.defaultHelp;
  const d = f.default;
  return (typeof d === 'string' && d !== '') || typeof d === 'number' ? String(d) : undefined;
}

/** The --help text of a command. */
export function helpText(command: string, summary: string, flags: Record<string, FlagSpec>): string {
  const row = (left: string, text: string): string => {
    const [first, ...rest] = wrap(text, HELP_WIDTH - LEFT - 1);
    return [`${left.padEnd(LEFT)} ${first}`, ...rest.map((l) => `${' '.repeat(LEFT + 1)}${l}`)].join('\n');
  };
  const rows = Object.entries(flags).map(([name, f]) => {
    if (isSwitch(f)) return row(`  --${name}`, f.help);
    const def = shownDefault(f);
    return row(`  --${name} VALUE`, `${f.help}${def !== undefined ? ` (default: ${def})` : ''}`);
  });
  const usageLine = `Usage: npm run ${command} -- [options]`;
  const helpRow = row('  --help', 'show this help');
  return [usageLine, '', summary, '', 'Options:', ...rows, helpRow, '', EXIT_CODES].join('\n');
}

/** A negative number, which parseArgs would otherwise take for an option ("-0.25", "-1e-3", "-.5"). */
const NEGATIVE_NUMBER = /^-(\d|\.\d)/;

/**
 * `--eps -0.25` as `--eps=-0.25`: parseArgs refuses an option value that starts with a dash ("argument is
 * ambiguous"), so a value flag followed by a negative number is joined to it before parsing.
 */
function joinNegativeValues(argv: readonly string[], options: Record<string, { type: string }>): string[] {
  const out: string[] = [];
  for (const arg of argv) {
    const previous = out.at(-1);
    const takesValue = previous?.startsWith('--') && options[previous.slice(2)]?.type === 'string';
    if (previous !== undefined && takesValue && NEGATIVE_NUMBER.test(arg)) out[out.length - 1] = `${previous}=${arg}`;
    else out.push(arg);
  }
  return out;
}

/**
 * Parse argv against `flags`: the parsed values and the names of the flags given (e.g. ['epochs', 'lr']).
 * Prints help and exits 0 on --help; a bad or unknown flag is a UsageError naming it.
 */
export function readFlags<const F extends Record<string, FlagSpec>>(
  command: string,
  summary: string,
  flags: F,
  argv = process.argv.slice(2),
): { values: FlagValues<F>; given: string[] } {
  const help = (): string => helpText(command, summary, flags);
  let raw: Record<string, string | boolean | undefined>;
  try {
    const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' } };
    for (const [name, f] of Object.entries(flags)) options[name] = { type: isSwitch(f) ? 'boolean' : 'string' };
    const args = joinNegativeValues(argv, options);
    raw = parseArgs({ args, options, strict: true, allowPositionals: false }).values as typeof raw;
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\n${help()}`);
  }
  if (raw.help) {
    process.stdout.write(`${help()}\n`);
    process.exit(0);
  }
  const values: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(flags)) {
    const text = raw[name];
    if (isSwitch(f)) values[name] = text === true;
    else values[name] = text === undefined ? f.default : usage(() => f.parse(String(text), name), name);
  }
  const given = Object.keys(flags).filter((name) => raw[name] !== undefined);
  return { values: values as FlagValues<F>, given };
}

/** The parsed values of argv's flags (see readFlags). */
export function parseFlags<const F extends Record<string, FlagSpec>>(
  command: string,
  summary: string,
  flags: F,
  argv = process.argv.slice(2),
): FlagValues<F> {
  return readFlags(command, summary, flags, argv).values;
}

/**
 * Run a flag parser (e.g. parseLoss) whose errors name the flag: they become usage errors. With `flag`,
 * a message that does not name it gets it in front.
 */
export function usage<T>(parse: () => T, flag?: string): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof UsageError) throw e;
    const message = (e as Error).message;
    throw new UsageError(flag === undefined || message.includes(`--${flag}`) ? message : `--${flag}: ${message}`);
  }
}

/** A ValueFlag's parser: the flag's text (and its name, for errors) → its value, or a UsageError naming it. */
export type Parser<T> = (raw: string, flag: string) => T;

/** The text as given. */
export const asText = (raw: string): string => raw;

/** A finite number. */
export function asNumber(raw: string, flag: string): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${flag} must be a number, got "${raw}"`);
  return n;
}

/** A number `ok` accepts; else "--flag must be RULE, got "raw"". */
export function numberWhere(ok: (n: number) => boolean, rule: string): Parser<number> {
  return (raw, flag) => {
    const n = asNumber(raw, flag);
    if (!ok(n)) throw new UsageError(`--${flag} must be ${rule}, got "${raw}"`);
    return n;
  };
}

/** An integer of at least `min`. */
export const integerFrom = (min: number, rule = min === 1 ? 'a positive integer' : `an integer ≥ ${min}`) =>
  numberWhere((n) => Number.isInteger(n) && n >= min, rule);

/** One of `choices`; else "--flag must be one of a, b, got "x"". */
export function oneOf<const C extends string>(choices: readonly C[]): Parser<C> {
  return (raw, flag) => {
    if ((choices as readonly string[]).includes(raw)) return raw as C;
    throw new UsageError(`--${flag} must be one of ${choices.join(', ')}, got "${raw}"`);
  };
}

/** `word` (e.g. all) as `value`, anything else through `parse`. */
export function orWord<T, W>(word: string, value: W, parse: Parser<T>): Parser<T | W> {
  return (raw, flag) => (raw === word ? value : parse(raw, flag));
}

/** Run a CLI main: errors print one clear line (no stack for usage errors) and exit non-zero. */
export function runMain(main: () => Promise<void> | void): void {
  Promise.resolve()
    .then(main)
    .catch((e: unknown) => {
      const err = e as Error;
      process.stderr.write(`error: ${err.message}\n`);
      if (!(err instanceof UsageError) && err.name !== 'ConfigError' && process.env.DEBUG)
        process.stderr.write(`${err.stack}\n`);
      process.exit(err instanceof UsageError ? 2 : 1);
    });
}
