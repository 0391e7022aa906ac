#!/bin/sh
# pip-installs the mounted repository (/src, read-only) and any extra requirements given
# as arguments, e.g.: sh /setup/install.sh '/tmp/src[openai]' flask
set -eu
mkdir -p /tmp/src
# Copy without the host's virtualenvs and git data: pip builds in the source tree.
tar -C /src --exclude=./.venv --exclude=./.venv-llmguard --exclude=./.git -cf - . | tar -C /tmp/src -xf -
pip install -q --disable-pip-version-check "$@"
