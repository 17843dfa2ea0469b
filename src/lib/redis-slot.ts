/** Redis Cluster's hash slots: 16,384 of them, by CRC16 (XMODEM) of the key or of its hash tag. */
export const clusterSlots = 16_384;

/** CRC16-XMODEM (polynomial 0x1021, initial 0), one table entry per byte value, built once. */
const crcTable = (() => {
  const table = new Uint16Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[byte] = crc;
  }
  return table;
})();

/** The bytes of a key: its char codes when it is ASCII (no encoding needed), else its UTF-8 bytes. */
function keyBytes(key: string): { readonly length: number; at(i: number): number } {
  for (let i = 0; i < key.length; i++) {
    if (key.charCodeAt(i) > 0x7f) {
      const bytes = Buffer.from(key, "utf8");
      return { length: bytes.length, at: (j) => bytes[j] as number };
    }
  }
  return { length: key.length, at: (j) => key.charCodeAt(j) };
}

/**
 * The slot Redis Cluster puts `key` in (the key as sent, any client key prefix included). Hashes the
 * part between the first `{` and the next `}` when that part is not empty, as Redis does.
 */
export function keySlot(key: string): number {
  const bytes = keyBytes(key);
  let start = 0;
  let end = bytes.length;
  let open = -1;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes.at(i) === 0x7b) {
      open = i;
      break;
    }
  }
  if (open >= 0) {
    for (let i = open + 1; i < bytes.length; i++) {
      if (bytes.at(i) === 0x7d) {
        if (i > open + 1) {
          start = open + 1;
          end = i;
        }
        break;
      }
    }
  }
  let crc = 0;
  for (let i = start; i < end; i++)
    crc = ((crc << 8) & 0xffff) ^ (crcTable[((crc >> 8) ^ bytes.at(i)) & 0xff] as number);
  return crc % clusterSlots;
}
