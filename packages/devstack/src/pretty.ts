// Turns pino's JSON lines into one readable line per event for the combined `up` console.
const LEVELS: Record<string, string> = {
  trace: '\x1b[90mTRACE\x1b[0m',
  debug: '\x1b[36mDEBUG\x1b[0m',
  info: '\x1b[32mINFO \x1b[0m',
  warn: '\x1b[33mWARN \x1b[0m',
  error: '\x1b[31mERROR\x1b[0m',
  fatal: '\x1b[41mFATAL\x1b[0m',
};
const HIDDEN = new Set(['level', 'time', 'msg', 'service', 'instance', 'pid', 'hostname']);
const COLORS = [36, 35, 33, 32, 34, 96, 95, 93];

export function colourFor(index: number): (s: string) => string {
  const c = COLORS[index % COLORS.length];
  return (s) => `\x1b[${c}m${s}\x1b[0m`;
}

export function prettyLine(source: string, line: string): string {
  let parsed: Record<string, unknown> | undefined;
  if (line.startsWith('{')) {
    try {
      parsed = JSON.parse(line) as Record<string, unknown>;
    } catch {
      parsed = undefined;
    }
  }
  if (!parsed) return `${source} ${line}`;
  const time = typeof parsed.time === 'string' ? parsed.time.slice(11, 23) : '';
  const level = LEVELS[String(parsed.level)] ?? String(parsed.level);
  const fields = Object.entries(parsed)
    .filter(([k]) => !HIDDEN.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${time} ${source} ${level} ${String(parsed.msg ?? '')}${fields ? ` \x1b[90m${fields}\x1b[0m` : ''}`;
}
