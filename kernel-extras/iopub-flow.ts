/**
 * Keeping iopub traffic intact under bursts.
 *
 * zeromq 6 sends up to 512 messages synchronously, then delays the next one and throws
 * EBUSY ("only one send operation may be in progress") for any send made meanwhile. tslab
 * never awaits a send, so a cell printing in a tight loop lost messages — including the final
 * `idle`, which left clients waiting forever. iopub sends are therefore queued, and stream
 * text is batched (as ipykernel does) so a loop of console.log makes a few messages.
 */
import type { TslabModules, ZmqSocket } from './tslab-internals';

export interface ClosableSocket extends ZmqSocket {
  close(): void;
}

/**
 * A stand-in for a socket whose sends wait for the previous one; a failed send (socket
 * closed) is dropped. zeromq's socket objects are sealed, so the socket is wrapped rather
 * than patched; tslab only ever calls send and close on its iopub socket.
 */
export function queuedSends(socket: ClosableSocket): ClosableSocket {
  let tail: Promise<void> = Promise.resolve();
  return {
    send(frames) {
      tail = tail.then(() => socket.send(frames)).catch(() => undefined);
      return tail;
    },
    close() {
      socket.close();
    },
  };
}

/**
 * A PUB socket drops messages beyond its high-water mark (1000 by default) when the frontend
 * reads slower than a cell publishes. Outputs must not vanish, so the publishers tslab creates
 * get no limit (the option only counts when set before the socket binds).
 */
export function unboundedPublishers(zeromq: TslabModules['zeromq']): void {
  const Publisher = zeromq.Publisher;
  zeromq.Publisher = class extends Publisher {
    constructor(options: { sendHighWaterMark?: number } = {}) {
      super({ sendHighWaterMark: 0, ...options });
    }
  };
}

type WriteStream = (name: string, text: string) => void;

/**
 * Collects stdout/stderr text of one cell and sends it as few stream messages as possible:
 * on the next turn of the event loop, or at once before anything else goes out, so outputs
 * keep their order.
 */
export class StreamBatcher {
  private pending: { name: string; text: string }[] = [];
  private scheduled = false;

  constructor(private readonly writeStream: WriteStream) {}

  write(name: string, text: string): void {
    const last = this.pending[this.pending.length - 1];
    if (last?.name === name) last.text += text;
    else this.pending.push({ name, text });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    const pending = this.pending;
    this.pending = [];
    for (const { name, text } of pending) this.writeStream(name, text);
  }
}
