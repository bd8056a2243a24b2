#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build flannel-rs and run its lab (needs root).
set -euo pipefail
pkgs=(etcd-server etcd-client iptables iproute2 iputils-ping procps protobuf-compiler
      containernetworking-plugins iperf3 nftables conntrack curl)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's etcd-server package starts a system etcd; the lab runs its own inside a namespace.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now etcd >/dev/null 2>&1 || true; fi
command -v cargo >/dev/null || { echo "cargo (Rust toolchain) is required" >&2; exit 1; }
