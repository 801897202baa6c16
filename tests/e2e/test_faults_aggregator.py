"""Disk faults in the aggregator. A batch whose Berkeley DB transaction
fails stays in incoming/, and a day whose final summary cannot be written
stays unclosed. Both are retried, and counted or reported exactly once
when the disk works again.

The suite runs under the fault shim (see test_faults.py). A day is closed
by restarting the suite with its clock (TLSRPTD_CLOCK_OFFSET) on the next
day, with day_close_delay 0.
"""

import calendar
import collections
import gzip
import json
import re
import time

from suite import wait_until
from test_faults import (counter, expected_sessions, make_fault_suite,  # noqa: F401
                         send, simple_datagrams, today, wait_counted)

DAY = "2026-03-01"
NEXT_DAY = "2026-03-02"


def clock_offset(day, clock="12:00:00"):
    """Return the TLSRPTD_CLOCK_OFFSET that puts the suite at day, clock."""
    moment = calendar.timegm(time.strptime(f"{day} {clock}",
                                           "%Y-%m-%d %H:%M:%S"))
    return str(int(moment - time.time()))


def test_store_failure_keeps_batch(make_fault_suite, tmp_path):
    """Writes to the database fail: the batch stays in incoming/, is
    retried, and counts exactly once when space returns."""
    suite = make_fault_suite().start()
    before = simple_datagrams("before", 5)
    during = simple_datagrams("during", 10)
    send(suite, before)
    wait_counted(suite, today(), tmp_path / "before", expected_sessions(before))
    # The status line follows at the end of the aggregator's round, and
    # the master writes it up to a second later. Once it shows the first
    # batch, a later read cannot see an older line.
    wait_until(lambda: counter(suite, "aggregator", "datagrams") == 5,
               what="the aggregator's status line for the first batch")

    suite.set_fault("aggregator", "enospc ops=write,sync dirs=db")
    send(suite, during)
    suite.wait_log(r"cannot count the batch: .*No space left on device; it "
                   r"stays in incoming/ for a retry", count=2)
    assert suite.files("incoming")
    assert counter(suite, "aggregator", "datagrams") == 5

    suite.set_fault("aggregator", "off")
    wait_counted(suite, today(), tmp_path / "after",
                 expected_sessions(before + during))
    assert not suite.files("incoming")

    # The status line follows at the end of the aggregator's round.
    wait_until(lambda: counter(suite, "aggregator", "datagrams") == 15,
               what="the aggregator's status line")
    assert counter(suite, "aggregator", "batches") == 2


def reports_in(directory):
    """Return the reports that the file transport wrote, by file name."""
    return {path.name: json.loads(gzip.decompress(path.read_bytes()))
            for path in directory.glob("*.json.gz")}


def report_sessions(reports):
    """Sessions per policy domain, which for these no-policy-found
    datagrams is the recipient domain."""
    sessions = collections.Counter()
    for report in reports.values():
        for entry in report["policies"]:
            summary = entry["summary"]
            sessions[entry["policy"]["policy-domain"]] += (
                summary["total-successful-session-count"]
                + summary["total-failure-session-count"])
    return sessions


def test_summary_failure_keeps_day_open(make_fault_suite, monkeypatch,
                                        tmp_path):
    """The final summary of a day cannot be written: no partial file
    reaches days/, the day stays unclosed and is closed on a retry, and
    its reports are delivered once."""
    datagrams = simple_datagrams("day", 12)
    suite = make_fault_suite(day_close_delay="0")

    monkeypatch.setenv("TLSRPTD_CLOCK_OFFSET", clock_offset(DAY))
    suite.start()
    send(suite, datagrams)
    wait_counted(suite, DAY, tmp_path / "counted", expected_sessions(datagrams))
    suite.stop()

    # The summary's writes fail after its first lines, then its creation
    # fails as well.
    suite.set_fault("aggregator", "enospc ops=write dirs=tmp,days after=3")
    monkeypatch.setenv("TLSRPTD_CLOCK_OFFSET", clock_offset(NEXT_DAY))
    suite.start()
    pattern = (rf"day {DAY}: cannot write final summary days/\w+: .*No space "
               r"left on device; will retry")
    suite.wait_log(pattern)
    suite.set_fault("aggregator", "enospc ops=create,write dirs=tmp,days")
    suite.wait_log(pattern, count=3)
    assert not suite.files("days")
    assert not [path for path in suite.files("tmp")
                if path.name.startswith("aggregator.")]
    assert not suite.files("outgoing")
    assert not suite.files("sent")

    suite.set_fault("aggregator", "off")
    suite.wait_log(rf"day {DAY} closed: final summary days/\w+ \(\d+ counters\)")
    redirect = suite.base / "redirect"
    wait_until(lambda: len(reports_in(redirect)) == len(datagrams),
               what=f"{len(datagrams)} reports delivered")
    wait_until(lambda: not suite.files("outgoing") and not suite.files("days"),
               what="the queue to drain")
    assert suite.log_count(rf"day {DAY} closed") == 1
    assert report_sessions(reports_in(redirect)) == expected_sessions(datagrams)
    sent = re.findall(r"(\w+): to=<[^>]*>, .*status=sent", suite.log())
    assert len(sent) == len(datagrams)
    assert len(set(sent)) == len(sent)
