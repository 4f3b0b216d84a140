# scripts/lib/common.sh — pins, cache paths and messages shared by the
# scripts. Sourced, never run. Bash.

# Everything downloaded or built from outside lives here, outside the
# checkout, so a fresh clone on the same machine (CI) reuses it.
TWE_CACHE_DIR="${TWE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/twe}"

# The Temporal CLI, which contains the dev server. v1.5.1 = server 1.29.1;
# the newest tag whose go.mod has no replace directive (go install needs that).
TWE_TEMPORAL_CLI_MODULE="github.com/temporalio/cli/cmd/temporal"
TWE_TEMPORAL_CLI_VERSION="v1.5.1"
TWE_TEMPORAL_SERVER_VERSION="1.29.1"
TWE_TEMPORAL_CLI_DIR="$TWE_CACHE_DIR/temporal-cli-$TWE_TEMPORAL_CLI_VERSION"
TWE_TEMPORAL_CLI="$TWE_TEMPORAL_CLI_DIR/temporal"

# The Temporal API .proto files: the npm package @temporalio/core-bridge
# ships them with everything they import (google/api, nexusannotations) and
# the two extra files a gRPC client needs (google/rpc/status.proto,
# grpc/health/v1/health.proto). The checksum is the SHA-256 of the tarball.
TWE_PROTO_NPM_PACKAGE="@temporalio/core-bridge"
TWE_PROTO_NPM_VERSION="1.24.0"
TWE_PROTO_SHA256="5f58de2e98bdc4711be3cbb06cc08bc39cb274cbbac41d02f0352bfe1630a8f7"
TWE_PROTO_DIR="$TWE_CACHE_DIR/protos/temporalio-core-bridge-$TWE_PROTO_NPM_VERSION"
# Inside the tarball.
TWE_PROTO_TAR_ROOT="package/sdk-core/crates/protos/protos"

# The integration tests' Python client: a venv with the pinned temporalio
# (tests/support/requirements-tests.txt), made by scripts/bootstrap.
TWE_TEST_VENV="$TWE_CACHE_DIR/venv-tests"

twe_say() { printf 'twe: %s\n' "$*"; }
twe_die() { printf 'twe: error: %s\n' "$*" >&2; exit 1; }

# The project's root (the directory holding CMakeLists.txt).
twe_root() { cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd; }
