/**
 * Environment configuration, validated once at start-up. Every problem is collected and reported
 * together, each naming the variable and what it expects, so an operator fixes them in one go.
 */

export interface EnvVar<T> {
  readonly variable: string;
  /** What a valid value looks like, for error messages and docs. */
  readonly expects: string;
  readonly fallback?: T;
  readonly optional: boolean;
  readonly secret: boolean;
  parse(raw: string): T;
}

export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

interface VarOptions<T> {
  default?: T;
  /** Allowed to be absent with no default: the value is then undefined. */
  optional?: boolean;
  secret?: boolean;
}

function defineVar<T>(
  variable: string,
  expects: string,
  parse: (raw: string) => T,
  opts: VarOptions<T>,
): EnvVar<T> {
  return {
    variable,
    expects,
    fallback: opts.default,
    optional: opts.optional ?? false,
    secret: opts.secret ?? false,
    parse,
  };
}

class Invalid extends Error {}

function int(raw: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(raw.trim())) throw new Invalid();
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new Invalid();
  return n;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `250ms`, `5s`, `2m`, `1h`, `7d`, or a bare number of milliseconds. */
export function parseDuration(raw: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(raw.trim());
  if (!m) throw new Invalid();
  return Math.round(Number(m[1]) * (DURATION_UNITS[m[2] ?? 'ms'] ?? 1));
}

export const env = {
  string: (v: string, o: VarOptions<string> & { pattern?: RegExp; describe?: string } = {}) =>
    defineVar(
      v,
      o.describe ?? (o.pattern ? `a string matching ${o.pattern}` : 'a non-empty string'),
      (raw) => {
        if (raw === '' || (o.pattern && !o.pattern.test(raw))) throw new Invalid();
        return raw;
      },
      o,
    ),
  int: (v: string, o: VarOptions<number> & { min?: number; max?: number } = {}) => {
    const min = o.min ?? Number.MIN_SAFE_INTEGER;
    const max = o.max ?? Number.MAX_SAFE_INTEGER;
    return defineVar(v, `an integer between ${min} and ${max}`, (raw) => int(raw, min, max), o);
  },
  port: (v: string, o: VarOptions<number> = {}) =>
    defineVar(v, 'a TCP port number (1-65535)', (raw) => int(raw, 1, 65535), o),
  bool: (v: string, o: VarOptions<boolean> = {}) =>
    defineVar(
      v,
      'true or false',
      (raw) => {
        const s = raw.trim().toLowerCase();
        if (['true', '1', 'yes', 'on'].includes(s)) return true;
        if (['false', '0', 'no', 'off'].includes(s)) return false;
        throw new Invalid();
      },
      o,
    ),
  url: (v: string, o: VarOptions<string> & { protocols: readonly string[] }) =>
    defineVar(
      v,
      `a URL (${o.protocols.map((p) => `${p}//…`).join(' or ')})`,
      (raw) => {
        const parsed = URL.canParse(raw) ? new URL(raw) : undefined;
        if (!parsed || !o.protocols.includes(parsed.protocol)) throw new Invalid();
        return raw;
      },
      o,
    ),
  oneOf: <const T extends string>(v: string, values: readonly T[], o: VarOptions<T> = {}) =>
    defineVar(
      v,
      `one of ${values.join(', ')}`,
      (raw) => {
        if (!values.includes(raw as T)) throw new Invalid();
        return raw as T;
      },
      o,
    ),
  duration: (v: string, o: VarOptions<number> & { minMs?: number } = {}) =>
    defineVar(
      v,
      `a duration such as 500ms, 5s, 2m, 1h${o.minMs ? ` (at least ${o.minMs} ms)` : ''}`,
      (raw) => {
        const ms = parseDuration(raw);
        if (ms < (o.minMs ?? 0)) throw new Invalid();
        return ms;
      },
      o,
    ),
  list: (v: string, o: VarOptions<string[]> = {}) =>
    defineVar(
      v,
      'a comma-separated list',
      (raw) =>
        raw
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      o,
    ),
} as const;

export type ConfigSpec = Record<string, EnvVar<unknown>>;

export type ConfigOf<S extends ConfigSpec> = {
  readonly [K in keyof S]: S[K] extends EnvVar<infer T>
    ? S[K]['optional'] extends true
      ? T | undefined
      : T
    : never;
};

export function loadConfig<S extends ConfigSpec>(spec: S, source: NodeJS.ProcessEnv): ConfigOf<S> {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [key, def] of Object.entries(spec)) {
    const raw = source[def.variable];
    if (raw === undefined || raw === '') {
      if (def.fallback !== undefined) out[key] = def.fallback;
      else if (!def.optional) problems.push(`${def.variable} is required: expected ${def.expects}`);
      continue;
    }
    try {
      out[key] = def.parse(raw);
    } catch {
      const shown = def.secret ? '(hidden)' : JSON.stringify(raw);
      problems.push(`${def.variable} is invalid: expected ${def.expects}, got ${shown}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out as ConfigOf<S>;
}

/** Markdown table of a spec, used to keep the docs' configuration reference true. */
export function describeConfig(spec: ConfigSpec): string {
  const rows = Object.values(spec).map((d) => {
    const dflt =
      d.fallback === undefined ? (d.optional ? '(unset)' : '**required**') : `\`${String(d.fallback)}\``;
    return `| \`${d.variable}\` | ${d.expects} | ${d.secret ? '(secret)' : dflt} |`;
  });
  return ['| variable | expects | default |', '|---|---|---|', ...rows].join('\n');
}
