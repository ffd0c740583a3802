// Prometheus' own tool (Debian's prometheus package; .ci/run installs it), run as a process.
export async function promtool(args: string[], opts: { stdin?: string; cwd?: string } = {}): Promise<{ code: number; output: string }> {
  const bin = Bun.which("promtool");
  if (!bin) throw new Error("promtool not found: apt-get install -y prometheus (.ci/run installs it)");
  const p = Bun.spawn([bin, ...args], { cwd: opts.cwd, stdin: opts.stdin === undefined ? "ignore" : new Blob([opts.stdin]), stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, output: (out + err).trim() };
}
