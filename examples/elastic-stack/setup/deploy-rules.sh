#!/bin/sh
# Installs otel-llm-security from the mounted repository and deploys rules/*.toml as
# enabled Elastic Security detection rules (run by docker compose, service deploy-rules).
set -eu
sh "$(dirname "$0")/install.sh" '/tmp/src[local]'
# Kibana's detection engine API takes an API key: create one with the elastic user.
KIBANA_API_KEY="$(python - <<'PY'
import base64, json, os, urllib.request
auth = base64.b64encode(f"{os.environ['ELASTIC_USERNAME']}:{os.environ['ELASTIC_PASSWORD']}".encode()).decode()
req = urllib.request.Request(
    f"{os.environ['ELASTICSEARCH_URL']}/_security/api_key",
    data=json.dumps({"name": "otel-llm-security-rules"}).encode(),
    headers={"Authorization": f"Basic {auth}", "Content-Type": "application/json"},
    method="POST",
)
print(json.load(urllib.request.urlopen(req, timeout=30))["encoded"])
PY
)"
export KIBANA_API_KEY
cd /tmp/src
otel-llm-security rules deploy --kibana-url "$KIBANA_URL" --overwrite --enabled rules
