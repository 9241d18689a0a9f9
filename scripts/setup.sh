#!/usr/bin/env bash
# setup.sh installs what `make test` and `make demo` need on a fresh Debian
# machine: Debian packages (ClickHouse, protoc, SNMP and LLDP peers) and the
# pinned Go code generators. It is idempotent: a second run installs nothing.
set -euo pipefail

PKGS=(clickhouse-server clickhouse-client protobuf-compiler libprotobuf-dev snmpd snmp lldpd snmpsim iproute2)
# A binary (or absolute file path) proving each package is present, same order as PKGS.
BINS=(clickhouse-server clickhouse-client protoc /usr/include/google/protobuf/timestamp.proto snmpd snmpwalk lldpd snmpsimd ip)

missing=()
for i in "${!PKGS[@]}"; do
  b="${BINS[$i]}"
  if [[ "$b" == /* ]]; then
    [ -e "$b" ] && continue
  elif command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] || [ -x "/usr/bin/$b" ]; then
    continue
  fi
  missing+=("${PKGS[$i]}")
done

if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts some daemons on install on systems with an init; racktrack
  # always starts private copies, so stop any system-wide instance quietly.
  for svc in snmpd lldpd clickhouse-server; do
    $SUDO service "$svc" stop >/dev/null 2>&1 || true
  done
else
  echo "setup: Debian packages present"
fi

GOBIN_DIR="$(go env GOPATH)/bin"
PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.5.1
need_go_tool() { # name version
  local bin="$GOBIN_DIR/$1"
  [ -x "$bin" ] || return 0
  "$bin" --version 2>/dev/null | grep -q "${2#v}" && return 1
  return 0
}
if need_go_tool protoc-gen-go "$PROTOC_GEN_GO_VERSION"; then
  echo "setup: go install protoc-gen-go@$PROTOC_GEN_GO_VERSION"
  go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
fi
if need_go_tool protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION"; then
  echo "setup: go install protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
  go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
fi
echo "setup: done"
