/** CRC-16/IBM (a.k.a. CRC-16/ARC): reflected polynomial 0xA001, init 0, no final XOR. */

const POLY_REFLECTED = 0xa001;

const TABLE = buildTable();

function buildTable(): Uint16Array {
  const table = new Uint16Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 1 ? (crc >>> 1) ^ POLY_REFLECTED : crc >>> 1;
    }
    table[byte] = crc;
  }
  return table;
}

export function crc16(data: Uint8Array): number {
  let crc = 0;
  // An index loop: the typed-array iterator of for…of was measurably slower on this hot path.
  for (let i = 0; i < data.length; i++) {
    crc = (crc >>> 8) ^ TABLE[(crc ^ data[i]!) & 0xff]!;
  }
  return crc;
}
