// Names mlbridge reserves for itself.
import { OWNER_LABEL_KEY } from '../model/schema.js';
export { SYSTEM_COLUMNS, PROFILES_TABLE } from './defaults.js';
export const OWNER_LABEL_RESERVED = OWNER_LABEL_KEY;
