"""End-to-end tests of privilege separation in the real suite.

As root (CI), the suite starts as root with the shipped master.cf, and
every worker must drop to its account: the receiver to its own account
"tlsrptd-recv", whose primary group is the group of "tlsrptd", and the
other workers to "tlsrptd".
The tests read each worker's credentials from /proc/PID/status and then
try, with exactly those credentials, to write where the worker must not.
As an ordinary user the suite keeps that user's identity and says so
once; run as root, that test starts the suite as "tlsrptd" with runuser.
One test sets master.cf's chroot column to "y" for every service and
checks through /proc/PID/root that each worker is confined to the queue.
"""

import gzip
import json
import os
import pwd
import re
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

import suite as suite_module
from suite import BIN, DATA, RECEIVER_ACCOUNT, TEST_ACCOUNT as WORKER_ACCOUNT, \
    Suite, make_base_dir, sample_files, wait_until
from test_reporter_schema import check_report

# Directories that only mail_owner's workers may change.
PROTECTED = ("outgoing", "deferred", "hold", "sent", "failed", "days", "db",
             "requests", "export")

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

SERVICES = ("receiver", "aggregator", "reporter", "mailer")

# Samples with three report domains and four policies, which the reports
# count as four sessions.
CHROOT_SAMPLES = (DATA / "datagrams" / "05-example5-two-policies-sts-fail-tlsa-fail.json",
                  DATA / "datagrams" / "09-blaster-sts-success.json",
                  DATA / "postfix" / "05-expired-secure.json")

# A service line of master.cf (not a comment or continuation) up to its
# chroot column, which is the fifth.
CHROOT_COLUMN = re.compile(r"^([\w.-]+[ \t]+\S+[ \t]+\S+[ \t]+\S+[ \t]+)\S+(?=[ \t])",
                           re.M)


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


def chrooted_master_cf():
    """Return the shipped master.cf with chroot set to y for every service."""
    shipped = (suite_module.REPO / "conf" / "master.cf").read_text()
    changed, count = CHROOT_COLUMN.subn(r"\1y", shipped)
    assert count == len(SERVICES), f"expected {len(SERVICES)} service lines:\n{shipped}"
    return changed


def written_reports(outbox):
    """Map the report domain of each .json.gz file in outbox to its report.

    The RFC 8460 file name is submitter!domain!begin!end!id.json.gz.
    """
    reports = {}
    for path in outbox.glob("*.json.gz"):
        payload = path.read_bytes()
        check_report(payload)
        reports[path.name.split("!")[1]] = json.loads(gzip.decompress(payload))
    return reports


def session_count(report):
    return sum(policy["summary"]["total-successful-session-count"]
               + policy["summary"]["total-failure-session-count"]
               for policy in report["policies"])


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


@root_only
def test_chrooted_workers_produce_reports():
    """With chroot y, every worker's root is the queue and reports are delivered."""
    receiver_account = ensure_receiver_account()
    account = pwd.getpwnam(WORKER_ACCOUNT)
    base = make_base_dir()

    # An absolute file: directory resolves inside the mailer's chroot only,
    # so a mailer that is not chrooted defers the delivery instead.
    outbox_name = base.name + "-outbox"
    instance = Suite(base, delivery_redirect=f"file:/{outbox_name}")
    try:
        assert not Path("/", outbox_name).exists()
        instance.write_config(chrooted_master_cf())
        instance.start()
        queue = instance.queue.resolve()
        pids = service_pids(instance)
        assert set(pids) == set(SERVICES)
        for service, pid in pids.items():
            assert os.readlink(f"/proc/{pid}/root") == str(queue), service
            assert os.readlink(f"/proc/{pid}/cwd") == str(queue), service
            creds = credentials(pid)
            owner = receiver_account if service == "receiver" else account
            assert creds["Uid"] == [owner.pw_uid] * 4, service
            assert creds["Gid"] == [account.pw_gid] * 4, service
            assert 0 not in creds["Uid"] + creds["Gid"], service

        outbox = queue / outbox_name
        outbox.mkdir()
        os.chown(outbox, account.pw_uid, account.pw_gid)

        day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
        sent = instance.send(*CHROOT_SAMPLES)
        assert f"sent {len(CHROOT_SAMPLES)} datagrams, 0 dropped" in sent.stderr
        status_file = instance.queue / "pid" / "status"
        wait_until(lambda: f"datagrams={len(CHROOT_SAMPLES)}" in status_file.read_text(),
                   what="the chrooted aggregator to count the datagrams")

        domains = set()
        policies = 0
        for path in CHROOT_SAMPLES:
            datagram = json.loads(path.read_bytes())
            domains.add(datagram["d"].lower().rstrip("."))
            policies += len(datagram["policies"])

        instance.command("report", "--day", day)
        wait_until(lambda: len(written_reports(outbox)) == len(domains),
                   what=f"{len(domains)} reports in the chrooted mailer's file: directory")
        reports = written_reports(outbox)
        assert set(reports) == domains
        assert sum(session_count(report) for report in reports.values()) == policies
        assert len(list(outbox.glob("*.eml"))) == len(domains)

        log = instance.log()
        assert "status=sent" in log
        assert "status=deferred" not in log
        assert "cannot chroot" not in log
        assert not instance.files("corrupt")
    finally:
        instance.cleanup()
