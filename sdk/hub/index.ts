export { parseHubRef, type HubRef } from './ref';
export { hubSettings, DEFAULT_ENDPOINT, type HubOptions, type HubSettings } from './settings';
export { resolveHubModel, type ResolveHubOptions, type ResolvedHubModel } from './resolve';
export { id2labelOf } from './model-files';
