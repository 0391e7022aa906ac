#!/bin/sh
# Imports the LLM security data view and dashboard into Kibana (8.11+ or 9.x) with the
# saved objects import API: POST /api/saved_objects/_import?overwrite=true.
#
#   KIBANA_URL=https://my-kibana:5601 KIBANA_API_KEY=<base64 id:key> sh kibana/import.sh
#   KIBANA_URL=http://localhost:5601 ELASTIC_USERNAME=elastic ELASTIC_PASSWORD=changeme sh kibana/import.sh
#
# KIBANA_SPACE imports into a space other than the default one. POSIX sh and curl only,
# so that it also runs in the curl container of examples/elastic-stack.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
file="${1:-$here/llm-security.ndjson}"
url="${KIBANA_URL:-http://localhost:5601}"
space="${KIBANA_SPACE:+/s/$KIBANA_SPACE}"
if [ -n "${KIBANA_API_KEY:-}" ]; then
  set -- -H "Authorization: ApiKey $KIBANA_API_KEY"
elif [ -n "${ELASTIC_PASSWORD:-}" ]; then
  set -- -u "${ELASTIC_USERNAME:-elastic}:$ELASTIC_PASSWORD"
else
  set --
fi
# The HTTP status comes last on its own line (portable: no --fail-with-body, curl < 7.76 works).
out="$(curl -sS -w '\n%{http_code}' -X POST "$url$space/api/saved_objects/_import?overwrite=true" \
  -H "kbn-xsrf: true" "$@" --form "file=@$file")"
status="$(printf '%s\n' "$out" | tail -n 1)"
response="$(printf '%s\n' "$out" | sed '$d')"
echo "$response"
# The API answers 200 even when some objects fail; "success":false says so.
if [ "$status" = 200 ] && printf '%s' "$response" | grep -Eq '"success"[[:space:]]*:[[:space:]]*true'; then
  exit 0
fi
echo "import failed (HTTP $status): see the response above" >&2
exit 1
