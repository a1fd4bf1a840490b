// Datastore managed-export reader: public surface.
export { readExport, readExportBatches, readLocatedBatches, type ReadExportOptions, type EntityBatch, type CorruptRecord } from './read-export.js';
export { locateExport, skippedExportWarnings, type LocatedExport, type ExportPart, type SkippedExport } from './locate.js';
export type { ExportStore } from './export-store.js';
export { parseOverallMetadata, parseExportMetadata, type OverallMetadata, type OverallEntry, type ExportMetadata } from './metadata.js';
export { EntityDecoder, timestampFromMicros } from './entity-proto.js';
export { LogReader } from './log-reader.js';
export { BLOCK_SIZE, HEADER_SIZE, maskCrc, unmaskCrc } from './log-format.js';
export { entityJson, valueJson, hashMapOrder } from './lookup-json.js';
