"""End to end: the sample datagrams through the whole suite give the
golden reports.

The suite runs with its clock at noon UTC on the golden day
(TLSRPTD_CLOCK_OFFSET), so the day, the report-ids and the file names are
those of tests/golden/. Every sample datagram goes in with tlsrpt-send.
The reports then come out twice: from "tlsrptd report --dry-run", which
reads the aggregator's summary with summary_read(), and from the reporter
daemon, which streams the summary, through the mailer into a file:
redirect directory. Both must equal the golden files as parsed JSON and
pass every check of test_reporter_schema.
"""

import json
import os
import pwd
import re
import time
from calendar import timegm

import pytest

from suite import Suite, make_base_dir, sample_files, wait_until
from test_reporter_schema import (GOLDEN, check_filename, check_report,
                                  golden_reports)

GOLDEN_DAY = "2026-03-01"
GOLDEN_NOON = timegm((2026, 3, 1, 12, 0, 0))
SUBMITTER = "reports.example.net"


def sample_sessions():
    """The number of policy results in all sample datagrams."""
    return sum(len(json.loads(path.read_bytes())["policies"])
               for path in sample_files())


def reports_in(directory):
    """Map report domain to (file name, parsed report) of the .json.gz
    files in directory, checking each."""
    found = {}
    for path in sorted(directory.glob("*.json.gz")):
        domain = path.name.split("!")[1]
        report = check_report(path.read_bytes())
        check_filename(path.name, report, SUBMITTER, domain)
        assert domain not in found, f"two reports for {domain}"
        found[domain] = (path.name, report)
    return found


def assert_golden(found):
    golden = golden_reports()
    assert sorted(found) == sorted(golden)
    for domain, (name, report) in found.items():
        assert report == golden[domain], \
            f"{name} differs from {GOLDEN}/{domain}.json"
        unique_id = report["report-id"].split("@")[0].rsplit(".", 1)[1]
        assert name.endswith(f"!{unique_id}.json.gz")


def counted_sessions(suite, directory):
    result = suite.command("report", "--day", GOLDEN_DAY, "--dry-run",
                           str(directory), check=False)
    if result.returncode != 0:
        return 0
    return sum(int(a) + int(b) for a, b in
               re.findall(r": (\d+) successful, (\d+) failed sessions",
                          result.stdout))


@pytest.fixture
def suite(monkeypatch):
    monkeypatch.setenv("TLSRPTD_CLOCK_OFFSET",
                       str(GOLDEN_NOON - int(time.time())))
    base = make_base_dir()
    outbox = base / "outbox"
    outbox.mkdir()
    if os.geteuid() == 0:
        account = pwd.getpwnam("tlsrptd")
        os.chown(outbox, account.pw_uid, account.pw_gid)
    running = Suite(base, delivery_redirect=f"file:{outbox}")
    running.outbox = outbox
    running.start()
    yield running
    running.cleanup()


def test_samples_give_golden_reports(suite, tmp_path):
    sent = suite.send(*sample_files())
    assert f"sent {len(sample_files())} datagrams, 0 dropped" in sent.stderr

    # The dry run reads the summary as "tlsrptd report" does.
    preview = tmp_path / "preview"
    preview.mkdir()
    total = sample_sessions()
    wait_until(lambda: counted_sessions(suite, preview) == total,
               what=f"{total} counted sessions")
    assert_golden(reports_in(preview))

    # The reporter streams the summary; the mailer writes each report
    # to the redirect directory under its file name.
    suite.command("report", "--day", GOLDEN_DAY)
    golden_count = len(golden_reports())
    wait_until(lambda: len(list(suite.outbox.glob("*.json.gz")))
               >= golden_count, timeout=30,
               what=f"{golden_count} reports in the outbox")
    assert_golden(reports_in(suite.outbox))
    assert suite.process.poll() is None
