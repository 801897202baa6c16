"""Disk faults in the reporter and the mailer.

Reporter: delivery files that fail half-way (a write, an fsync, a link
into outgoing/) leave no delivery in outgoing/ and the summary in days/;
the summary is queued again when the disk works, and every report is
delivered once. Mailer: a sent report whose file cannot be moved to
sent/ is not delivered again while the move is retried.

Reports go to a real SMTP server (smtp_sink.py), which counts what
arrives. The suite runs under the fault shim (see test_faults.py).
"""

import collections
import email
import email.policy
import json
import re
import subprocess
import time

import pytest

from smtp_sink import SmtpSink
from suite import BIN, wait_until
from test_faults import (expected_sessions, make_fault_suite,  # noqa: F401
                         samples, send, today, wait_counted)


@pytest.fixture
def smtp():
    with SmtpSink() as sink:
        yield sink


def mail_destinations(datagrams):
    """The (domain, mailto address) pairs that the datagrams' records
    name: one delivery, and one message, each."""
    destinations = set()
    for raw in datagrams:
        datagram = json.loads(raw)
        for address in re.findall(r"mailto:([^,; ]+)", datagram["pr"]):
            destinations.add((datagram["d"].lower().rstrip("."), address))
    return destinations


def mail_only_samples():
    """The sample datagrams whose records name only mailto: destinations,
    so that every delivery ends at the SMTP server."""
    return [raw for raw in samples()
            if "https:" not in json.loads(raw)["pr"]]


def received_destinations(smtp):
    """Count the messages per (report domain, recipient)."""
    counts = collections.Counter()
    for envelope in smtp.handler.received():
        message = email.message_from_bytes(envelope.content,
                                           policy=email.policy.default)
        for recipient in envelope.rcpt_tos:
            counts[message["TLS-Report-Domain"], recipient] += 1
    return counts


def request_reports(suite):
    """Start "tlsrptd report" for today, which waits until the reporter
    has taken the summary."""
    return subprocess.Popen([str(BIN / "tlsrptd"), "-c", str(suite.etc),
                             "report", "--day", today()],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def assert_delivered_once(suite, smtp, expected):
    """Every expected destination got exactly one message, and the mailer
    sent each delivery file once."""
    wait_until(lambda: sum(received_destinations(smtp).values()) >= len(expected),
               timeout=30, what=f"{len(expected)} report messages")
    wait_until(lambda: not suite.files("outgoing") and not suite.files("days"),
               what="outgoing/ and days/ to drain")
    time.sleep(2 * 2 + 0.5)  # two more wakeups of the mailer
    counts = received_destinations(smtp)
    assert set(counts) == expected
    assert all(count == 1 for count in counts.values()), counts
    sent = re.findall(r"(\w+): to=<[^>]*>, .*status=sent", suite.log())
    assert len(sent) == len(expected)
    assert len(set(sent)) == len(sent)
    assert len(suite.files("sent")) == len(expected)


def test_reporter_failure_withdraws_deliveries(make_fault_suite, smtp,
                                               tmp_path):
    """Links, writes and fsyncs of delivery files fail in turn: nothing
    partial reaches outgoing/, the summary stays in days/, and once the
    disk works every report is delivered once."""
    datagrams = mail_only_samples()
    expected = mail_destinations(datagrams)
    suite = make_fault_suite(relayhost=smtp.relayhost,
                             delivery_redirect="").start()
    send(suite, datagrams)
    wait_counted(suite, today(), tmp_path / "counted",
                 expected_sessions(datagrams))

    # The third link into outgoing/ fails; the first two are taken back.
    suite.set_fault("reporter", "enospc ops=link dirs=outgoing after=2")
    command = request_reports(suite)
    suite.wait_log(r"cannot commit \d+ delivery files into outgoing/: No "
                   r"space left on device")
    suite.wait_log(r"queueing failed; the summary file stays in days/")
    assert not suite.files("outgoing")
    assert len(suite.files("days")) == 1

    # Writes fail a few delivery files in: each file takes a few hundred
    # stdio calls.
    suite.set_fault("reporter", "enospc ops=write dirs=tmp after=1000")
    suite.wait_log(r"cannot write the delivery of report-id=\S+ to \S+ into "
                   r"tmp/: No space left on device")
    assert not suite.files("outgoing")

    # The fsyncs of the staged files fail.
    suite.set_fault("reporter", "eio ops=sync dirs=tmp,outgoing")
    suite.wait_log(r"cannot commit \d+ delivery files into outgoing/: "
                   r"Input/output error")
    assert not suite.files("outgoing")
    # The reporter logs the failure first and then removes the staged
    # files from tmp/.
    wait_until(lambda: not [path for path in suite.files("tmp")
                            if re.fullmatch(r"reporter\.[0-9A-F]{24}",
                                            path.name)],
               timeout=10, what="the staged delivery files to leave tmp/")
    assert not smtp.handler.received()

    suite.set_fault("reporter", "off")
    assert command.wait(timeout=70) == 0, command.stdout.read()
    assert_delivered_once(suite, smtp, expected)


def test_mailer_move_failure_not_resent(make_fault_suite, smtp, tmp_path):
    """The mailer cannot store the outcome of a sent report, nor move its
    file to sent/: the move is retried without delivering again, and
    succeeds when the disk works."""
    datagrams = mail_only_samples()
    expected = mail_destinations(datagrams)
    suite = make_fault_suite(relayhost=smtp.relayhost,
                             delivery_redirect="").start()
    send(suite, datagrams)
    wait_counted(suite, today(), tmp_path / "counted",
                 expected_sessions(datagrams))

    suite.set_fault("mailer", "eio ops=create,write,rename,link "
                    "dirs=tmp,sent,outgoing,deferred")
    command = request_reports(suite)
    assert command.wait(timeout=70) == 0, command.stdout.read()
    wait_until(lambda: sum(received_destinations(smtp).values()) >= len(expected),
               timeout=30, what=f"{len(expected)} report messages")
    suite.wait_log(r"cannot move outgoing/\w+ to sent/ either: Input/output "
                   r"error; the mailer retries the move", count=len(expected))
    time.sleep(3 * 2 + 0.5)  # scans on three more wakeups of the mailer
    assert len(suite.files("outgoing")) == len(expected)
    assert sum(received_destinations(smtp).values()) == len(expected)

    suite.set_fault("mailer", "off")
    suite.wait_log(r"moved the sent report from outgoing/ to sent/ after \d+ "
                   r"tries", count=len(expected))
    assert_delivered_once(suite, smtp, expected)
