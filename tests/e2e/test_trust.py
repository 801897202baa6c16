"""Trust boundaries: what one account puts in the queue stays harmless.

The receiver runs as an account of its own that can write tmp/,
incoming/ and corrupt/; the other workers run as mail_owner; the master
and the admin commands run as root. Each test plants what a compromised
or careless account could plant, as that account when the tests run as
root, and checks that the next program in line neither hangs, follows a
symbolic link, counts or sends what it must not, forges a log, listing
or mail header line, nor changes a file it does not own:

- a FIFO in incoming/, days/ and outgoing/ (opening one blocks);
- a symbolic link in incoming/, days/ and outgoing/ to a valid queue
  file outside the queue;
- files whose names are not queue IDs, one with a line break;
- a summary file in days/ with hostile lines;
- delivery files in outgoing/ whose header fields try to inject mail
  headers or recipients, and TLSRPT records that try the same;
- the receiver socket replaced by a symbolic link before a reload.
"""

import email
import email.policy
import gzip
import json
import os
import pwd
import signal
import stat
import subprocess
import time
from datetime import datetime, timezone

import pytest

from smtp_sink import SmtpSink
from suite import BIN, RECEIVER_ACCOUNT, TEST_ACCOUNT, Suite, \
    make_base_dir, sample_files, wait_until
from test_mailer import delivery_text, make_report, report_filename, DAY
from test_pipeline import counted_sessions
from test_reporter_schema import check_report

SUBMITTER = "reports.example.net"


def today():
    return datetime.now(timezone.utc).strftime("%Y-%m-%d")


def old_queue_id(number):
    """A valid queue ID from 1970, so that it sorts before every file the
    suite makes and is the first one a worker takes."""
    return "%09X%05X%06X%04X" % (1, 0, 0, number)


def run_as(account, code):
    """Run Python code as the account when the tests run as root, so that
    what it plants is what that account could plant; else as ourselves."""
    kwargs = {}
    if os.geteuid() == 0:
        entry = pwd.getpwnam(account)
        kwargs = {"user": entry.pw_uid, "group": entry.pw_gid}
    result = subprocess.run(["/usr/bin/python3", "-c", code],
                            capture_output=True, text=True, timeout=30,
                            **kwargs)
    assert result.returncode == 0, result.stderr


def plant_fifo(account, path):
    run_as(account, f"import os; os.mkfifo({str(path)!r}, 0o660)")


def plant_symlink(account, target, path):
    run_as(account, f"import os; os.symlink({str(target)!r}, {str(path)!r})")


def plant_file(account, path, text):
    """Write a file as the account, through a temporary name."""
    run_as(account, "import os\n"
           f"tmp = {str(path)!r} + '.tmp'\n"
           f"open(tmp, 'w').write({text!r})\n"
           f"os.rename(tmp, {str(path)!r})\n")


def batch_text(datagrams):
    """A batch file as the receiver writes it, received now."""
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = [f"{now} " + json.dumps(datagram, separators=(",", ":"))
             for datagram in datagrams]
    return (f"tlsrptd-batch 1\ncreated: {now}\nhost: planted\n\n" +
            "".join(line + "\n" for line in lines) + f"end {len(lines)}\n")


def summary_text(day, lines):
    """A summary file of a day with the given counter lines."""
    return (f"tlsrptd-summary 1\nday: {day}\nkind: preview\n"
            f"created: {day}T12:00:00Z\nhost: planted\n\n" +
            "".join(line + "\n" for line in lines) + f"end {len(lines)}\n")


def policy_line(domain, record, policy, success, failure):
    return "policy " + json.dumps({"domain": domain, "record": record,
                                   "policy": policy, "success": success,
                                   "failure": failure})


def detail_line(domain, record, policy, detail, count):
    return "detail " + json.dumps({"domain": domain, "record": record,
                                   "policy": policy, "detail": detail,
                                   "count": count})


def no_policy(domain, **members):
    return {"policy-type": "no-policy-found", "policy-domain": domain,
            "policy-string": [], "mx-host": [], **members}


