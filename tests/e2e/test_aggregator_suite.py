"""End-to-end tests of the aggregator inside the whole running suite.

Datagrams go through the real receiver (tlsrpt-send or raw sends on the
socket), the master restarts the aggregator when a test kills it, and the
counts are read back with "tlsrptd report --day D --dry-run DIR", the way
an administrator previews a day. The tests cover:

- a crash test: kill -9 of the aggregator at random moments under a
  steady stream of datagrams, after which the counts still equal the
  datagrams that the receiver accepted;
- a batch file put back into incoming/ after it was counted, across a
  kill -9 of the aggregator, which changes nothing;
- receive times just before and after midnight UTC, set by the receiver's
  clock (TLSRPTD_CLOCK_OFFSET), with TZ set to three different zones;
- spellings of one domain (case, trailing dot, U-label and A-label) and
  of one datagram (member order, white space) that count as one;
- the per-domain table of "tlsrptd status --day D".

The crash test streams for TLSRPTD_CRASH_SECONDS seconds (default 12);
set it higher for a longer run. No day closes during these tests
(day_close_delay is a whole day), and delivery_redirect points at a
directory, so nothing is ever sent anywhere.
"""

import calendar
import collections
import gzip
import json
import os
import random
import re
import signal
import socket
import subprocess
import time

import pytest

from suite import BIN, Suite, make_base_dir, sample_files, wait_until

CRASH_SECONDS = float(os.environ.get("TLSRPTD_CRASH_SECONDS", "12"))
CRASH_RATE = 2000  # datagrams per second in the crash test
NOON = "12:00:00"


def at(day, clock):
    """Return the epoch seconds of "YYYY-MM-DD" at "HH:MM:SS" UTC."""
    return calendar.timegm(time.strptime(f"{day} {clock}",
                                         "%Y-%m-%d %H:%M:%S"))


def clock_offset(day, clock):
    """Return the TLSRPTD_CLOCK_OFFSET that puts the suite at day, clock."""
    return str(int(at(day, clock) - time.time()))


def today():
    return time.strftime("%Y-%m-%d", time.gmtime())


def normal(domain):
    return domain.lower().rstrip(".")


def expected_sessions(datagrams):
    """Sessions per normalised recipient domain (ASCII samples only)."""
    counts = collections.Counter()
    for raw in datagrams:
        datagram = json.loads(raw)
        counts[normal(datagram["d"])] += len(datagram["policies"])
    return counts


class Preview:
    """The dry-run reports of one day: sessions per domain, report JSON."""

    def __init__(self, suite, day, directory):
        directory.mkdir(exist_ok=True)
        for old in directory.iterdir():
            old.unlink()
        result = suite.command("report", "--day", day, "--dry-run",
                               str(directory), check=False)
        self.ok = result.returncode == 0
        self.output = result.stdout + result.stderr
        self.sessions = collections.Counter()
        for domain, good, bad in re.findall(
                r"^(\S+): (\d+) successful, (\d+) failed sessions$",
                result.stdout, re.M):
            self.sessions[domain] += int(good) + int(bad)
        self.reports = [json.loads(gzip.decompress(path.read_bytes()))
                        for path in sorted(directory.glob("*.json.gz"))]

    def total(self):
        return sum(self.sessions.values())


def status_row(suite, service):
    """Return (pid, state, status text) of a service from pid/status."""
    path = suite.queue / "pid" / "status"
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return None
    for line in lines[1:]:
        fields = line.split(None, 4)
        if len(fields) == 5 and fields[0] == service:
            pid = int(fields[1]) if fields[1].isdigit() else 0
            return pid, fields[2], fields[4]
    return None


def status_counter(suite, service, name):
    row = status_row(suite, service)
    match = row and re.search(rf"\b{name}=(\d+)", row[2])
    return int(match.group(1)) if match else None


def aggregator_pid(suite):
    """Return the pid of this suite's running aggregator, or 0.

    pid/status can be a second old, so the pid is checked in /proc to be
    our aggregator before anyone signals it."""
    row = status_row(suite, "aggregator")
    if row is None or row[0] == 0:
        return 0
    try:
        cmdline = (open(f"/proc/{row[0]}/cmdline", "rb").read()
                   .split(b"\0"))
    except OSError:
        return 0
    if not cmdline[0].endswith(b"/aggregator") or \
            str(suite.etc).encode() not in cmdline:
        return 0
    return row[0]


