import { ConfigError } from '../config/index.ts';

export const HASH_PASSWORD_HELP = `Usage: raftbox hash-password

Prints the scrypt hash of a password (or a machine client's secret) for --oauth-users / --oauth-clients
(or their files, --oauth-users-file). The password is read from a pipe, or on a terminal from a prompt
that does not echo, asked twice; never from an argument (arguments end up in shell history and \`ps\`):

  printf %s "$PASSWORD" | npx raftbox hash-password
`;

/**
 * `raftbox hash-password`: prints the scrypt hash of a password (or a machine client's secret) for
 * `oauth.users` / `oauth.clients`. The password never comes from an argument: arguments end up in shell
 * history and in `ps`. It is read from a pipe (`printf %s "$PW" | raftbox hash-password`) or, on a
 * terminal, from a prompt that does not echo, asked twice.
 */
export async function hashPasswordCommand(argv: string[]): Promise<number> {
  if (argv.length > 0) throw new ConfigError('hash-password takes no arguments: it reads the password from stdin or a prompt');
  const password = process.stdin.isTTY ? await promptTwice() : withoutFinalNewline(await readAll(process.stdin));
  if (password === '') throw new ConfigError('empty password');
  const { hashPassword } = await import('../auth/index.ts'); // not for --help: it loads the OAuth server
  process.stdout.write(`${await hashPassword(password)}\n`);
  return 0;
}

/** `echo` and here-strings end the password with a newline that is not part of it; anything else is kept. */
function withoutFinalNewline(text: string): string {
  return text.replace(/\r?\n$/, '');
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += String(chunk);
  return text;
}

async function promptTwice(): Promise<string> {
  const first = await promptHidden('Password: ');
  const again = await promptHidden('Repeat password: ');
  if (first !== again) throw new ConfigError('the passwords do not match');
  return first;
}

/** One line from the terminal in raw mode, so nothing typed is echoed; Ctrl-C aborts, Ctrl-D ends the line. */
function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((resolve, reject) => {
    let line = '';
    const finish = (err?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(line);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return finish();
        if (ch === '\u0003') return finish(new ConfigError('cancelled'));
        if (ch === '\u007f' || ch === '\b') line = line.slice(0, -1);
        else line += ch;
      }
    };
    stdin.on('data', onData);
  });
}
