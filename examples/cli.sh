#!/bin/sh
# The raftbox client commands, run from the repository (`npx raftbox`, or `raftbox` after `npm link`).
# RAFTBOX_URL (default http://127.0.0.1:3000); against an OAuth-protected node, `npx raftbox login` first.
set -eu
cd "$(dirname "$0")/.."
SESSION=cli-$$

echo 'console.log("from stdin"); [1, 2, 3].map((n) => n * 2)' | npx raftbox run -
printf 'let visits = 0;\n' > "/tmp/raftbox-example-$$.ts"
npx raftbox run "/tmp/raftbox-example-$$.ts" --session "$SESSION"
echo 'visits += 1' | npx raftbox run - --session "$SESSION"
echo 'visits += 1' | npx raftbox run - --session "$SESSION" --tag example=cli
rm -f "/tmp/raftbox-example-$$.ts"

# Code that throws: the error on stderr, exit code 1.
if echo 'throw new Error("on purpose")' | npx raftbox run -; then exit 1; fi

npx raftbox executions list --session "$SESSION"
npx raftbox sessions get "$SESSION"
npx raftbox sessions delete "$SESSION"
