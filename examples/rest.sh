#!/bin/sh
# The REST API with curl and jq. RAFTBOX_URL (default http://127.0.0.1:3000); RAFTBOX_TOKEN when OAuth is on.
set -eu
URL=${RAFTBOX_URL:-http://127.0.0.1:3000}
AUTH=${RAFTBOX_TOKEN:+authorization: Bearer $RAFTBOX_TOKEN}
api() { curl -sS --fail-with-body ${AUTH:+-H "$AUTH"} "$@"; }
SESSION=rest-$$

# Submit: 202 and an id at once; then long-poll the execution until it finishes (or 5 s pass).
ID=$(api "$URL/api/exec" -H 'content-type: application/json' -d '{"code": "console.log(\"hi\"); 6 * 7"}' | jq -r .execution_id)
api "$URL/api/executions/$ID?wait=5000" | jq '{status, result, output}'

# Or wait in the submit itself.
api "$URL/api/exec?wait=5000" -H 'content-type: application/json' -d '{"code": "1 + 1"}' | jq .result

# A session keeps its state between calls.
api "$URL/api/exec?wait=5000" -H 'content-type: application/json' -d "{\"code\": \"let n = 1\", \"session\": \"$SESSION\"}" > /dev/null
api "$URL/api/exec?wait=5000" -H 'content-type: application/json' -d "{\"code\": \"n += 1\", \"session\": \"$SESSION\"}" | jq .result

# A raw script as the body: its content type says the language; the other parameters go in the query.
printf 'const words: string[] = ["raw", "typescript"];\nwords.join(" ")\n' |
  api "$URL/api/exec?wait=5000&session=$SESSION" -H 'content-type: application/typescript' --data-binary @- | jq .result

api "$URL/api/sessions/$SESSION" | jq '[.journal[].code]'
api -X DELETE "$URL/api/sessions/$SESSION" | jq .deleted
