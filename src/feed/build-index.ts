// Builds an index from a fresh snapshot in a worker thread and adopts its transferred buffers.
import type { IndexParts } from "../index/index-parts";
import { PermissionIndex } from "../index/permission-index";
import type { BuildRequest } from "./index-worker";

export interface BuiltIndex {
  index: PermissionIndex;
  loadMs: number;
  buildMs: number;
}

type Reply = { ok: true; parts: IndexParts; timings: { loadMs: number; buildMs: number } } | { ok: false; error: string; code?: string };

/** Rejects after `timeoutMs`, on `signal`'s abort (the worker is stopped either way) or when the worker fails. */
export function buildIndexInWorker(url: string, opts: { nice: number; timeoutMs: number; signal?: AbortSignal }): Promise<BuiltIndex> {
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) return reject(new Error("index build aborted"));
    const worker = new Worker(new URL("./index-worker.ts", import.meta.url).href);
    let settled = false;
    const finish = (f: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      worker.terminate();
      f();
    };
    const timer = setTimeout(() => finish(() => reject(new Error(`snapshot timed out after ${opts.timeoutMs} ms`))), opts.timeoutMs);
    worker.onmessage = (ev: MessageEvent<Reply>) => {
      const r = ev.data;
      if (r.ok) finish(() => resolve({ index: PermissionIndex.fromParts(r.parts), ...r.timings }));
      else finish(() => reject(Object.assign(new Error(r.error), { code: r.code })));
    };
    opts.signal?.addEventListener("abort", () => finish(() => reject(new Error("index build aborted"))), { once: true });
    worker.onerror = (ev) => finish(() => reject(new Error(`index build worker failed: ${ev.message}`)));
    worker.postMessage({ url, nice: opts.nice } satisfies BuildRequest);
  });
}
