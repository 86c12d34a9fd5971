// PostgreSQL log sequence numbers ("16/B374D848") as comparable 64-bit integers.

const LSN_TEXT = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

export function isLsn(text: string): boolean {
  return LSN_TEXT.test(text);
}

export function parseLsn(text: string): bigint {
  const m = LSN_TEXT.exec(text);
  if (!m) throw new RangeError(`not an LSN: ${JSON.stringify(text)}`);
  return (BigInt('0x' + m[1]) << 32n) | BigInt('0x' + m[2]);
}

export function formatLsn(value: bigint): string {
  return `${(value >> 32n).toString(16).toUpperCase()}/${(value & 0xffffffffn).toString(16).toUpperCase()}`;
}

export function compareLsn(a: string, b: string): number {
  const x = parseLsn(a);
  const y = parseLsn(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

export function maxLsn(a: string, b: string): string {
  return compareLsn(a, b) >= 0 ? a : b;
}