@pytest.fixture
def make_suite(monkeypatch):
    """Create suites that write reports to a directory, never to a host."""
    made = []

    def make(**parameters):
        base = make_base_dir()
        redirect = base / "redirect"
        redirect.mkdir()
        redirect.chmod(0o777)
        settings = {"day_close_delay": "1d",
                    "delivery_redirect": f"file:{redirect}"}
        settings.update(parameters)
        suite = Suite(base, **settings)
        made.append(suite)
        return suite

    make.monkeypatch = monkeypatch
    yield make
    for suite in made:
        suite.cleanup()


def send_raw(suite, payloads):
    """Send each payload as one datagram, blocking while the queue is full."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(str(suite.socket))
        for payload in payloads:
            sock.send(payload)


def wait_accepted(suite, count):
    """Wait until the receiver has accepted count datagrams. They may
    still be in its open batch, not yet in incoming/."""
    wait_until(lambda: status_counter(suite, "receiver", "accepted") == count,
               what=f"the receiver to accept {count} datagrams")


def wait_counted(suite, day, directory, total, timeout=20.0):
    """Return the day's Preview once it counts total sessions."""
    def counted():
        preview = Preview(suite, day, directory)
        return preview if preview.total() == total else None

    return wait_until(counted, timeout=timeout,
                      what=f"{total} counted sessions on {day}")


def wait_for_batch(suite, timeout):
    """Return as soon as incoming/ contains a batch, so that a kill that
    follows is likely to hit the aggregator while it counts."""
    incoming = suite.queue / "incoming"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(incoming.iterdir()):
            return
        time.sleep(0.001)


def test_crash_under_stream(make_suite, tmp_path):
    """kill -9 the aggregator again and again while datagrams stream in;
    every accepted datagram still counts exactly once."""
    day = today()
    make_suite.monkeypatch.setenv("TLSRPTD_CLOCK_OFFSET",
                                  clock_offset(day, NOON))
    suite = make_suite(service_restart_delay="0s",
                       service_throttle_time="1s",
                       receiver_batch_size="1000")
    suite.start()

    samples = [path.read_bytes().strip() for path in sample_files()]
    copies = max(1, int(CRASH_SECONDS * CRASH_RATE / len(samples)))
    stream = tmp_path / "stream.jsonl"
    stream.write_bytes(b"\n".join(samples * copies) + b"\n")
    datagrams = len(samples) * copies
    expected = expected_sessions(samples)
    for domain in expected:
        expected[domain] *= copies

    # tlsrpt-send waits when the socket queue is full, so nothing drops.
    sender = subprocess.Popen(
        [str(BIN / "tlsrpt-send"), "-s", str(suite.socket),
         "-r", str(CRASH_RATE), str(stream)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    chance = random.Random()
    killed = []
    waiting = {}  # batch in incoming/ at the moment of a kill -> that pid
    try:
        while sender.poll() is None:
            time.sleep(chance.uniform(0.2, 1.0))
            if chance.random() < 0.5:
                wait_for_batch(suite, timeout=1.0)
                time.sleep(chance.uniform(0, 0.02))
            pid = aggregator_pid(suite)
            if pid and pid not in killed:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                waiting.update((path.name, pid)
                               for path in suite.files("incoming"))
        _, errors = sender.communicate(timeout=10)
    finally:
        if sender.poll() is None:
            sender.kill()
            sender.wait()
    assert f"sent {datagrams} datagrams, 0 dropped" in errors, errors
    assert len(killed) >= 3, f"only {len(killed)} kills; the test proves little"

    wait_accepted(suite, datagrams)
    preview = wait_counted(suite, day, tmp_path / "preview",
                           sum(expected.values()), timeout=60)
    assert preview.sessions == expected
    assert suite.files("corrupt") == []
    assert suite.files("incoming") == []
    # The master saw every kill, and an aggregator runs again.
    log = suite.log()
    for pid in killed:
        assert re.search(rf"/aggregator pid {pid} killed by signal 9", log), \
            f"no kill of pid {pid} in the log:\n{log[-3000:]}"
    wait_until(lambda: aggregator_pid(suite) not in (0, *killed),
               what="pid/status to show the restarted aggregator")

    # How many kills hit before a waiting batch was committed, so that a
    # later aggregator counted it. This is printed, not checked, because
    # it depends on timing.
    counted_by = {batch_id: int(pid) for pid, batch_id in
                  re.findall(r"aggregator\[(\d+)\]: ([0-9A-F]{24}): "
                             r"counted ", log)}
    recounted = sum(1 for batch_id, pid in waiting.items()
                    if counted_by.get(batch_id, pid) != pid)
    print(f"crash test: {datagrams} datagrams, {len(killed)} kills, "
          f"{recounted} batches left to the next aggregator, "
          f"{log.count('batch was counted before a restart')} found "
          f"counted before")


def test_batch_put_back_after_crash(make_suite, tmp_path):
    """A batch counted and then found again after a kill counts once."""
    day = today()
    make_suite.monkeypatch.setenv("TLSRPTD_CLOCK_OFFSET",
                                  clock_offset(day, NOON))
    suite = make_suite(service_restart_delay="2s")
    suite.start()

    samples = [path.read_bytes().strip() for path in sample_files()]
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at(day, NOON)))
    body = "".join(f"{stamp} {raw.decode()}\n" for raw in samples)
    text = (f"tlsrptd-batch 1\ncreated: {stamp}\nhost: test.example\n\n"
            f"{body}end {len(samples)}\n")
    batch_id = "%09X%05X%06X%04X" % (int(time.time()), 0, os.getpid(), 1)

    def put_batch():
        tmp = suite.queue / "tmp" / f"test.{batch_id}"
        tmp.write_text(text)
        os.chmod(tmp, 0o644)
        os.rename(tmp, suite.queue / "incoming" / batch_id)

    put_batch()
    expected = expected_sessions(samples)
    first = wait_counted(suite, day, tmp_path / "first",
                         sum(expected.values()))
    assert first.sessions == expected
    assert f"{batch_id}: counted {len(samples)} datagrams" in suite.log()

    # The same file again while the aggregator is down, as after a crash
    # between the commit and the removal of the file.
    pid = wait_until(lambda: aggregator_pid(suite), what="the aggregator")
    os.kill(pid, signal.SIGKILL)
    put_batch()
    wait_until(lambda: "batch was counted before a restart" in suite.log(),
               what="the replayed batch to be recognised")
    assert f"{batch_id}: batch was counted before a restart" in suite.log()
    wait_until(lambda: not suite.files("incoming"),
               what="the replayed batch to be removed")
    again = Preview(suite, day, tmp_path / "again")
    assert again.sessions == expected


