import { statSync } from 'node:fs';
import * as path from 'node:path';
import { MmkitError } from '../errors';
import { hashFile } from '../hash-file';

/**
 * Facts an output can carry for the notebook's HTML report (the recipe that made a model,
 * the hashes of model files), under its own MIME type beside the visible ones. Frontends
 * ignore a MIME type they do not know; the headless runner collects these.
 */
export const REPORT_MIME = 'application/vnd.mmkit.report+json';

export interface ModelFact {
  name: string;
  path?: string;
  sha256: string;
  bytes: number;
}

export interface ReportFacts {
  recipe?: unknown;
  models?: ModelFact[];
}

/**
 * The bundle entry that hands facts to the report: spread it into any object's bundle,
 * e.g. `{ ...panelBundle, ...factsEntry({ recipe: pipeline.recipe }) }`.
 */
export function factsEntry(facts: ReportFacts): Record<typeof REPORT_MIME, ReportFacts> {
  return { [REPORT_MIME]: JSON.parse(JSON.stringify(facts)) as ReportFacts };
}

/** Size and SHA-256 of a model file, read as a stream (models can be large). */
export async function modelFact(file: string, name = path.basename(file)): Promise<ModelFact> {
  let bytes: number;
  try {
    bytes = statSync(file).size;
  } catch (cause) {
    throw new MmkitError('FILE_NOT_FOUND', `Cannot hash ${file}: it does not exist.`, { file, cause });
  }
  return { name, path: file, sha256: await hashFile(file), bytes };
}
