export type { CommandRow, CommandView, TransitionView } from './command-view.ts';
export { stateChangeMsgId, toStateChange, toView } from './command-view.ts';
export { queuedCommandsConsumer } from './consumers.ts';
export type { CreateResult } from './create-batch.ts';
export type { CreateBatchOptions } from './create-batcher.ts';
export { CREATE_BATCH_DEFAULTS } from './create-batcher.ts';
export type { CreateCommandInput, NormalisedCreate } from './create-input.ts';
export { COMMAND_DEFAULTS, normaliseCreate } from './create-input.ts';
export type { PageKey } from './cursor.ts';
export { decodeCursor, encodeCursor } from './cursor.ts';
export type { LedgerErrorCode } from './errors.ts';
export { LEDGER_ERROR, LedgerError } from './errors.ts';
export type { CommandLedgerDeps, CommandPage, ListQuery } from './ledger.ts';
export { CommandLedger, MAX_PAGE } from './ledger.ts';
export type {
  DeviceHead,
  DispatchReason,
  OutboxId,
  PendingDispatch,
  TransitionChange,
} from './ledger-tx.ts';
export { LedgerTx } from './ledger-tx.ts';
export type { RelayOptions } from './outbox-relay.ts';
export { canonicalJson, requestHash } from './request-hash.ts';
export type { MatchCandidate, MatchOptions } from './response-matching.ts';
export { expectedResponse, matchResponse, normaliseCommandText, responseFits } from './response-matching.ts';
export { ALLOWED_FROM, isOpen, isTerminal, OPEN_STATES, TERMINAL_STATES } from './states.ts';
export type { FreshTables } from './statistics.ts';
export { analyzeFreshTables, FIRST_ANALYZE_ROWS, LEDGER_TABLES } from './statistics.ts';
export type { DeviceRef, TransitionRequest } from './transition-sql.ts';
