"""Disk faults in the receiver: failed commits are retried, nothing lost.

The daemons run with tests/faults/fault_shim.c preloaded (built by
"make fault-shim"), which makes their file system calls under the queue
directory fail with ENOSPC or EIO while a control file requests it. Each
daemon has its own control file, so a test breaks the disk for one
program at a time. The FaultSuite here is shared by the other
test_faults_*.py files.

Every test ends with the space back and checks that what was accepted
is counted exactly as it would have been without the fault.
"""

import collections
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from suite import (REPO, ROOT, Suite, make_base_dir, sample_files,
                   wait_until)

SHIM = ROOT / "libexec" / "tlsrptd-test" / "fault_shim.so"
WORKERS = ("receiver", "aggregator", "reporter", "mailer")
WAKEUP_SECONDS = 2  # the master's periodic wakeup of each worker


def sanitizer_runtimes(program):
    """Return the sanitizer runtimes that program links, which must come
    first in LD_PRELOAD."""
    result = subprocess.run(["ldd", str(program)], capture_output=True,
                            text=True, check=False)
    return [fields[2] for fields in map(str.split, result.stdout.splitlines())
            if len(fields) >= 3 and re.match(r"lib(a|ub)san\.so", fields[0])]


def fast_master_cf():
    """conf/master.cf with a periodic wakeup every WAKEUP_SECONDS, so that
    retries after a fault do not wait a minute."""
    lines = []
    for line in (REPO / "conf" / "master.cf").read_text().splitlines():
        fields = line.split()
        if fields and fields[0] in WORKERS and fields[1] == "unix":
            fields[5] = str(WAKEUP_SECONDS)
            line = " ".join(fields)
        lines.append(line)
    return "\n".join(lines) + "\n"


def expected_sessions(datagrams):
    """Sessions per normalised recipient domain."""
    counts = collections.Counter()
    for raw in datagrams:
        datagram = json.loads(raw)
        counts[datagram["d"].lower().rstrip(".")] += len(datagram["policies"])
    return counts


def samples():
    """The ASCII sample datagrams, one JSON text each."""
    return [path.read_bytes().strip() for path in sample_files()]


class FaultSuite(Suite):
    """A Suite whose workers run under the fault shim."""

    def __init__(self, base, **parameters):
        self.faults = Path(base) / "faults"
        self.faults.mkdir(mode=0o755)
        self.faults.chmod(0o755)
        for worker in WORKERS:
            self.set_fault(worker, "off")
        wrappers = self._fault_wrappers(Path(base))
        super().__init__(base, daemon_directory=str(wrappers), **parameters)
        self.write_config(master_cf=fast_master_cf())

    def _fault_wrappers(self, base):
        wrappers = base / "fault-bin"
        wrappers.mkdir(mode=0o755)
        daemons = ROOT / "libexec" / "tlsrptd"
        (wrappers / "master").write_text(
            f"#!/bin/sh\nexec {daemons / 'master'} \"$@\"\n")
        for worker in WORKERS:
            preload = " ".join(sanitizer_runtimes(daemons / worker) + [str(SHIM)])
            (wrappers / worker).write_text(
                "#!/bin/sh\n"
                f"TLSRPTD_FAULT_CONTROL={self.faults / worker}\n"
                f"TLSRPTD_FAULT_ROOT={base / 'queue'}\n"
                f"LD_PRELOAD='{preload}'\n"
                "export TLSRPTD_FAULT_CONTROL TLSRPTD_FAULT_ROOT LD_PRELOAD\n"
                f"exec {daemons / worker} \"$@\"\n")
        for script in wrappers.iterdir():
            script.chmod(0o755)
        return wrappers

    def set_fault(self, worker, line):
        """Replace the worker's control line; the shim reads it again at
        its next call."""
        staged = self.faults / f".{worker}.new"
        staged.write_text(line + "\n")
        staged.chmod(0o644)
        staged.rename(self.faults / worker)

    def all_off(self):
        for worker in WORKERS:
            self.set_fault(worker, "off")

    def log_count(self, pattern):
        return len(re.findall(pattern, self.log()))

    def wait_log(self, pattern, count=1, timeout=20.0):
        wait_until(lambda: self.log_count(pattern) >= count, timeout=timeout,
                   what=f"{count} log lines matching {pattern!r}")


