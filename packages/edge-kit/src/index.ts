export type { PresenceRecorderDeps } from './presence.ts';
export { PresenceRecorder } from './presence.ts';
export type { CloseOrder, Takeover, TakeoverDeps } from './takeover.ts';
export {
  closeOrderIn,
  closeOrderOf,
  encodeCloseOrder,
  isRevocation,
  mustClose,
  REVOCATION_EPOCH,
  TAKEOVER_REASON,
  takeOver,
} from './takeover.ts';
