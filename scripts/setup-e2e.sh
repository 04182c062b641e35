#!/usr/bin/env bash
# Installs the system packages the full test suite and the load test use (Debian/Ubuntu, as root or with
# sudo): chromium (the status page's browser test, driven by playwright-core), nginx-light (the cluster's
# load balancer), docker-compose (checks the compose files), jq (examples/rest.sh). `npm test` never installs anything itself:
# without these, their tests are skipped with a message saying what to install.
set -euo pipefail
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v nginx >/dev/null || missing+=(nginx-light)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v jq >/dev/null || missing+=(jq)
if [ ${#missing[@]} -eq 0 ]; then echo "setup:e2e: chromium, nginx, docker-compose and jq are installed"; exit 0; fi
sudo=$([ "$(id -u)" -eq 0 ] && echo || echo sudo)
echo "setup:e2e: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
