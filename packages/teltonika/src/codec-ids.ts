export const CodecId = {
  CODEC_8: 0x08,
  CODEC_8E: 0x8e,
  CODEC_16: 0x10,
  CODEC_12: 0x0c,
  CODEC_13: 0x0d,
  CODEC_14: 0x0e,
} as const;

export type CodecId = (typeof CodecId)[keyof typeof CodecId];

/** Codecs that carry AVL records and are acknowledged with the record count. */
export type AvlCodecId = typeof CodecId.CODEC_8 | typeof CodecId.CODEC_8E | typeof CodecId.CODEC_16;

export function isAvlCodec(codec: number): codec is AvlCodecId {
  return codec === CodecId.CODEC_8 || codec === CodecId.CODEC_8E || codec === CodecId.CODEC_16;
}