def delivery_fields(domain="example.com", **changes):
    """The header of a valid delivery of make_report(domain), changed."""
    fields = {"report-id": f"{DAY}.{domain}.0123456789abcdef@{SUBMITTER}",
              "report-domain": domain, "day": DAY,
              "destination": f"mailto:tlsrpt@{domain}",
              "rua": f"mailto:tlsrpt@{domain}", "submitter": SUBMITTER,
              "filename": report_filename(domain),
              "created": f"{DAY}T00:30:00Z", "attempts": "0",
              "first-attempt": "-", "next-attempt": f"{DAY}T00:30:00Z",
              "last-error": "-"}
    fields.update(changes)
    return fields


def attachments(sink):
    """(recipients, report JSON) of every message the sink received."""
    found = []
    for envelope in sink.handler.received():
        message = email.message_from_bytes(envelope.content,
                                           policy=email.policy.default)
        for part in message.walk():
            if part.get_content_type() == "application/tlsrpt+gzip":
                payload = part.get_payload(decode=True)
                check_report(payload)
                found.append((envelope.rcpt_tos,
                              json.loads(gzip.decompress(payload))))
    return found


def worker_stuck(suite, service):
    """Tell whether the worker sleeps in open() of a FIFO."""
    for line in (suite.queue / "pid" / "status").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[0] == service and fields[1].isdigit():
            try:
                wchan = open(f"/proc/{fields[1]}/wchan").read()
            except OSError:
                return False
            return wchan == "wait_for_partner"
    return False


@pytest.fixture
def sink():
    with SmtpSink() as running:
        yield running


@pytest.fixture
def suite(sink):
    running = Suite(make_base_dir(), relayhost=sink.relayhost)
    running.start()
    yield running
    running.cleanup()


def test_fifo_in_incoming_skipped(suite, tmp_path):
    """A FIFO from the receiver's account does not stop the aggregator."""
    fifo = suite.queue / "incoming" / old_queue_id(1)
    plant_fifo(RECEIVER_ACCOUNT, fifo)
    suite.send(*sample_files()[:3])

    corrupt = suite.queue / "corrupt" / fifo.name
    wait_until(lambda: corrupt.exists() or worker_stuck(suite, "aggregator"),
               timeout=30, what="the FIFO to be handled")
    assert not worker_stuck(suite, "aggregator")
    assert stat.S_ISFIFO(corrupt.lstat().st_mode)
    # The aggregator logs the move after it.
    wait_until(lambda: f"{fifo.name}: invalid batch file (cannot read "
               f"incoming/{fifo.name}: not a regular file)" in suite.log(),
               what="the log line about the FIFO")
    wait_until(lambda: counted_sessions(suite, today(), tmp_path) > 0,
               what="the samples to be counted")


def test_fifo_in_days_and_outgoing_skipped(suite, sink, tmp_path):
    """FIFOs stop neither the reporter nor the mailer."""
    day_fifo = suite.queue / "days" / old_queue_id(2)
    out_fifo = suite.queue / "outgoing" / old_queue_id(3)
    plant_fifo(TEST_ACCOUNT, day_fifo)
    plant_fifo(TEST_ACCOUNT, out_fifo)
    suite.send(sample_files()[0])
    wait_until(lambda: counted_sessions(suite, today(), tmp_path) == 1,
               what="the sample to be counted")

    result = suite.command("report", "--day", today(), check=False,
                           timeout=120)
    assert result.returncode == 0, result.stderr
    wait_until(lambda: sink.handler.received(), timeout=30,
               what="the report to be delivered")
    for fifo in (day_fifo, out_fifo):
        assert stat.S_ISFIFO((suite.queue / "corrupt" / fifo.name).lstat().st_mode)
    assert f"days/{day_fifo.name}: not a regular file" in suite.log()
    assert f"outgoing/{out_fifo.name}: not a regular file" in suite.log()