# The last UTC day before the European switch to summer time: at 23:30
# and 00:30 UTC the local date differs from the UTC date in Berlin, and
# at 00:30 UTC in New York.
BOUNDARY_DAY = "2026-03-28"
BOUNDARY_NEXT = "2026-03-29"


def counts_around_midnight(make_suite, tmp_path, tz):
    """Send samples at 23:30 and 00:30 UTC by the receiver's clock."""
    make_suite.monkeypatch.setenv("TZ", tz)
    samples = [path.read_bytes().strip() for path in sample_files()]
    before, after = samples[:10], samples[10:]
    suite = make_suite()

    make_suite.monkeypatch.setenv("TLSRPTD_CLOCK_OFFSET",
                                  clock_offset(BOUNDARY_DAY, "23:30:00"))
    suite.start()
    send_raw(suite, before)
    wait_accepted(suite, len(before))
    suite.stop()

    make_suite.monkeypatch.setenv("TLSRPTD_CLOCK_OFFSET",
                                  clock_offset(BOUNDARY_NEXT, "00:30:00"))
    suite.start()
    send_raw(suite, after)
    wait_accepted(suite, len(after))
    days = {}
    for day, sent in ((BOUNDARY_DAY, before), (BOUNDARY_NEXT, after)):
        directory = tmp_path / f"{tz.replace('/', '-')}-{day}"
        days[day] = wait_counted(suite, day, directory,
                                 sum(expected_sessions(sent).values()))
    suite.stop()

    assert days[BOUNDARY_DAY].sessions == expected_sessions(before)
    assert days[BOUNDARY_NEXT].sessions == expected_sessions(after)
    return {day: preview.sessions for day, preview in days.items()}


def test_receive_day_in_any_time_zone(make_suite, tmp_path):
    counts = {tz: counts_around_midnight(make_suite, tmp_path, tz)
              for tz in ("UTC", "Europe/Berlin", "America/New_York")}
    assert counts["Europe/Berlin"] == counts["UTC"]
    assert counts["America/New_York"] == counts["UTC"]


RECORD = "v=TLSRPTv1; rua=mailto:tlsrpt@reports.example"


def spelled(domain, policy_domain=None, failed=False, escape=False):
    """Return an sts datagram for domain, non-ASCII as \\u escapes if asked."""
    policy = {"policy-type": 2, "policy-domain": policy_domain or domain,
              "policy-string": ["version: STSv1", "mode: enforce"],
              "mx-host": ["mx1." + normal(policy_domain or domain)],
              "f": 1 if failed else 0}
    if failed:
        policy["failure-details"] = [{"c": 202, "r": "192.0.2.25",
                                      "n": "mx1.example.com"}]
        policy["t"] = 1
    return json.dumps({"dpv": "1", "d": domain, "pr": RECORD,
                       "policies": [policy]},
                      ensure_ascii=escape).encode()


