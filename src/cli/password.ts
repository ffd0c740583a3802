// A password for the CLI, never from argv (it would sit in the shell history and in `ps` for every
// user of the host): typed at a prompt without echo when stdin is a terminal (twice, to catch a
// typo), else the first line of stdin (`… --password < file`, or a secret manager's pipe).

export class PasswordInputError extends Error {}

const MIN = 8;
const MAX = 1024;

function checked(password: string): string {
  if (password.length < MIN) throw new PasswordInputError(`the password must be at least ${MIN} characters`);
  if (password.length > MAX) throw new PasswordInputError(`the password must be at most ${MAX} characters`);
  return password;
}

/** Reads one line from the terminal with echo off; Ctrl-C or Ctrl-D abort. */
function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let typed = "";
    const done = (err: Error | null) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.removeListener("data", onData);
      process.stderr.write("\n");
      if (err) reject(err);
      else resolve(typed);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString("utf8")) {
        if (ch === "\r" || ch === "\n") return done(null);
        if (ch === "\u0003" || ch === "\u0004") return done(new PasswordInputError("aborted"));
        if (ch === "\u007f" || ch === "\b") typed = [...typed].slice(0, -1).join("");
        else if (ch >= " ") typed += ch;
      }
    };
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on("data", onData);
  });
}

/** The new password for `username`: from a no-echo prompt on a terminal, else stdin's first line. */
export async function readNewPassword(username: string): Promise<string> {
  if (process.stdin.isTTY) {
    const first = checked(await promptHidden(`New password for ${username}: `));
    const again = await promptHidden("Repeat it: ");
    if (again !== first) throw new PasswordInputError("the two passwords differ");
    return first;
  }
  const text = await new Response(Bun.stdin.stream()).text();
  const line = text.split(/\r?\n/)[0] ?? "";
  if (line === "") throw new PasswordInputError("no password on stdin (pipe it in, or run this in a terminal to be asked)");
  return checked(line);
}