def test_symlinks_in_queue_not_followed(suite, sink, tmp_path):
    """Valid queue files outside the queue, linked in, are not used."""
    outside = suite.base / "outside"
    outside.mkdir(mode=0o755)
    datagram = json.loads(sample_files()[0].read_text())
    datagram["d"] = "linked.example"
    datagram["pr"] = "v=TLSRPTv1; rua=mailto:tlsrpt@linked.example"
    planted = {
        "incoming": batch_text([datagram]),
        "days": summary_text(today(), [policy_line(
            "linked.example", datagram["pr"], no_policy("linked.example"),
            5, 0)]),
        "outgoing": delivery_text(delivery_fields("linked.example"),
                                  make_report("linked.example")[1]),
    }
    for number, (directory, text) in enumerate(planted.items()):
        target = outside / directory
        target.write_text(text)
        target.chmod(0o644)
        account = RECEIVER_ACCOUNT if directory == "incoming" else TEST_ACCOUNT
        plant_symlink(account, target, suite.queue / directory /
                      old_queue_id(10 + number))

    # Real traffic, so that every worker runs past the links.
    suite.send(sample_files()[1])
    wait_until(lambda: counted_sessions(suite, today(), tmp_path) == 1,
               what="the sample to be counted")
    result = suite.command("report", "--day", today(), check=False,
                           timeout=120)
    assert result.returncode == 0, result.stderr
    wait_until(lambda: sink.handler.received(), timeout=30,
               what="the sample's report to be delivered")
    suite.command("flush")
    wait_until(lambda: not suite.files("outgoing"), timeout=30,
               what="outgoing/ to be empty")

    assert all("linked.example" not in str(rcpt) for rcpt, _ in attachments(sink))
    assert counted_sessions(suite, today(), tmp_path) == 1
    for directory, text in planted.items():
        assert (outside / directory).read_text() == text
    corrupt = [path for path in suite.files("corrupt") if path.is_symlink()]
    assert len(corrupt) == 3, suite.log()


def test_names_not_queue_ids_ignored(suite, sink, tmp_path):
    """Files with other names are not counted, sent or listed."""
    datagram = json.loads(sample_files()[0].read_text())
    names = ["not-a-queue-id", "06B134D704A05F00512C000Z",
             "06B134D704A05F00\nINJECTED LINE"]
    for name in names:
        plant_file(RECEIVER_ACCOUNT, suite.queue / "incoming" / name,
                   batch_text([datagram]))
        plant_file(TEST_ACCOUNT, suite.queue / "outgoing" / name,
                   delivery_text(delivery_fields(), make_report()[1]))
        plant_file(TEST_ACCOUNT, suite.queue / "hold" / name,
                   delivery_text(delivery_fields(), make_report()[1]))
    # A datagram wakes the aggregator, a flush the mailer.
    suite.send(sample_files()[1])
    suite.command("flush")
    wait_until(lambda: all((suite.queue / "corrupt" / name).exists()
                           for name in names), timeout=30,
               what="the aggregator to set the files aside")
    wait_until(lambda: counted_sessions(suite, today(), tmp_path) == 1,
               what="the datagram alone to be counted")
    for name in names:
        assert "file name is not a queue ID; moved from incoming/ to " \
            "corrupt/ and not counted" in suite.log()
    wait_until(lambda: "the name is not a queue ID" in suite.log(),
               what="the mailer to pass over the names")
    time.sleep(1)
    assert sink.handler.received() == []

    listing = subprocess.run([str(BIN / "tlsrpt-queue"), "-c", str(suite.etc),
                              "list"], capture_output=True, text=True,
                             timeout=30)
    assert listing.returncode == 0, listing.stderr
    assert "INJECTED" not in listing.stdout
    assert "not-a-queue-id" not in listing.stdout
    assert listing.stdout.splitlines()[1:] == ["Queue is empty"], \
        listing.stdout

    # The log shows the line break as '?', so no line is forged.
    assert "\nINJECTED" not in suite.log()
    assert "06B134D704A05F00?INJECTED LINE" in suite.log()


