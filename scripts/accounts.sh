#!/bin/sh
# Create the system accounts tlsrptd runs as, if they are missing: the
# workers' account "tlsrptd", and the receiver's account "tlsrptd-recv"
# whose primary group is tlsrptd's (INSTALL explains why). Run as root.
set -eu

if ! id tlsrptd >/dev/null 2>&1; then
	echo "creating the system account tlsrptd"
	useradd --system --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin tlsrptd
fi
if ! id tlsrptd-recv >/dev/null 2>&1; then
	echo "creating the system account tlsrptd-recv"
	useradd --system --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin --gid tlsrptd tlsrptd-recv
fi
