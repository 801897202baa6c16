"""End to end: sample datagrams in, RFC 8460 reports out by SMTP.

Starts the real suite (master, receiver, aggregator, reporter, mailer),
sends every captured datagram with tlsrpt-send, asks for today's reports
with "tlsrptd report" and receives them on a real SMTP server. The
expected counts are computed here from the sample files themselves.
"""

import collections
import email
import email.policy
import gzip
import json
import re
import time
from datetime import datetime, timezone

import pytest

from smtp_sink import SmtpSink
from suite import Suite, make_base_dir, sample_files, wait_until
from test_reporter_schema import check_report

POLICY_TYPES = {1: "tlsa", 2: "sts", 9: "no-policy-found"}
RESULT_TYPES = {
    201: "starttls-not-supported", 202: "certificate-host-mismatch",
    203: "certificate-not-trusted", 204: "certificate-expired",
    205: "validation-failure", 301: "sts-policy-fetch-error",
    302: "sts-policy-invalid", 303: "sts-webpki-invalid",
    304: "tlsa-invalid", 305: "dnssec-invalid", 306: "dane-required",
}
SUBMITTER = "reports.example.net"


def normal(domain):
    return domain.lower().rstrip(".")


def expected_counts():
    """Sessions and failure rows per domain, from the sample files."""
    sessions = collections.Counter()
    rows = collections.Counter()
    for path in sample_files():
        datagram = json.loads(path.read_bytes())
        domain = normal(datagram["d"])
        for policy in datagram["policies"]:
            kind = POLICY_TYPES[policy["policy-type"]]
            policy_domain = normal(policy.get("policy-domain", datagram["d"]))
            outcome = "failure" if policy["f"] else "success"
            sessions[domain, kind, policy_domain, outcome] += 1
            for detail in policy.get("failure-details", []):
                rows[domain, kind, RESULT_TYPES[detail["c"]]] += 1
    return sessions, rows


def mail_destinations():
    """The mailto destinations of every (domain, record) in the samples."""
    destinations = set()
    for path in sample_files():
        datagram = json.loads(path.read_bytes())
        for uri in re.findall(r"mailto:([^,; ]+)", datagram["pr"]):
            destinations.add((normal(datagram["d"]), uri))
    return destinations


def report_of(message):
    """Return (attachment name, report JSON) of a parsed report message."""
    parts = [part for part in message.walk()
             if part.get_content_type() == "application/tlsrpt+gzip"]
    assert len(parts) == 1
    payload = parts[0].get_payload(decode=True)
    assert payload[:2] == b"\x1f\x8b"
    check_report(payload)
    return parts[0].get_filename(), json.loads(gzip.decompress(payload))


@pytest.fixture
def smtp():
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def suite(smtp):
    running = Suite(make_base_dir(), relayhost=smtp.relayhost)
    running.start()
    yield running
    running.cleanup()


def counted_sessions(suite, day, directory):
    """Sum the sessions of a dry-run of the day's reports."""
    result = suite.command("report", "--day", day, "--dry-run", str(directory),
                           check=False)
    if result.returncode != 0:
        return 0
    for path in directory.glob("*.json.gz"):
        check_report(path.read_bytes())
    return sum(int(a) + int(b) for a, b in
               re.findall(r": (\d+) successful, (\d+) failed sessions",
                          result.stdout))


def test_pipeline_samples_to_smtp(suite, smtp, tmp_path):
    day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    sessions, rows = expected_counts()
    total_sessions = sum(sessions.values())

    sent = suite.send(*sample_files())
    assert "sent %d datagrams, 0 dropped" % len(sample_files()) in sent.stderr

    # A malformed datagram is kept in corrupt/ and nothing else changes.
    suite.send_bytes(b'{"dpv":"1","d":"bad.example","policies":"x"}')
    wait_until(lambda: suite.files("corrupt"), what="a corrupt/ file")

    preview = tmp_path / "preview"
    preview.mkdir()
    wait_until(lambda: counted_sessions(suite, day, preview) == total_sessions,
               what=f"{total_sessions} counted sessions")

    queued = suite.command("report", "--day", day)
    expected = mail_destinations()
    wait_until(lambda: len(smtp.handler.received()) >= len(expected),
               timeout=30, what=f"{len(expected)} report messages")
    time.sleep(0.5)
    envelopes = smtp.handler.received()
    assert len(envelopes) == len(expected)

    # The command counts each delivery once, wherever the mailer moved it.
    deliveries = {path.name for name in ("outgoing", "deferred", "hold", "sent",
                                         "failed")
                  for path in suite.files(name)}
    printed = re.search(r"queued: (\d+) deliver", queued.stdout)
    assert printed, queued.stdout
    assert int(printed.group(1)) == len(deliveries)

    report_ids = set()
    seen_sessions = collections.Counter()
    seen_rows = collections.Counter()
    recipients = set()
    for envelope in envelopes:
        message = email.message_from_bytes(envelope.content,
                                           policy=email.policy.default)
        domain = message["TLS-Report-Domain"]
        recipients.add((domain, envelope.rcpt_tos[0]))
        assert message["TLS-Report-Submitter"] == SUBMITTER
        assert message["TLS-Required"] == "No"
        assert message.get_content_type() == "multipart/report"
        assert message.get_param("report-type") == "tlsrpt"

        name, report = report_of(message)
        assert re.fullmatch(
            rf"{re.escape(SUBMITTER)}!{re.escape(domain)}!(\d+)!(\d+)!"
            r"[A-Za-z0-9]+\.json\.gz", name)
        begin, end = map(int, name.split("!")[2:4])
        assert end - begin == 86399
        assert datetime.fromtimestamp(begin, timezone.utc).strftime("%Y-%m-%d") == day

        assert report["organization-name"] == "tlsrptd test suite"
        assert report["contact-info"] == "tlsrpt-noreply@reports.example.net"
        assert report["date-range"] == {"start-datetime": f"{day}T00:00:00Z",
                                        "end-datetime": f"{day}T23:59:59Z"}
        report_id = report["report-id"]
        assert re.fullmatch(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@" +
                            re.escape(SUBMITTER), report_id)
        subject = " ".join(str(message["Subject"]).split())
        assert subject == (f"Report Domain: {domain} Submitter: {SUBMITTER} "
                           f"Report-ID: <{report_id}>")

        # Several mailto destinations get the same report; count it once.
        if report_id in report_ids:
            continue
        report_ids.add(report_id)
        for entry in report["policies"]:
            policy = entry["policy"]
            kind = policy["policy-type"]
            assert kind in POLICY_TYPES.values()
            assert isinstance(policy["mx-host"], list)
            summary = entry["summary"]
            key = (domain, kind, policy["policy-domain"])
            seen_sessions[key + ("success",)] += summary["total-successful-session-count"]
            seen_sessions[key + ("failure",)] += summary["total-failure-session-count"]
            for detail in entry.get("failure-details", []):
                assert detail["result-type"] in RESULT_TYPES.values()
                assert detail["failed-session-count"] >= 1
                seen_rows[domain, kind, detail["result-type"]] += detail["failed-session-count"]

    assert recipients == expected
    assert +seen_sessions == +sessions
    assert +seen_rows == +rows

    # The receiver is still running after the malformed datagram.
    assert suite.process.poll() is None
