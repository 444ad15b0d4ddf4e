export { MmkitError, isMmkitError } from './errors';
export type { MmkitErrorCode, MmkitErrorDetails } from './errors';
