#!/usr/bin/env bash
# The main job: a 3-node flannel cluster in network namespaces with a real etcd (needs root).
# Usage: scripts/demo.sh [--backend vxlan|host-gw|udp] [--nodes N]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo build --workspace --quiet
exec ./target/debug/lab-demo "$@"
