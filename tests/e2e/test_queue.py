"""End-to-end tests of tlsrpt-queue on a populated queue.

Each test writes delivery files in the documented format (version line,
"name: value" header, blank line, base64 of the gzip'd report, end record)
into a queue laid out as the master lays it out, then runs the real
tlsrpt-queue. Run as root, the queue belongs to the "tlsrptd" account and
the command must change to it before touching the queue. The last test
releases a delivery in a running suite and watches the mailer deliver it.
"""

import base64
import fcntl
import gzip
import itertools
import json
import os
import pwd
import re
import shutil
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from suite import BIN, Suite, make_base_dir, wait_until

TLSRPT_QUEUE = BIN / "tlsrpt-queue"
ACCOUNT = "tlsrptd"
DAY = "2026-12-04"
LAYOUT = {"tmp": 0o1770, "incoming": 0o1770, "corrupt": 0o1770,
          "outgoing": 0o700, "deferred": 0o700, "hold": 0o700, "sent": 0o700,
          "failed": 0o700, "db": 0o700, "days": 0o700, "requests": 0o700,
          "export": 0o700, "pid": 0o755, "private": 0o710}
_counter = itertools.count()


def make_queue_id():
    """A queue ID in the suite's format: 24 upper-case hex digits."""
    now = time.time()
    return "%09X%05X%06X%04X" % (int(now) & 0xFFFFFFFFF, int(now * 1e6) % 1000000,
                                 os.getpid() & 0xFFFFFF, next(_counter) & 0xFFFF)


def make_report(domain):
    return {
        "organization-name": "Example Reports",
        "date-range": {"start-datetime": DAY + "T00:00:00Z",
                       "end-datetime": DAY + "T23:59:59Z"},
        "contact-info": "tlsrpt-noreply@reports.example.net",
        "report-id": f"{DAY}.{domain}.0123456789abcdef@reports.example.net",
        "policies": [{
            "policy": {"policy-type": "no-policy-found", "policy-domain": domain},
            "summary": {"total-successful-session-count": 5,
                        "total-failure-session-count": 0},
        }],
    }


def delivery_text(domain, attempts=0, next_attempt="-", last_error="-",
                  first_attempt="-"):
    """Return (report, file text) of one delivery to mailto:tlsrpt@DOMAIN."""
    report = make_report(domain)
    payload = gzip.compress(json.dumps(report).encode())
    fields = {
        "report-id": report["report-id"],
        "report-domain": domain,
        "day": DAY,
        "destination": f"mailto:tlsrpt@{domain}",
        "rua": f"mailto:tlsrpt@{domain}",
        "submitter": "reports.example.net",
        "filename": f"reports.example.net!{domain}!1796342400!1796428799!0123456789abcdef.json.gz",
        "created": "2026-12-05T00:30:00Z",
        "attempts": str(attempts),
        "first-attempt": first_attempt,
        "next-attempt": next_attempt,
        "last-error": last_error,
    }
    lines = ["tlsrptd-delivery 1"] + [f"{k}: {v}" for k, v in fields.items()] + [""]
    encoded = base64.b64encode(payload).decode()
    lines += [encoded[i:i + 76] for i in range(0, len(encoded), 76)]
    lines.append(f"end {len(payload)}")
    return report, "\n".join(lines) + "\n"


def read_header(path):
    fields = {}
    with open(path) as handle:
        assert handle.readline() == "tlsrptd-delivery 1\n"
        for line in handle:
            if line == "\n":
                break
            name, _, value = line.rstrip("\n").partition(": ")
            fields[name] = value
    return fields


class Queue:
    """A configuration and a queue directory with delivery files."""

    def __init__(self):
        self.base = make_base_dir()
        self.etc = self.base / "etc"
        self.queue = self.base / "queue"
        self.log_path = self.base / "maillog"
        self.etc.mkdir()
        (self.etc / "main.cf").write_text(
            f"queue_directory = {self.queue}\n"
            f"maillog_file = {self.log_path}\n"
            f"mail_owner = {ACCOUNT}\n"
            "organization_name = queue test\n"
            "contact_info = tlsrpt-noreply@reports.example.net\n")
        self.queue.mkdir(mode=0o755)
        for name, mode in LAYOUT.items():
            path = self.queue / name
            path.mkdir()
            path.chmod(mode)
            self.give(path)
        self.reports = {}

    def give(self, path):
        """Give path to the suite's account, as the master does as root."""
        if os.geteuid() == 0:
            account = pwd.getpwnam(ACCOUNT)
            os.chown(path, account.pw_uid, account.pw_gid)

    def add(self, state, domain, **fields):
        queue_id = make_queue_id()
        report, text = delivery_text(domain, **fields)
        path = self.queue / state / queue_id
        path.write_text(text)
        path.chmod(0o640)
        self.give(path)
        self.reports[queue_id] = report
        return queue_id

    def run(self, *args, stdin=None):
        return subprocess.run([str(TLSRPT_QUEUE), "-c", str(self.etc), *args],
                              capture_output=True, text=True, timeout=30,
                              input=stdin)

    def state_of(self, queue_id):
        found = [state for state in ("outgoing", "deferred", "hold", "sent", "failed")
                 if (self.queue / state / queue_id).exists()]
        assert len(found) <= 1, found
        return found[0] if found else None

    def log(self):
        return self.log_path.read_text() if self.log_path.exists() else ""


