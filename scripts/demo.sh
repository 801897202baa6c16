#!/bin/sh
# Run tlsrptd end to end on its built-in demo configuration: start the
# suite on a queue directory inside the checkout, send the bundled sample
# datagrams through its socket, report today, deliver the reports into a
# local directory and show one of them. Needs no root and no install.
#
# Run as root, the suite drops privileges to the "tlsrptd" and
# "tlsrptd-recv" accounts, which this script then creates; the queue
# moves to /var/tmp when they cannot reach the checkout (for example under
# /root).
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
demo=$top/run/demo

say() {
	printf '%s\n' "demo: $*"
}

# Wait up to $1 seconds for the shell condition in the other arguments
# to hold.
wait_for() {
	seconds=$1
	shift
	while ! eval "$*"; do
		seconds=$((seconds - 1))
		if [ "$seconds" -lt 0 ]; then
			say "timed out waiting for: $*"
			say "the log is $demo/maillog"
			exit 1
		fi
		sleep 1
	done
}

owner_lines=""
if [ "$(id -u)" = 0 ]; then
	scripts/accounts.sh | sed 's/^/demo: /'
	if ! runuser -u tlsrptd -- test -x "$top"; then
		demo=/var/tmp/tlsrptd-demo
		say "the tlsrptd account cannot reach $top; using $demo"
	fi
	group=$(id -gn tlsrptd)
	owner_lines="mail_owner = tlsrptd
receiver_socket_group = $group"
fi

if [ -e "$demo/queue/pid/master.pid" ]; then
	bin/tlsrptd -c "$demo/etc" stop >/dev/null 2>&1 || true
fi
rm -rf "$demo"
mkdir -p "$demo/etc" "$demo/delivered"
cat > "$demo/etc/main.cf" <<CONF
# Demo configuration written by scripts/demo.sh.
queue_directory = $demo/queue
receiver_socket = $demo/tlsrpt.sock
maillog_file = $demo/maillog
organization_name = tlsrptd demo
contact_info = tlsrpt-noreply@demo.example
delivery_redirect = file:$demo/delivered
delivery_spread = 0
$owner_lines
CONF
cp conf/master.cf "$demo/etc/master.cf"
if [ "$(id -u)" = 0 ]; then
	chmod 0755 "$demo" "$demo/etc"
	chown tlsrptd "$demo/delivered"
fi

say "starting the suite (configuration $demo/etc)"
bin/tlsrptd -c "$demo/etc" start
trap 'bin/tlsrptd -c "$demo/etc" stop >/dev/null 2>&1 || true' EXIT INT TERM

say "sending the sample datagrams"
bin/tlsrpt-send -s "$demo/tlsrpt.sock" tests/data/datagrams/*.json \
	tests/data/postfix/*.json

# The receiver closes its batch within a second; the aggregator then
# counts it and empties incoming/.
sleep 2
wait_for 30 '[ -z "$(ls -A "$demo/queue/incoming")" ]'

say "building today's reports"
bin/tlsrptd -c "$demo/etc" report --day today
wait_for 60 '[ -z "$(ls -A "$demo/queue/outgoing")$(ls -A "$demo/queue/deferred")" ]'

say "delivered into $demo/delivered:"
ls -1 "$demo/delivered" | sed 's/^/  /'
say "queue:"
bin/tlsrpt-queue -c "$demo/etc" list | sed 's/^/  /'
report=$(ls "$demo/delivered"/*example.com*.json.gz | head -n 1)
say "one report, $(basename "$report"):"
gzip -dc "$report" | python3 -m json.tool
say "the log is $demo/maillog; the suite is stopped now"
