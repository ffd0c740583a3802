// Lowers the calling thread's scheduling priority. On Linux the nice value is per thread, so
// setpriority(PRIO_PROCESS, 0, n) from a worker leaves the serving thread at its own priority.
// Best effort: where libc or FFI is unavailable, the build simply runs at normal priority.
export function lowerThreadPriority(nice: number): boolean {
  if (process.platform !== "linux") return false;
  try {
    const { dlopen, FFIType } = require("bun:ffi") as typeof import("bun:ffi");
    const libc = dlopen("libc.so.6", { setpriority: { args: [FFIType.i32, FFIType.u32, FFIType.i32], returns: FFIType.i32 } });
    const ok = libc.symbols.setpriority(0, 0, nice) === 0;
    libc.close();
    return ok;
  } catch {
    return false;
  }
}