def test_domain_spellings_count_as_one(make_suite, tmp_path):
    day = today()
    make_suite.monkeypatch.setenv("TLSRPTD_CLOCK_OFFSET",
                                  clock_offset(day, NOON))
    suite = make_suite()
    suite.start()

    failure = spelled("example.com", failed=True)
    reordered = (b'{ "policies" : [ { "f" : 1, "t" : 1,\n'
                 b'  "failure-details" : [ { "n" : "MX1.Example.COM.",'
                 b' "r" : "192.0.2.25", "c" : 202 } ],\n'
                 b'  "mx-host" : [ "MX1.EXAMPLE.COM" ],'
                 b' "policy-string" : [ "version: STSv1", "mode: enforce" ],'
                 b' "policy-domain" : "Example.Com.", "policy-type" : 2 } ],\n'
                 b' "pr" : "' + RECORD.encode() + b'",\t"d" : "EXAMPLE.com",'
                 b' "dpv" : "1" }')
    payloads = [spelled("example.com"), spelled("Example.COM."),
                spelled("EXAMPLE.COM", "example.COM."), failure, reordered,
                spelled("b\u00fccher.example"),
                spelled("B\u00dcCHER.Example.", escape=True),
                spelled("xn--bcher-kva.example"),
                spelled("XN--BCHER-KVA.EXAMPLE.", "b\u00fccher.example")]
    send_raw(suite, payloads)
    wait_accepted(suite, len(payloads))

    preview = wait_counted(suite, day, tmp_path / "preview", 9)
    assert preview.sessions == {"example.com": 5, "xn--bcher-kva.example": 4}
    assert len(preview.reports) == 2
    by_domain = {report["policies"][0]["policy"]["policy-domain"]: report
                 for report in preview.reports}
    assert set(by_domain) == {"example.com", "xn--bcher-kva.example"}

    # One policy each: spellings and member order do not split counters.
    com = by_domain["example.com"]["policies"]
    assert len(com) == 1
    assert com[0]["policy"]["mx-host"] == ["mx1.example.com"]
    assert com[0]["summary"] == {"total-successful-session-count": 3,
                                 "total-failure-session-count": 2}
    assert len(com[0]["failure-details"]) == 1
    assert com[0]["failure-details"][0]["failed-session-count"] == 2
    assert com[0]["failure-details"][0]["receiving-mx-hostname"] == \
        "mx1.example.com"

    idn = by_domain["xn--bcher-kva.example"]["policies"]
    assert len(idn) == 1
    assert idn[0]["policy"]["mx-host"] == ["mx1.xn--bcher-kva.example"]
    assert idn[0]["summary"]["total-successful-session-count"] == 4


def test_status_day_table(make_suite):
    """"tlsrptd status --day" shows per domain what the day holds."""
    day = today()
    make_suite.monkeypatch.setenv("TLSRPTD_CLOCK_OFFSET",
                                  clock_offset(day, NOON))
    suite = make_suite()
    suite.start()

    expired = json.loads(spelled("example.com", failed=True))
    expired["policies"][0]["failure-details"][0]["c"] = 204
    payloads = [spelled("example.com"), spelled("Example.COM."),
                spelled("example.com", failed=True),
                spelled("example.com", failed=True),
                json.dumps(expired).encode(),
                spelled("b\u00fccher.example")]
    send_raw(suite, payloads)
    wait_accepted(suite, len(payloads))

    def table():
        result = suite.command("status", "--day", day)
        return result if " 6 sessions," in result.stdout else None

    result = wait_until(table, what="6 sessions in the status table")
    lines = result.stdout.splitlines()
    assert lines[0] == (f"day {day}: preview summary, 2 domains, "
                        f"6 sessions, 3 failures"), result.stdout
    assert lines[1].split() == ["domain", "sessions", "failures", "top",
                                "failure", "types"]
    rows = {line.split()[0]: line.split(None, 3) for line in lines[2:]}
    assert rows["example.com"] == [
        "example.com", "5", "3",
        "certificate-host-mismatch 2, certificate-expired 1"]
    assert rows["xn--bcher-kva.example"] == [
        "xn--bcher-kva.example", "1", "0", "-"]
    assert len(lines) == 4

    # A day in the wrong form is a usage error.
    bad = suite.command("status", "--day", "2026-02-30", check=False)
    assert bad.returncode == 2
    assert "invalid day" in bad.stderr
