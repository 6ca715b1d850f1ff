import type { AvlCodecId } from './codec-ids.ts';

export const Priority = { LOW: 0, HIGH: 1, PANIC: 2 } as const;
export type Priority = (typeof Priority)[keyof typeof Priority];

/** Codec 16 only: why the record was generated. Values above 7 are passed through as numbers. */
export const GenerationType = {
  ON_EXIT: 0,
  ON_ENTRANCE: 1,
  ON_BOTH: 2,
  RESERVED: 3,
  HYSTERESIS: 4,
  ON_CHANGE: 5,
  EVENTUAL: 6,
  PERIODICAL: 7,
} as const;

/**
 * One IO element as carried on the wire. The declared width is kept because the same id can be
 * sent at different widths by different models, and readers (io-elements.ts) need it for signedness.
 * 8-byte values are bigint (a number would lose precision above 2^53); NX values are raw bytes.
 */
export type IoValue =
  | { readonly id: number; readonly width: 1 | 2 | 4; readonly value: number }
  | { readonly id: number; readonly width: 8; readonly value: bigint }
  | { readonly id: number; readonly width: 'x'; readonly value: Uint8Array };

export type IoWidth = IoValue['width'];

export interface AvlRecord {
  /** Milliseconds since the Unix epoch (UTC), as sent by the device. */
  readonly timestamp: number;
  readonly priority: Priority;
  /** Degrees, negative west. Records without a fix repeat the last known position. */
  readonly longitude: number;
  /** Degrees, negative south. */
  readonly latitude: number;
  /** Metres, signed. */
  readonly altitude: number;
  /** Degrees from north. */
  readonly angle: number;
  /** 0 when the record was taken without a GPS fix. */
  readonly satellites: number;
  /** km/h; 0 when GPS is invalid. */
  readonly speed: number;
  /** IO id that triggered the record, 0 when it was not event-driven. */
  readonly eventIoId: number;
  /** Codec 16 only (see GenerationType). */
  readonly generationType?: number;
  /** In wire order: 1-byte group, 2-byte, 4-byte, 8-byte, then NX (Codec 8 Extended). */
  readonly io: readonly IoValue[];
}

export interface AvlPacket {
  readonly kind: 'avl';
  readonly codec: AvlCodecId;
  readonly records: readonly AvlRecord[];
  /** The number to send back (see encodeRecordCountAck) once the records are durably handed off. */
  readonly ack: number;
}
