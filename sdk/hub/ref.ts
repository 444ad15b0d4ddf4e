import { MmkitError } from '../errors';

/**
 * A model on a Hugging Face-compatible hub, as written in `mm.load('hf:...')`:
 *
 *   hf:<repo>[@<revision>][:<variant>]
 *
 * - `<repo>`: `org/name` (or a bare `name` for the hub's legacy root repos).
 * - `<revision>`: a branch, tag or commit hash (default `main`). Use `opts.revision` for
 *   revisions containing `:`.
 * - `<variant>`: which ONNX file of the repo. A plain name `X` means `onnx/X.onnx` (the layout
 *   transformers.js and Optimum export: `model`, `model_quantized`, `model_fp16`,
 *   `vision_model`, ...); a value ending in `.onnx` is a path inside the repo. Default `model`.
 *
 * Examples: `hf:Xenova/vit-base-patch16-224`, `hf:Xenova/clip-vit-base-patch32:vision_model`,
 * `hf:org/vit@v1.0:model_quantized`, `hf:org/vit:exports/vit-int8.onnx`.
 */
export interface HubRef {
  repo: string;
  revision?: string;
  variant: string;
  /** The ONNX file's path inside the repo. */
  modelFile: string;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export function parseHubRef(ref: string): HubRef {
  const bad = (why: string): MmkitError =>
    new MmkitError('BAD_OPTION', `'${ref}' is not a hub reference: ${why}.`, {
      hint: "Write hf:org/repo, optionally with @revision and :variant, e.g. 'hf:Xenova/vit-base-patch16-224@main:model_quantized'.",
    });
  if (!ref.startsWith('hf:')) throw bad("it must start with 'hf:'");
  let rest = ref.slice(3);
  let variant = 'model';
  const colon = rest.indexOf(':');
  if (colon >= 0) {
    variant = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!variant) throw bad('the variant after ":" is empty');
  }
  let revision: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    revision = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!revision) throw bad('the revision after "@" is empty');
  }
  const parts = rest.split('/');
  if (parts.length > 2 || !parts.every((p) => NAME.test(p) && p !== '..' && !p.includes('..'))) {
    throw bad('the repo must be "org/name" made of letters, digits, ".", "_" and "-"');
  }
  return { repo: rest, revision, variant, modelFile: variantFile(variant, bad) };
}

function variantFile(variant: string, bad: (why: string) => MmkitError): string {
  const file = variant.endsWith('.onnx') ? variant : `onnx/${variant}.onnx`;
  const segments = file.split('/');
  if (file.startsWith('/') || segments.some((s) => s === '' || s === '.' || s === '..')) {
    throw bad(`the variant '${variant}' is not a plain path inside the repo`);
  }
  return file;
}
