"""End-to-end tests of privilege separation in the real suite.

As root (CI), the suite starts as root with the shipped master.cf, and
every worker must drop to its account: the receiver to its own account
"tlsrptd-recv", whose primary group is the group of "tlsrptd", and the
other workers to "tlsrptd".
The tests read each worker's credentials from /proc/PID/status and then
try, with exactly those credentials, to write where the worker must not.
As an ordinary user the suite keeps that user's identity and says so
once; run as root, that test starts the suite as "tlsrptd" with runuser.
"""

import os
import pwd
import shutil
import subprocess
from pathlib import Path

import pytest

import suite as suite_module
from suite import BIN, RECEIVER_ACCOUNT, TEST_ACCOUNT as WORKER_ACCOUNT, Suite, \
    make_base_dir, sample_files, wait_until

# Directories that only mail_owner's workers may change.
PROTECTED = ("outgoing", "deferred", "hold", "sent", "failed", "days", "db",
             "requests", "export")

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def ensure_receiver_account():
    """Create the receiver's account, if missing, and return it."""
    suite_module.ensure_receiver_account(pwd.getpwnam(WORKER_ACCOUNT))
    return pwd.getpwnam(RECEIVER_ACCOUNT)


def credentials(pid):
    """Uid, Gid (real, effective, saved, fs) and Groups of a process."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("Uid", "Gid", "Groups"):
            fields[name] = [int(v) for v in value.split()]
    return fields


def service_pids(suite):
    """Service name to pid, from pid/status."""
    lines = (suite.queue / "pid" / "status").read_text().splitlines()[1:]
    return {line.split()[0]: int(line.split()[1]) for line in lines}


def try_as(creds, code):
    """Run Python code with exactly these credentials; return its output."""
    result = subprocess.run(
        ["/usr/bin/python3", "-c", code], capture_output=True, text=True,
        timeout=30, user=creds["Uid"][0], group=creds["Gid"][0],
        extra_groups=creds["Groups"])
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def suite():
    base = make_base_dir()
    instance = Suite(base)
    yield instance
    instance.cleanup()


@root_only
def test_no_worker_runs_as_root(suite):
    receiver_account = ensure_receiver_account()
    worker_account = pwd.getpwnam(WORKER_ACCOUNT)
    suite.start()
    pids = service_pids(suite)
    assert set(pids) == {"receiver", "aggregator", "reporter", "mailer"}
    for service, pid in pids.items():
        creds = credentials(pid)
        account = receiver_account if service == "receiver" else worker_account
        assert creds["Uid"] == [account.pw_uid] * 4, service
        assert creds["Gid"] == [worker_account.pw_gid] * 4, service
        assert creds["Groups"] in ([], [worker_account.pw_gid]), service
        assert 0 not in creds["Uid"] + creds["Gid"] + creds["Groups"], service


@root_only
def test_receiver_cannot_write_outgoing(suite):
    ensure_receiver_account()
    suite.start()
    creds = credentials(service_pids(suite)["receiver"])
    queue = suite.queue
    code = f"""
import os
for name in {PROTECTED!r}:
    try:
        fd = os.open(os.path.join({str(queue)!r}, name, "probe"),
                     os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except PermissionError:
        print(name, "denied")
    else:
        os.close(fd)
        print(name, "WRITTEN")
probe = os.path.join({str(queue)!r}, "tmp", "probe")
os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
os.unlink(probe)
print("tmp written")
os.close(os.open(os.path.join({str(queue)!r}, "private", "aggregator"),
                 os.O_WRONLY | os.O_NONBLOCK))
print("wakeup allowed")
"""
    lines = try_as(creds, code).splitlines()
    assert lines == [f"{name} denied" for name in PROTECTED] + \
        ["tmp written", "wakeup allowed"]


@root_only
def test_separated_suite_counts_datagrams(suite):
    ensure_receiver_account()
    suite.start()
    samples = sample_files()[:3]
    suite.send(*samples)

    # The aggregator, another account, reads the receiver's batches.
    status_file = suite.queue / "pid" / "status"
    wait_until(lambda: "datagrams=3" in status_file.read_text(),
               what="the aggregator to count the batch")
    assert not suite.files("incoming")
    assert not suite.files("corrupt")
    assert "Permission denied" not in suite.log()
    # The receiver sends its counters at most once a second, so its line
    # may still be older than the aggregator's.
    wait_until(lambda: "received=3 " in suite.command("status").stdout,
               what="the receiver's counters in tlsrptd status")


def test_unprivileged_start_says_so_once():
    """An ordinary user's suite keeps that user's IDs and logs it once."""
    base = make_base_dir()
    instance = Suite(base, mail_owner="nobody")
    try:
        if os.geteuid() == 0:
            account = pwd.getpwnam(WORKER_ACCOUNT)
            for path in (base, instance.etc):
                os.chown(path, account.pw_uid, account.pw_gid)
            command = ["runuser", "-u", WORKER_ACCOUNT, "--"]
            user = WORKER_ACCOUNT
        else:
            command = []
            user = pwd.getpwuid(os.geteuid()).pw_name
        console = open(base / "console.log", "wb")
        process = subprocess.Popen(
            command + [str(BIN / "tlsrptd"), "-c", str(instance.etc), "start-fg"],
            stdout=console, stderr=subprocess.STDOUT)
        instance.process, instance.console = process, console
        wait_until(lambda: instance.ready() or process.poll() is not None,
                   what="the workers to start")
        assert process.poll() is None, instance.console_text()
        uid = pwd.getpwnam(user).pw_uid
        for service, pid in service_pids(instance).items():
            assert credentials(pid)["Uid"] == [uid] * 4, service
        log = instance.log()
        line = f"running as unprivileged user {user}; not changing user IDs"
        assert log.count(line) == 1, log
    finally:
        instance.cleanup()
        shutil.rmtree(base, ignore_errors=True)
