import { COMMAND_STATE, type CommandState } from '@fleetwire/protocol';

/** States in which a command still waits for something: sending, an answer, or its deadline. */
export const OPEN_STATES = [COMMAND_STATE.QUEUED, COMMAND_STATE.SENT, COMMAND_STATE.DELIVERED] as const;
/** States a command never leaves. */
export const TERMINAL_STATES = [
  COMMAND_STATE.COMPLETED,
  COMMAND_STATE.FAILED,
  COMMAND_STATE.EXPIRED,
  COMMAND_STATE.SUPERSEDED,
  COMMAND_STATE.CANCELLED,
] as const;

export function isOpen(state: CommandState): boolean {
  return (OPEN_STATES as readonly CommandState[]).includes(state);
}

export function isTerminal(state: CommandState): boolean {
  return (TERMINAL_STATES as readonly CommandState[]).includes(state);
}

/**
 * Which states each transition may start from: every change is an `UPDATE … WHERE state IN (…)`
 * built from this table, so the database, not the caller, decides who wins a race.
 */
export const ALLOWED_FROM: Readonly<Record<CommandState, readonly CommandState[]>> = {
  queued: [],
  // A resend leaves a command `sent`; `delivered` is resent when its result never came.
  sent: [COMMAND_STATE.QUEUED, COMMAND_STATE.SENT, COMMAND_STATE.DELIVERED],
  delivered: [COMMAND_STATE.SENT],
  // A reply may overtake the commit that marks its command sent, so `queued` is accepted too.
  completed: OPEN_STATES,
  failed: OPEN_STATES,
  expired: OPEN_STATES,
  superseded: OPEN_STATES,
  cancelled: OPEN_STATES,
};
