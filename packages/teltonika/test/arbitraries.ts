/** fast-check generators for AVL records within each codec's limits. */

import fc from 'fast-check';
import type { AvlRecord, IoValue } from '../src/avl-types.ts';
import type { AvlCodecId } from '../src/codec-ids.ts';

const MAX_GROUP = 6;

/** Coordinates as the wire carries them: any int32 of degrees × 10^7. */
const coordinate = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map((raw) => raw / 1e7);

function ioGroup<T extends IoValue>(
  idMax: number,
  element: (id: number) => fc.Arbitrary<T>,
): fc.Arbitrary<T[]> {
  return fc.array(
    fc.integer({ min: 0, max: idMax }).chain((id) => element(id)),
    { maxLength: MAX_GROUP },
  );
}

/** IO elements in wire order (grouped by width), so a round trip can compare them as-is. */
export function ioElements(codec: AvlCodecId): fc.Arbitrary<IoValue[]> {
  const idMax = codec === 0x08 ? 0xff : 0xffff;
  const fixed = (width: 1 | 2 | 4) =>
    ioGroup(idMax, (id) =>
      fc.integer({ min: 0, max: 2 ** (8 * width) - 1 }).map((value): IoValue => ({ id, width, value })),
    );
  const eightByte = ioGroup(idMax, (id) =>
    fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((value): IoValue => ({ id, width: 8, value })),
  );
  const variable =
    codec === 0x8e
      ? ioGroup(idMax, (id) =>
          fc.uint8Array({ maxLength: 24 }).map((value): IoValue => ({ id, width: 'x', value })),
        )
      : fc.constant([]);
  return fc.tuple(fixed(1), fixed(2), fixed(4), eightByte, variable).map((groups) => groups.flat());
}

export function avlRecord(codec: AvlCodecId): fc.Arbitrary<AvlRecord> {
  const base = fc.record({
    timestamp: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    priority: fc.constantFrom(0 as const, 1 as const, 2 as const),
    longitude: coordinate,
    latitude: coordinate,
    altitude: fc.integer({ min: -0x8000, max: 0x7fff }),
    angle: fc.integer({ min: 0, max: 0xffff }),
    satellites: fc.integer({ min: 0, max: 0xff }),
    speed: fc.integer({ min: 0, max: 0xffff }),
    eventIoId: fc.integer({ min: 0, max: codec === 0x08 ? 0xff : 0xffff }),
    io: ioElements(codec),
  });
  if (codec !== 0x10) return base;
  return fc
    .tuple(base, fc.integer({ min: 0, max: 0xff }))
    .map(([record, generationType]) => ({ ...record, generationType }));
}

export const avlCodec = fc.constantFrom<AvlCodecId>(0x08, 0x8e, 0x10);