def test_hostile_summary_file(suite, sink):
    """Hostile counter lines cost only themselves; nothing is injected."""
    day = "2026-12-03"
    record = "v=TLSRPTv1; rua=mailto:tlsrpt@{}"
    maximum = 2 ** 53 - 1
    lines = [
        policy_line("evil.example\r\nBcc: victim@example.org",
                    record.format("evil.example"), no_policy("evil.example"),
                    1, 0),
        policy_line("pd.example", record.format("pd.example"),
                    no_policy("pd.example\r\nX-Evil: 1"), 3, 1),
        policy_line("big.example", record.format("big.example"),
                    no_policy("big.example"), maximum, maximum),
        policy_line("big.example", record.format("big.example"),
                    no_policy("big.example"), maximum, 5),
        policy_line("dt.example", record.format("dt.example"),
                    no_policy("dt.example"), 1, 1),
        detail_line("dt.example", record.format("dt.example"),
                    no_policy("dt.example"),
                    {"result-type": "certificate-expired",
                     "receiving-mx-helo": "250 hi\r\nX-Evil: 1",
                     "sending-mta-ip": "not an address",
                     "x-unknown": "dropped"}, 1),
    ]
    plant_file(TEST_ACCOUNT, suite.queue / "days" / old_queue_id(20),
               summary_text(day, lines))
    suite.command("report", "--day", "2026-12-02", check=False, timeout=120)
    wait_until(lambda: len(sink.handler.received()) >= 2, timeout=30,
               what="the reports of big.example and dt.example")
    time.sleep(1)

    reports = {report["policies"][0]["policy"]["policy-domain"]: (rcpt, report)
               for rcpt, report in attachments(sink)}
    assert sorted(reports) == ["big.example", "dt.example"]
    for envelope in sink.handler.received():
        assert b"X-Evil" not in envelope.content
        assert b"victim@" not in envelope.content
        assert len(envelope.rcpt_tos) == 1

    # Counts add up, but never past what a JSON number represents exactly.
    rcpt, big = reports["big.example"]
    assert rcpt == ["tlsrpt@big.example"]
    summary = big["policies"][0]["summary"]
    assert summary == {"total-successful-session-count": maximum,
                       "total-failure-session-count": maximum}

    _, detailed = reports["dt.example"]
    detail = detailed["policies"][0]["failure-details"][0]
    assert detail["receiving-mx-helo"] == "hi"
    assert "sending-mta-ip" not in detail and "x-unknown" not in detail
    log = suite.log()
    assert 'invalid domain "evil.example??Bcc: victim@example.org"' in log
    assert "domain pd.example: skipping a summary line: invalid " \
        "policy-domain" in log


INJECTIONS = {
    "cr-destination": {"destination":
                       "mailto:tlsrpt@example.com\rBcc: victim@example.org"},
    "rcpt-destination": {"destination": "mailto:tlsrpt@example.com>\r"
                         "RCPT TO:<victim@example.org"},
    "hfield-destination": {"destination":
                           "mailto:tlsrpt@example.com?bcc=victim@example.org"},
    "two-addresses": {"destination":
                      "mailto:tlsrpt@example.com,victim@example.org"},
    "encoded-crlf": {"destination": "mailto:tlsrpt@example.com%0D%0A"
                     "Bcc:victim@example.org"},
    "cr-domain": {"report-domain": "example.com\rBcc: victim@example.org"},
    "cr-submitter": {"submitter": f"{SUBMITTER}\rBcc: victim@example.org"},
    "quoted-filename": {"filename": 'r.json.gz"\rBcc: victim@example.org'},
    "cr-report-id": {"report-id": "x>\rBcc: victim@example.org"},
}


