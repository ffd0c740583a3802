// An exclusive lock on a directory, held by an open file: flock(2), which the kernel releases when
// the process dies however it dies (SIGKILL, OOM), so a crashed process never leaves a stale lock
// behind — and no pid file can be mistaken for a live owner after the pid was reused.
import { dlopen, FFIType } from "bun:ffi";
import { closeSync, openSync } from "node:fs";
import { join } from "node:path";

const LOCK_EX = 2;
const LOCK_NB = 4;

let flock: ((fd: number, op: number) => number) | null = null;
function libcFlock(): (fd: number, op: number) => number {
  if (flock === null) {
    const lib = dlopen(process.platform === "darwin" ? "libc.dylib" : "libc.so.6", {
      flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    });
    flock = lib.symbols.flock as (fd: number, op: number) => number;
  }
  return flock;
}

export interface DirLock {
  release(): void;
}

/** Takes `dir`'s lock without waiting; null when another process (or another open here) holds it. */
export function tryLockDir(dir: string): DirLock | null {
  const fd = openSync(join(dir, "lock"), "a");
  if (libcFlock()(fd, LOCK_EX | LOCK_NB) !== 0) {
    closeSync(fd);
    return null;
  }
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      closeSync(fd); // closing the descriptor releases the lock
    },
  };
}
