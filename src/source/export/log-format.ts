// The LevelDB log format (google/leveldb doc/log_format.md) of Datastore export files: the
// 32 KiB block, the 7-byte record header (masked CRC32C, length, type), the record types,
// and the error a damaged byte of it becomes. Read by log-reader.ts and block-fingerprint.ts.
import { MlbridgeError } from '../../model/errors.js';

export const BLOCK_SIZE = 32768;
export const HEADER_SIZE = 7;
/** Upper bound for one reassembled record; Datastore entities are at most ~1 MiB. */
export const DEFAULT_MAX_RECORD = 64 * 1024 * 1024;

export const FULL = 1;
export const FIRST = 2;
export const MIDDLE = 3;
export const LAST = 4;

const MASK_DELTA = 0xa282ead8;
export function unmaskCrc(masked: number): number {
  const rot = (masked - MASK_DELTA) >>> 0;
  return ((rot >>> 17) | (rot << 15)) >>> 0;
}
export function maskCrc(crc: number): number {
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + MASK_DELTA) >>> 0;
}

export interface CorruptRecord {
  file: string;
  offset: number;
  reason: string;
}

export function corruptError(file: string, offset: number, reason: string): MlbridgeError {
  return new MlbridgeError('EXPORT_CORRUPT', `${file}: byte offset ${offset}: ${reason}`, { resource: file });
}

/** Byte offsets [start, end) of a file, multiples of BLOCK_SIZE (end: Infinity for the file's end). */
export interface ByteRange {
  start: number;
  end: number;
}
