#!/bin/sh
# Sets the kibana_system password so that Kibana can connect (run by docker compose).
set -eu
until curl -fsS -u "elastic:$ELASTIC_PASSWORD" -X POST "http://elasticsearch:9200/_security/user/kibana_system/_password" \
    -H "Content-Type: application/json" -d "{\"password\":\"$KIBANA_PASSWORD\"}" >/dev/null; do
  echo "waiting for Elasticsearch security..." >&2
  sleep 5
done
echo "kibana_system password set"
