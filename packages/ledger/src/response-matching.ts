/**
 * Which open command a device's answer belongs to. Trackers answer Codec 12 commands with free text
 * and no id, so the seed gateway's rules apply: a command with a known expected answer matches only
 * text that fits it; the others (custom/raw commands) take answers oldest-first. An answer that
 * names its command (the edge knows which one was in flight) goes to that command first.
 */

/** Known Teltonika commands and what their answers look like; keys are normalised command text. */
const EXPECTED_RESPONSES: ReadonlyArray<{ command: RegExp; response: RegExp }> = [
  { command: /^getinfo$/, response: /^INI:|RTC:/ },
  { command: /^getver$/, response: /^Ver:/ },
  { command: /^getstatus$/, response: /Data Link|GPRS/ },
  { command: /^getgps$/, response: /GPS:|Lat:/ },
  { command: /^getio$/, response: /DI1:|DIN1:|AIN1:/ },
  { command: /^readio \d+$/, response: /^IO ID:|Value:/ },
  { command: /^ggps$/, response: /GPS:|http/ },
  { command: /^setparam /, response: /^New value|^Param ID/ },
  { command: /^getparam /, response: /^Param ID|^Value/ },
];

/** `setdigout 1?`, `setdigout 10`, … : the answer reports DOUT1 at the first requested value. */
const SETDIGOUT = /^setdigout ([01?])[01?]*\??$/;

export function normaliseCommandText(text: string): string {
  return text.trim().replace(/\s+/g, ' ').toLowerCase();
}

/** The pattern an answer to `commandText` must match, or undefined for commands we know nothing about. */
export function expectedResponse(commandText: string | null | undefined): RegExp | undefined {
  if (!commandText) return undefined;
  const text = normaliseCommandText(commandText);
  const digout = SETDIGOUT.exec(text);
  if (digout) {
    const value = digout[1] === '?' ? '[01]' : digout[1];
    return new RegExp(`DOUT1:${value}|DOUT1:Already set to ${value}`);
  }
  return EXPECTED_RESPONSES.find((e) => e.command.test(text))?.response;
}

/** Does `response` fit what `commandText` should answer? Unknown commands accept anything. */
export function responseFits(commandText: string | null | undefined, response: string): boolean {
  const pattern = expectedResponse(commandText);
  return pattern === undefined || pattern.test(response);
}

export interface MatchCandidate {
  id: string;
  /** The command as the host wrote it. */
  command: string | null;
}

export interface MatchOptions {
  /** VALIDATE_COMMAND_RESPONSE: an answer that does not fit a command's expected pattern never completes it. */
  validate: boolean;
  /** The command the device named in its answer, if any. */
  commandId?: string;
}

/**
 * Picks the command an answer completes among the device's commands waiting for an answer, given
 * oldest first, or undefined when none may take it.
 */
export function matchResponse<C extends MatchCandidate>(
  text: string,
  ordered: readonly C[],
  options: MatchOptions,
): C | undefined {
  const named = options.commandId ? ordered.find((c) => c.id === options.commandId) : undefined;
  if (named && (!options.validate || responseFits(named.command, text))) return named;

  const known = ordered.filter((c) => expectedResponse(c.command) !== undefined);
  const fitting = known.find((c) => expectedResponse(c.command)!.test(text));
  if (fitting) return fitting;
  const unknown = ordered.find((c) => expectedResponse(c.command) === undefined);
  if (unknown) return unknown;
  return options.validate ? undefined : ordered[0];
}
