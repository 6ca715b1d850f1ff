import { type AvlCodecId, CodecId } from './codec-ids.ts';

/** What differs between the three AVL codecs; the record structure is otherwise identical. */
export interface AvlLayout {
  /** Width of the event IO id and of every IO id. */
  readonly idBytes: 1 | 2;
  /** Width of N and of the per-group counts. */
  readonly countBytes: 1 | 2;
  readonly hasGenerationType: boolean;
  /** Codec 8 Extended's variable-length NX group. */
  readonly hasVariableGroup: boolean;
}

export const AVL_LAYOUTS: Readonly<Record<AvlCodecId, AvlLayout>> = {
  [CodecId.CODEC_8]: { idBytes: 1, countBytes: 1, hasGenerationType: false, hasVariableGroup: false },
  [CodecId.CODEC_8E]: { idBytes: 2, countBytes: 2, hasGenerationType: false, hasVariableGroup: true },
  [CodecId.CODEC_16]: { idBytes: 2, countBytes: 1, hasGenerationType: true, hasVariableGroup: false },
};

export const FIXED_IO_WIDTHS = [1, 2, 4, 8] as const;

/** Coordinates travel as signed degrees × 10^7. */
export const COORDINATE_SCALE = 1e7;