def status_counters(suite, service):
    """Return the key=value counters of a service from pid/status."""
    path = suite.queue / "pid" / "status"
    for line in path.read_text().splitlines()[1:]:
        fields = line.split(None, 4)
        if len(fields) == 5 and fields[0] == service:
            return {key: int(value) for key, value in
                    re.findall(r"\b(\w+)=(\d+)", fields[4])}
    return {}


def counter(suite, service, name):
    return status_counters(suite, service).get(name)


def preview_sessions(suite, day, directory):
    """Return the sessions per domain of a dry-run of the day's reports,
    or None while the aggregator cannot respond."""
    directory.mkdir(exist_ok=True)
    for old in directory.iterdir():
        old.unlink()
    result = suite.command("report", "--day", day, "--dry-run",
                           str(directory), check=False)
    if result.returncode != 0:
        return None
    sessions = collections.Counter()
    for domain, good, bad in re.findall(
            r"^(\S+): (\d+) successful, (\d+) failed sessions$",
            result.stdout, re.M):
        sessions[domain] += int(good) + int(bad)
    return sessions


def wait_counted(suite, day, directory, expected, timeout=30.0):
    """Wait until the day's dry run counts exactly the expected sessions."""
    wait_until(lambda: preview_sessions(suite, day, directory) == expected,
               timeout=timeout, interval=0.5,
               what=f"{sum(expected.values())} counted sessions on {day}")


def send(suite, datagrams):
    """Send each datagram, blocking while the socket queue is full."""
    import socket
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(str(suite.socket))
        for datagram in datagrams:
            sock.send(datagram)


def today():
    return time.strftime("%Y-%m-%d", time.gmtime())


@pytest.fixture
def make_fault_suite():
    """Create suites under the fault shim; reports go to a directory."""
    if not SHIM.exists():
        pytest.fail(f"{SHIM} is missing: build it with "
                    f"\"make OUT={ROOT} fault-shim\"")
    made = []

    def make(**parameters):
        base = make_base_dir()
        redirect = base / "redirect"
        redirect.mkdir()
        redirect.chmod(0o777)
        settings = {"day_close_delay": "1d",
                    "delivery_redirect": f"file:{redirect}"}
        settings.update(parameters)
        suite = FaultSuite(base, **settings)
        made.append(suite)
        return suite

    yield make
    # cleanup() fails on a sanitizer report; every suite is cleaned first.
    failures = []
    for suite in made:
        try:
            suite.cleanup()
        except AssertionError as error:
            failures.append(str(error))
    assert not failures, "\n".join(failures)


def tmp_batches(suite):
    """Return the batch files in tmp/ that hold datagrams. The receiver
    always keeps an open batch and a spare there, empty while idle."""
    found = []
    for path in suite.files("tmp"):
        if not re.fullmatch(r"receiver\.[0-9A-F]{24}", path.name):
            continue
        try:
            body = path.read_bytes().partition(b"\n\n")[2]
        except FileNotFoundError:
            continue
        if body.strip():
            found.append(path)
    return found


