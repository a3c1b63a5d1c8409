#!/bin/sh
# Install what building, running and testing zcrecvd need on Debian 12.
# Idempotent; skips apt entirely when everything is already installed.
set -eu
PKGS="autoconf automake make gcc clang pkg-config libevent-dev libinih-dev
libsystemd-dev libcap-dev libxxhash-dev libsodium-dev liburing-dev mandoc iproute2 procps jq
debootstrap systemd-container curl prometheus debhelper dpkg-dev fakeroot
lintian rsync xxhash e2fsprogs ethtool"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: need root to install:$missing" >&2
	exit 1
fi
echo "deps.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
# The prometheus package enables and starts a system-wide server on :9090.
# The tests start their own, on a free port: keep the packaged one off.
case " $missing " in
*" prometheus "*)
	if [ -d /run/systemd/system ]; then
		systemctl disable --now prometheus.service >/dev/null 2>&1 || true
	fi
	;;
esac