@pytest.fixture
def queue():
    instance = Queue()
    yield instance
    shutil.rmtree(instance.base, ignore_errors=True)


def test_list_text_and_json(queue):
    first = queue.add("outgoing", "example.com")
    second = queue.add("deferred", "example.org", attempts=2,
                       next_attempt="2026-12-05T02:00:00Z",
                       last_error="connect to relay: Connection refused")
    result = queue.run("list")
    assert result.returncode == 0, result.stderr
    assert re.search(rf"^{first} outgoing\s+\d+ 2026-12-05T00:30:00Z\s+0 -", result.stdout,
                     re.M)
    assert re.search(rf"^{second} deferred\s+\d+ 2026-12-05T00:30:00Z\s+2 "
                     r"2026-12-05T02:00:00Z", result.stdout, re.M)
    assert "(connect to relay: Connection refused)" in result.stdout
    assert "in 2 deliveries." in result.stdout

    entries = json.loads(queue.run("list", "--json").stdout)
    by_id = {entry["queue_id"]: entry for entry in entries}
    assert by_id[second]["state"] == "deferred"
    assert by_id[second]["attempts"] == 2
    assert by_id[second]["destination"] == "mailto:tlsrpt@example.org"
    assert by_id[first]["next_attempt"] == "-"


def test_show_prints_header_and_report(queue):
    queue_id = queue.add("deferred", "example.com", attempts=1)
    result = queue.run("show", queue_id)
    assert result.returncode == 0, result.stderr
    header, _, body = result.stdout.partition("\n\n")
    assert header.splitlines()[:3] == ["state: deferred", "tlsrptd-delivery 1",
                                       f"report-id: {queue.reports[queue_id]['report-id']}"]
    assert "attempts: 1" in header.splitlines()
    assert json.loads(body) == queue.reports[queue_id]
    assert '\n\t"organization-name":\t"Example Reports",' in body

    missing = queue.run("show", "0" * 24)
    assert missing.returncode == 1
    assert f"{'0' * 24}: no such delivery in the queue" in missing.stderr
    invalid = queue.run("show", "../main.cf")
    assert invalid.returncode == 1
    assert 'invalid queue ID "../main.cf"' in invalid.stderr


def test_delete_by_id_and_all(queue):
    kept = queue.add("sent", "example.net")
    one = queue.add("deferred", "example.com")
    rest = [queue.add("outgoing", "example.org"), queue.add("failed", "example.org"),
            queue.add("hold", "example.org")]

    result = queue.run("delete", one)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "tlsrpt-queue: deleted 1 delivery\n"
    assert queue.state_of(one) is None
    assert re.search(rf"tlsrptd/queue\[\d+\]: {one}: removed from deferred/", queue.log())

    result = queue.run("delete", "ALL", "outgoing")
    assert result.stdout == "tlsrpt-queue: deleted 1 delivery\n"
    assert queue.state_of(rest[0]) is None
    assert queue.state_of(rest[1]) == "failed"

    result = queue.run("delete", "ALL")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "tlsrpt-queue: deleted 3 deliveries\n"
    assert all(queue.state_of(queue_id) is None for queue_id in rest + [kept])

    again = queue.run("delete", one)
    assert again.returncode == 1
    assert f"{one}: no such delivery in the queue" in again.stderr
    assert again.stdout == "tlsrpt-queue: deleted 0 deliveries\n"


