/** `p`, or a rejection after `ms`; the timer is cleared and a late rejection of `p` is absorbed. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  p.catch(() => {}); // the loser of the race must not surface as an unhandled rejection
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
