export type { EdgeLeaseDeps, EdgeLeaseEntry } from './edge-lease.ts';
export { EdgeLease, edgeIdOf } from './edge-lease.ts';
export type { DownlinkCallback, DownlinkReceiver, DownlinkSubscription } from './lean-subscription.ts';
export { subscribeLean } from './lean-subscription.ts';
export type { PresenceRecorderDeps } from './presence.ts';
export { PresenceRecorder } from './presence.ts';
export type { Claim, CloseOrder, Takeover, TakeoverDeps } from './takeover.ts';
export {
  announceClaim,
  claimDevice,
  closeOrderIn,
  closeOrderOf,
  encodeCloseOrder,
  isRevocation,
  mustClose,
  REVOCATION_EPOCH,
  TAKEOVER_REASON,
  takeOver,
} from './takeover.ts';
