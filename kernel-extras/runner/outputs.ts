import type { JupyterMessage } from '../wire';
import type { Output } from './notebook';

interface DisplayLocation {
  outputs: Output[];
  output: Extract<Output, { output_type: 'display_data' }>;
}

/**
 * Turns a cell's iopub messages into nbformat outputs, the way Jupyter frontends do:
 * consecutive stream text merges, update_display_data rewrites every earlier output with
 * that display id (in any cell), clear_output(wait) clears when the next output comes.
 */
export class OutputCollector {
  private readonly displays = new Map<string, DisplayLocation[]>();
  private clearBeforeNext = false;

  apply(outputs: Output[], message: JupyterMessage): void {
    const content = message.content;
    const type = message.header.msg_type;
    if (type === 'clear_output') {
      if (content.wait === true) this.clearBeforeNext = true;
      else this.clear(outputs);
      return;
    }
    if (type === 'update_display_data') {
      for (const location of this.displays.get(displayIdOf(content)) ?? []) {
        location.output.data = content.data as Record<string, unknown>;
        location.output.metadata = (content.metadata as Record<string, unknown>) ?? {};
      }
      return;
    }
    if (!['stream', 'display_data', 'execute_result', 'error'].includes(type)) return;
    if (this.clearBeforeNext) {
      this.clearBeforeNext = false;
      this.clear(outputs);
    }
    switch (type) {
      case 'stream': {
        const name = content.name === 'stderr' ? 'stderr' : 'stdout';
        const last = outputs[outputs.length - 1];
        if (last?.output_type === 'stream' && last.name === name) last.text = String(last.text) + String(content.text);
        else outputs.push({ output_type: 'stream', name, text: String(content.text) });
        return;
      }
      case 'display_data': {
        const output: DisplayLocation['output'] = {
          output_type: 'display_data',
          data: content.data as Record<string, unknown>,
          metadata: (content.metadata as Record<string, unknown>) ?? {},
        };
        outputs.push(output);
        const id = displayIdOf(content);
        if (id) this.displays.set(id, [...(this.displays.get(id) ?? []), { outputs, output }]);
        return;
      }
      case 'execute_result':
        outputs.push({
          output_type: 'execute_result',
          execution_count: (content.execution_count as number) ?? null,
          data: content.data as Record<string, unknown>,
          metadata: (content.metadata as Record<string, unknown>) ?? {},
        });
        return;
      case 'error':
        outputs.push({
          output_type: 'error',
          ename: String(content.ename),
          evalue: String(content.evalue),
          traceback: (content.traceback as string[]) ?? [],
        });
        return;
    }
  }

  private clear(outputs: Output[]): void {
    outputs.length = 0;
    for (const [id, locations] of this.displays) {
      this.displays.set(id, locations.filter((l) => l.outputs !== outputs));
    }
  }
}

function displayIdOf(content: Record<string, unknown>): string {
  const transient = content.transient as { display_id?: unknown } | undefined;
  return typeof transient?.display_id === 'string' ? transient.display_id : '';
}