def test_receiver_commit_retried(make_fault_suite, tmp_path):
    """Batches whose link into incoming/ or whose fsync fails stay in
    tmp/, are retried, and count once the disk works again."""
    suite = make_fault_suite().start()
    datagrams = samples()
    first, second, third = datagrams[:8], datagrams[8:16], datagrams[16:]

    send(suite, first)
    wait_counted(suite, today(), tmp_path / "first",
                 expected_sessions(first))

    # The link into incoming/ fails: the batch waits in tmp/.
    suite.set_fault("receiver", "eio ops=link dirs=incoming")
    send(suite, second)
    suite.wait_log(r"cannot commit batch into incoming/: Input/output error; "
                   r"it stays in tmp/")
    time.sleep(2.5)  # a few retries
    assert tmp_batches(suite)
    assert not suite.files("incoming")

    # The fsync fails: the batch is repaired through a copy, whose fsync
    # fails too, so the repair is retried.
    suite.set_fault("receiver", "enospc ops=sync dirs=tmp,incoming")
    send(suite, third)
    suite.wait_log(r"cannot write batch tmp/receiver\.\w+: No space left on "
                   r"device; repairing it")
    suite.wait_log(r"cannot repair batch: cannot write the repaired copy of "
                   r"tmp/receiver\.\w+: No space left on device")
    assert len(tmp_batches(suite)) >= 2

    suite.set_fault("receiver", "off")
    suite.wait_log(r"batch committed into incoming/ after \d+ retries")
    wait_counted(suite, today(), tmp_path / "all", expected_sessions(datagrams))
    assert not tmp_batches(suite)
    assert not list(suite.queue.glob("tmp/*.repair"))
    # The receiver sends its counters at most once a second.
    wait_until(lambda: counter(suite, "receiver", "accepted") == len(datagrams),
               what="the receiver's status line")
    assert counter(suite, "receiver", "lost") == 0


def simple_datagrams(prefix, count):
    """Return count datagrams with one session and one domain each."""
    return [json.dumps({
        "dpv": "1", "d": f"{prefix}{n}.example",
        "pr": f"v=TLSRPTv1; rua=mailto:tlsrpt@{prefix}{n}.example",
        "policies": [{"policy-type": 9, "policy-domain": f"{prefix}{n}.example",
                      "f": 0}]}).encode() for n in range(count)]


def test_receiver_write_failure_accounted(make_fault_suite, tmp_path):
    """With every write into tmp/ failing, datagrams that never reach a
    batch file are logged and counted as lost, and nothing else is. The
    lines that reached the file are kept, committed batches are
    untouched, and the receiver works again when space returns."""
    suite = make_fault_suite().start()
    before = simple_datagrams("before", 10)
    during = simple_datagrams("during", 10)
    after = simple_datagrams("after", 10)

    send(suite, before)
    wait_counted(suite, today(), tmp_path / "before",
                 expected_sessions(before))

    suite.set_fault("receiver", "enospc ops=write,create dirs=tmp")
    send(suite, during)
    suite.wait_log(r"cannot write batch tmp/receiver\.\w+: No space left on "
                   r"device")
    wait_until(lambda: counter(suite, "receiver", "accepted") == 20,
               what="the receiver to accept the datagrams")
    time.sleep(1.5)

    suite.set_fault("receiver", "off")
    send(suite, after)
    wait_until(lambda: counter(suite, "receiver", "accepted") == 30,
               what="every datagram accepted")
    wait_until(lambda: not tmp_batches(suite) and not suite.files("incoming"),
               timeout=20, what="every batch committed and counted")

    # One session per datagram: what is counted plus what the receiver
    # reports lost is what it accepted, and only datagrams sent during
    # the fault are missing.
    def logged_lost():
        return sum(map(int, re.findall(
            r"(\d+) of \d+ datagrams of the batch lost: they never reached "
            r"tmp/receiver\.\w+ whole", suite.log())))

    # The status line lags the log by up to two seconds.
    lost = logged_lost()
    assert lost >= 1
    wait_until(lambda: counter(suite, "receiver", "lost") == lost,
               what=f"the receiver's status line to count {lost} lost")
    sessions = preview_sessions(suite, today(), tmp_path / "after")
    assert sum(sessions.values()) + lost == 30
    for domain, count in expected_sessions(before + after).items():
        assert sessions[domain] == count
    assert all(domain.startswith(("before", "during", "after"))
               for domain in sessions)
    assert all(count == 1 for count in sessions.values())
