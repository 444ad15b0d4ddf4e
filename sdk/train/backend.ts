import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { MmkitError, messageOf } from '../errors';

export type TrainingBackend = 'tensorflow' | 'wasm' | 'cpu';

/** Loads tfjs-node when it is installed (an optional dependency that cannot install everywhere). */
function tryTfjsNode(): boolean {
  try {
    require('@tensorflow/tfjs-node');
    return true;
  } catch {
    return false;
  }
}

/**
 * Picks the fastest tfjs backend present: tfjs-node's native 'tensorflow', else 'wasm'
 * (several times faster than 'cpu' for our models), else 'cpu'. Pass one to force it.
 */
export async function useTrainingBackend(prefer?: TrainingBackend): Promise<TrainingBackend> {
  const order: TrainingBackend[] = prefer ? [prefer] : ['tensorflow', 'wasm', 'cpu'];
  for (const name of order) {
    if (name === 'tensorflow' && !tryTfjsNode()) continue;
    try {
      if (tf.getBackend() === name || (await tf.setBackend(name))) {
        await tf.ready();
        return name;
      }
    } catch (e) {
      if (prefer) throw new MmkitError('UNKNOWN_DEVICE', `The tfjs backend '${name}' failed to start: ${messageOf(e)}`, { hint: "Leave the backend unset to pick one that works, or install '@tensorflow/tfjs-node'.", cause: e });
    }
  }
  throw new MmkitError('UNKNOWN_DEVICE', `No tfjs backend among ${order.join(', ')} could start.`, {
    hint: prefer === 'tensorflow' ? "Install '@tensorflow/tfjs-node', or leave the backend unset." : "Reinstall '@tensorflow/tfjs' and '@tensorflow/tfjs-backend-wasm'.",
  });
}
