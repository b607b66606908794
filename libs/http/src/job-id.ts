import { randomBytes } from 'node:crypto';

/**
 * Job ids are random UUIDs of version 7 (RFC 9562): 48 bits of Unix milliseconds, then 74
 * random bits. They are unguessable like v4 ids, but their text sorts by creation time, so the
 * newest jobs can be found from key names alone without reading every record.
 */
export function newJobId(now: number = Date.now()): string {
  const bytes = randomBytes(16);
  let ms = Math.floor(now);
  for (let i = 5; i >= 0; i--) {
    bytes[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  bytes[6] = 0x70 | ((bytes[6] ?? 0) & 0x0f);
  bytes[8] = 0x80 | ((bytes[8] ?? 0) & 0x3f);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export const isJobId = (s: string): boolean => JOB_ID.test(s);
