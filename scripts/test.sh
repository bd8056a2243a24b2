#!/usr/bin/env bash
# Runs every test: unit tests, and the namespace-lab integration tests with real etcd,
# iptables and kernel devices (needs root: a test without root, or without a tool it uses, fails;
# none skips).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo build --workspace --all-targets --quiet
# Leftovers of an earlier interrupted run, by the lab's prefix.
./target/debug/lab-cleanup --prefix fl- --dirs >/dev/null 2>&1 || true
# The golden-file tests compare against the committed files; never rewrite them here.
unset UPDATE_GOLDEN
status=0
cargo test --workspace -- --test-threads="${TEST_THREADS:-4}" || status=$?
./target/debug/lab-cleanup --prefix fl- --dirs >/dev/null 2>&1 || true
exit $status
