#!/bin/sh
# Check the Debian packages that tlsrptd needs, and install the missing
# ones with apt-get when running as root on Debian; otherwise print the
# exact command to run.
#
# usage: scripts/deps.sh build|test
#   build: what `make` needs; test: also what `make check` needs, and, when
#   running as root, the unprivileged "tlsrptd" account that the suite
#   drops to (the tests start it as root in that case).
set -eu

mode=${1:-build}

build_packages="gcc make pkg-config libdb5.3-dev libssl-dev zlib1g-dev libcjson-dev libidn2-dev"
test_packages="libcmocka-dev python3 python3-pytest python3-aiosmtpd python3-dkim python3-jsonschema openssl valgrind"

# Tell whether a Debian package is installed.
installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"
}

packages=$build_packages
if [ "$mode" = test ]; then
	packages="$packages $test_packages"
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
	# Not Debian: trust pkg-config and the compiler to complain.
	exit 0
fi

# Create the accounts the suite runs as, when the tests run as root:
# tlsrptd for the workers, and tlsrptd-recv for the receiver, in
# tlsrptd's group (see INSTALL).
ensure_account() {
	[ "$mode" = test ] && [ "$(id -u)" = 0 ] || return 0
	scripts/accounts.sh
}

missing=""
for package in $packages; do
	installed "$package" || missing="$missing $package"
done
if [ -z "$missing" ]; then
	ensure_account
	exit 0
fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "deps: installing$missing"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing ||
	{ DEBIAN_FRONTEND=noninteractive apt-get update -q &&
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing; }
	ensure_account
	exit 0
fi

echo "deps: missing Debian packages:$missing" >&2
echo "deps: install them with: sudo apt-get install$missing" >&2
exit 1
