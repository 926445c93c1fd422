#!/usr/bin/env bash
# The project's single "run every test" command: the whole workspace, every
# feature, against a real (local) DynamoDB. Extra args go to `cargo test`,
# e.g. `scripts/test.sh -p es-dynamo -- --nocapture`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Tells the tests that DynamoDB is required here: a test that needs it must
# fail, not skip, if AWS_ENDPOINT_URL_DYNAMODB is missing, so a broken
# emulator setup can never pass as a green run.
export ES_DYNAMODB=1

# castore itself, in Node, runs against es's tables in es-dynamo's interop
# tests; ES_CASTORE=1 makes them fail, not skip, if it cannot. `npm ci`
# installs exactly the versions in interop/castore/package-lock.json, and only
# when that lock is newer than the install.
castore=interop/castore
if [ ! -f "$castore/node_modules/.package-lock.json" ] ||
    [ "$castore/package-lock.json" -nt "$castore/node_modules/.package-lock.json" ]; then
    command -v npm >/dev/null 2>&1 ||
        { echo "scripts/test.sh: npm is needed to install castore for the interop tests (e.g. apt-get install -y npm)" >&2; exit 1; }
    (cd "$castore" && npm ci --no-audit --no-fund --loglevel=error) >&2
fi
export ES_CASTORE=1

# cfn-lint, from the Python package registry at the version pinned in
# scripts/cfn-lint.sh, into a cached venv (only when missing), for the
# shop-service's template_passes_cfn_lint; ES_CFN_LINT=1 makes that test
# fail, not skip, if it cannot run cfn-lint.
scripts/cfn-lint.sh install
export ES_CFN_LINT=1

# moto, from the Python package registry at the version pinned in
# scripts/moto.sh, into a cached venv (only when missing): SQS, SNS and
# EventBridge for the publisher's tests. ES_MOTO=1 makes those tests fail,
# not skip, without its endpoints.
scripts/moto.sh install
export ES_MOTO=1

# `run` starts DynamoDB Local, exports its endpoint and credentials, runs
# moto's `run`, which starts moto and exports its endpoints in turn, then
# cargo; each always stops its server, and the exit status is cargo's.
exec scripts/dynamodb-local.sh run -- scripts/moto.sh run -- cargo test --workspace --all-features "$@"
