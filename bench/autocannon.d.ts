// The part of autocannon's API the serving bench uses (the package ships no types).
declare module 'autocannon' {
  interface Options {
    url: string;
    connections: number;
    duration: number;
    method?: 'POST' | 'GET';
    headers?: Record<string, string>;
    body?: Buffer | string;
    /** Seconds before a request counts as a timeout (default 10). */
    timeout?: number;
  }
  interface Stat {
    average: number;
    p50: number;
    p99: number;
  }
  interface Result {
    requests: Stat & { total: number };
    latency: Stat;
    non2xx: number;
    errors: number;
    timeouts: number;
  }
  function autocannon(opts: Options): Promise<Result>;
  export = autocannon;
}