def test_delivery_header_injection_refused(suite, sink):
    """A delivery file cannot add a header or a recipient."""
    _, payload = make_report()
    names = {}
    for number, (case, changes) in enumerate(sorted(INJECTIONS.items())):
        name = old_queue_id(30 + number)
        names[name] = case
        plant_file(TEST_ACCOUNT, suite.queue / "outgoing" / name,
                   delivery_text(delivery_fields(**changes), payload))
    control = old_queue_id(99)
    plant_file(TEST_ACCOUNT, suite.queue / "outgoing" / control,
               delivery_text(delivery_fields(), payload))
    suite.command("flush")

    # The sink records the control's message before the mailer moves its
    # file to sent/.
    wait_until(lambda: len(suite.files("failed")) == len(INJECTIONS)
               and sink.handler.received() and suite.files("sent"),
               timeout=30,
               what="every injection to fail and the control to be sent")
    assert {path.name for path in suite.files("failed")} == set(names)
    assert [path.name for path in suite.files("sent")] == [control]
    envelopes = sink.handler.received()
    assert len(envelopes) == 1
    assert envelopes[0].rcpt_tos == ["tlsrpt@example.com"]
    log = suite.log()
    for name in names:
        assert f"{name}: to=<" in log and "status=bounced" in log
    assert "\nBcc" not in log


def test_record_injection_refused(suite, sink, tmp_path):
    """rua URIs from a TLSRPT record cannot add headers or recipients."""
    records = {
        "inj0.example": "mailto:tlsrpt@inj0.example%0D%0ABcc:%20victim@example.org",
        "inj1.example": "mailto:tlsrpt@inj1.example?bcc=victim@example.org",
        "inj2.example": "mailto:a>@inj2.example",
        "inj3.example": "mailto:tlsrpt@inj3.example%3E%20NOTIFY=SUCCESS",
        "inj4.example": "mailto:tlsrpt@inj4.example,victim@example.org",
        "inj5.example": "mailto:tlsrpt@inj5.example\r\nBcc: victim@example.org",
    }
    for domain, rua in records.items():
        suite.send_bytes(json.dumps({
            "dpv": "1", "d": domain, "pr": f"v=TLSRPTv1; rua={rua}",
            "policies": [{"policy-type": 9, "f": 0}]}).encode())
    wait_until(lambda: counted_sessions(suite, today(), tmp_path) == 6,
               what="the six datagrams to be counted")
    result = suite.command("report", "--day", today(), check=False,
                           timeout=120)
    assert result.returncode == 0, result.stderr
    wait_until(lambda: len(sink.handler.received()) >= 2, timeout=30,
               what="the reports with a usable address")
    time.sleep(1)

    # The query is dropped and only the first address of a list is one.
    recipients = sorted(rcpt for envelope in sink.handler.received()
                        for rcpt in envelope.rcpt_tos)
    assert recipients == ["tlsrpt@inj1.example", "tlsrpt@inj4.example"]
    for envelope in sink.handler.received():
        assert b"victim@" not in envelope.content
        assert b"NOTIFY" not in envelope.content
    assert suite.log().count("no usable destination in the record") == 4


def test_reload_leaves_socket_link_target_alone(tmp_path):
    """A reload changes the mode and owner of the socket only, never of
    what a symbolic link put in the socket's place points to."""
    base = make_base_dir()
    suite = Suite(base)
    try:
        suite.start()
        victim = base / "victim"
        victim.write_text("not the socket\n")
        victim.chmod(0o600)
        before = victim.stat()
        suite.socket.unlink()
        suite.socket.symlink_to(victim)

        suite.process.send_signal(signal.SIGHUP)
        wait_until(lambda: "reload -- version" in suite.log(),
                   what="the reload")
        wait_until(lambda: "receiver_socket" in suite.log().split(
            "reload -- version")[-1], timeout=10,
            what="a warning about receiver_socket")
        after = victim.stat()
        assert stat.S_IMODE(after.st_mode) == 0o600
        assert (after.st_uid, after.st_gid) == (before.st_uid, before.st_gid)
        assert f"receiver_socket {suite.socket} is no longer a socket" \
            in suite.log()
        assert suite.process.poll() is None
    finally:
        suite.cleanup()
