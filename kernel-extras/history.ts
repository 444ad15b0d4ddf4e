/**
 * The kernel's input history, answering history_request (tail, range, search). One kernel
 * process is one history session.
 */
export interface HistoryRequest {
  output?: boolean;
  hist_access_type?: 'tail' | 'range' | 'search';
  session?: number;
  start?: number;
  stop?: number;
  n?: number;
  pattern?: string;
  unique?: boolean;
}

interface HistoryEntry {
  line: number;
  code: string;
  output: string | null;
}

type HistoryRow = [number, number, string | [string, string | null]];

const SESSION = 1;

export class History {
  private readonly entries: HistoryEntry[] = [];

  record(line: number, code: string, output: string | null): void {
    this.entries.push({ line, code, output });
  }

  query(req: HistoryRequest): HistoryRow[] {
    const row = (e: HistoryEntry): HistoryRow => [SESSION, e.line, req.output ? [e.code, e.output] : e.code];
    const last = (list: HistoryEntry[]) => (req.n === undefined ? list : list.slice(Math.max(0, list.length - req.n)));
    switch (req.hist_access_type) {
      case 'tail':
        return last(this.entries).map(row);
      case 'range': {
        if (req.session !== undefined && req.session !== SESSION && req.session !== 0) return [];
        const start = req.start ?? 0;
        const stop = req.stop ?? Number.POSITIVE_INFINITY;
        return this.entries.filter((e) => e.line >= start && e.line < stop).map(row);
      }
      case 'search': {
        const matcher = globToRegExp(req.pattern ?? '*');
        let found = this.entries.filter((e) => matcher.test(e.code));
        if (req.unique) {
          // Keep the latest occurrence of each distinct input.
          const seen = new Set<string>();
          found = found.reverse().filter((e) => !seen.has(e.code) && seen.add(e.code)).reverse();
        }
        return last(found).map(row);
      }
      default:
        return [];
    }
  }
}

/** IPython's history patterns are globs: * any run of characters, ? one character. */
function globToRegExp(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[\\s\\S]*').replace(/\?/g, '[\\s\\S]');
  return new RegExp(`^${body}$`);
}
