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

# `run` starts DynamoDB Local, exports its endpoint and credentials, runs
# cargo, always stops the server, and exits with cargo's status.
exec scripts/dynamodb-local.sh run -- cargo test --workspace --all-features "$@"