def test_hold_and_release(queue):
    outgoing = queue.add("outgoing", "example.com")
    deferred = queue.add("deferred", "example.org", attempts=3,
                         first_attempt="2026-12-05T01:00:00Z",
                         next_attempt="2030-01-01T00:00:00Z", last_error="timed out")
    failed = queue.add("failed", "example.net")

    result = queue.run("hold", "ALL")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "tlsrpt-queue: placed 2 deliveries on hold\n"
    assert queue.state_of(outgoing) == "hold"
    assert queue.state_of(deferred) == "hold"
    assert queue.state_of(failed) == "failed"
    assert f"{deferred}: placed on hold (from deferred/)" in queue.log()

    wrong = queue.run("hold", failed)
    assert wrong.returncode == 1
    assert f'{failed}: the delivery is in failed/, which "hold" does not apply to' \
        in wrong.stderr

    before = datetime.now(timezone.utc).replace(microsecond=0)
    result = queue.run("release", "-", stdin=f"{deferred}\n\n  {outgoing}  \n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "tlsrpt-queue: released 2 deliveries\n"
    for queue_id in (deferred, outgoing):
        assert queue.state_of(queue_id) == "deferred"
        assert f"{queue_id}: released from hold to deferred/" in queue.log()
    header = read_header(queue.queue / "deferred" / deferred)
    next_attempt = datetime.strptime(header["next-attempt"], "%Y-%m-%dT%H:%M:%SZ")
    assert abs(next_attempt.replace(tzinfo=timezone.utc) - before).total_seconds() < 10
    assert header["attempts"] == "3"
    assert header["first-attempt"] == "2026-12-05T01:00:00Z"
    assert header["last-error"] == "timed out"
    assert not list((queue.queue / "tmp").iterdir())
    if os.geteuid() == 0:
        stat = (queue.queue / "deferred" / deferred).stat()
        assert stat.st_uid == pwd.getpwnam(ACCOUNT).pw_uid


def test_requeue_resets_retry_state(queue):
    failed = queue.add("failed", "example.com", attempts=9,
                       first_attempt="2026-12-05T01:00:00Z",
                       last_error="gave up after 9 attempts")
    deferred = queue.add("deferred", "example.org", attempts=1,
                         next_attempt="2030-01-01T00:00:00Z")
    result = queue.run("requeue", failed, deferred)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "tlsrpt-queue: requeued 2 deliveries\n"
    header = read_header(queue.queue / "outgoing" / failed)
    assert header["attempts"] == "0"
    assert header["first-attempt"] == "-"
    assert header["last-error"] == "-"
    assert header["report-id"] == queue.reports[failed]["report-id"]
    assert queue.state_of(deferred) == "outgoing"
    assert f"{failed}: requeued from failed/ to outgoing/" in queue.log()
    shown = queue.run("show", failed)
    assert json.loads(shown.stdout.partition("\n\n")[2]) == queue.reports[failed]


def test_move_never_overwrites(queue):
    queue_id = queue.add("deferred", "example.com")
    twin = queue.queue / "hold" / queue_id
    twin.write_text("an older copy\n")
    queue.give(twin)
    result = queue.run("hold", queue_id)
    assert result.returncode == 1
    assert "a delivery with this ID is already there" in result.stderr
    assert twin.read_text() == "an older copy\n"
    assert (queue.queue / "deferred" / queue_id).exists()


def test_locked_file_is_skipped(queue):
    queue_id = queue.add("deferred", "example.com")
    with open(queue.queue / "deferred" / queue_id) as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        result = queue.run("hold", "ALL")
    assert result.stdout == "tlsrpt-queue: placed 0 deliveries on hold\n"
    assert f"tlsrpt-queue: {queue_id}: " in result.stderr
    assert "is being delivered; try again later" in result.stderr
    assert queue.state_of(queue_id) == "deferred"


def test_usage_errors(queue):
    for args in ([], ["bogus"], ["show"], ["list", "--yaml"], ["hold"],
                 ["hold", "ALL", "failed"]):
        result = queue.run(*args)
        assert result.returncode == 2, args
    assert 'unknown command "bogus"' in queue.run("bogus").stderr


def test_release_wakes_the_mailer():
    base = make_base_dir()
    outbox = base / "outbox"
    outbox.mkdir(mode=0o777)
    outbox.chmod(0o777)
    suite = Suite(base, delivery_redirect=f"file:{outbox}")
    try:
        suite.start()
        queue_id = make_queue_id()
        report, text = delivery_text("example.com", attempts=1,
                                     next_attempt="2030-01-01T00:00:00Z")
        path = suite.queue / "hold" / queue_id
        path.write_text(text)
        if os.geteuid() == 0:
            account = pwd.getpwnam(ACCOUNT)
            os.chown(path, account.pw_uid, account.pw_gid)
        result = subprocess.run([str(TLSRPT_QUEUE), "-c", str(suite.etc), "release",
                                 queue_id], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr

        # The mailer scans only every 60 seconds without the wakeup.
        wait_until(lambda: (suite.queue / "sent" / queue_id).exists(), timeout=15,
                   what="the released delivery to be sent")
        written = list(outbox.glob("*.json.gz"))
        assert len(written) == 1
        assert json.loads(gzip.decompress(written[0].read_bytes())) == report
        assert re.search(rf"{queue_id}: to=<.*status=sent", suite.log())
    finally:
        suite.cleanup()
