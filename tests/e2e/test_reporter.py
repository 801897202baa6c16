"""End to end: the reporter daemon turns day summaries into deliveries.

Each test makes a private queue directory and main.cf and writes summary
files into days/ in the documented format. It runs the built reporter
($TLSRPTD_ROOT/libexec/tlsrptd/reporter -c CONFDIR -S) until its work
shows up in the queue and stops it with SIGTERM. Then it checks the
delivery files in outgoing/: their headers, one file per destination, and
a payload that passes every check of test_reporter_schema.py, among them
the RFC 8460 schema in tests/schema/. The summary lines are made here
from the sample datagrams, so the expected counts come from the samples
themselves.
"""

import base64
import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from calendar import timegm
from datetime import datetime, timezone
from pathlib import Path

import pytest

from test_reporter_schema import check_filename, check_report

REPO = Path(__file__).resolve().parents[2]
ROOT = Path(os.environ.get("TLSRPTD_ROOT", REPO))
REPORTER = ROOT / "libexec" / "tlsrptd" / "reporter"
DATA = REPO / "tests" / "data"
QUEUE_SUBDIRS = ("tmp", "days", "outgoing", "corrupt", "private")
SUBMITTER = "reports.example.net"
DAY = "2026-03-01"
DAY_BEGIN = timegm((2026, 3, 1, 0, 0, 0))

POLICY_TYPES = {1: "tlsa", 2: "sts", 9: "no-policy-found"}
RESULT_TYPES = {
    201: "starttls-not-supported", 202: "certificate-host-mismatch",
    203: "certificate-not-trusted", 204: "certificate-expired",
    205: "validation-failure", 301: "sts-policy-fetch-error",
    302: "sts-policy-invalid", 303: "sts-webpki-invalid",
    304: "tlsa-invalid", 305: "dnssec-invalid", 306: "dane-required",
}
DETAIL_KEYS = (("s", "sending-mta-ip"), ("n", "receiving-mx-hostname"),
               ("h", "receiving-mx-helo"), ("r", "receiving-ip"),
               ("a", "additional-information"), ("f", "failure-reason-code"))


def compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def normal(domain):
    return domain.lower().rstrip(".")


def account():
    """The unprivileged account the reporter drops to when run as root."""
    for name in ("tlsrptd", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    pytest.skip("running as root needs an unprivileged account "
                "(useradd --system tlsrptd)")


def give_away(path):
    """Hand a file to the reporter's account when the tests run as root."""
    if os.geteuid() == 0:
        user = account()
        os.chown(path, user.pw_uid, user.pw_gid)


def summary_lines(datagram_files, record=None):
    """Counter lines for the datagrams, added up the way the aggregator
    does. The EHLO reply goes in raw, multi-line as Postfix sends it, so
    the reporter's own clean-up is exercised too."""
    policies = {}
    details = {}
    for path in datagram_files:
        datagram = json.loads(path.read_bytes())
        domain = normal(datagram["d"])
        pr = datagram["pr"] if record is None else record
        for policy in datagram["policies"]:
            key = compact({
                "policy-type": POLICY_TYPES[policy["policy-type"]],
                "policy-string": policy.get("policy-string", []),
                "policy-domain": normal(policy.get("policy-domain",
                                                   datagram["d"])),
                "mx-host": [normal(h) for h in policy.get("mx-host", [])],
            })
            counts = policies.setdefault((domain, pr, key), [0, 0])
            counts[1 if policy["f"] else 0] += 1
            for detail in policy.get("failure-details", []):
                row = {"result-type": RESULT_TYPES[detail["c"]]}
                row.update((name, detail[short]) for short, name in DETAIL_KEYS
                           if detail.get(short))
                detail_key = (domain, pr, key, compact(row))
                details[detail_key] = details.get(detail_key, 0) + 1
    lines = []
    for (domain, pr, key), (success, failure) in sorted(policies.items()):
        lines.append("policy " + compact({
            "domain": domain, "record": pr, "policy": json.loads(key),
            "success": success, "failure": failure}))
    for (domain, pr, key, row), count in sorted(details.items()):
        lines.append("detail " + compact({
            "domain": domain, "record": pr, "policy": json.loads(key),
            "detail": json.loads(row), "count": count}))
    return lines


def sample(*names):
    return [DATA / name for name in names]


class Queue:
    """A private queue directory with main.cf, and the reporter's log."""

    def __init__(self, base, **parameters):
        self.base = base
        self.etc = base / "etc"
        self.queue = base / "queue"
        self.etc.mkdir()
        self.queue.mkdir()
        give_away(self.queue)
        for name in QUEUE_SUBDIRS:
            (self.queue / name).mkdir(mode=0o700)
            give_away(self.queue / name)
        self.parameters = {
            "queue_directory": str(self.queue),
            "organization_name": "tlsrptd test suite",
            "contact_info": "tlsrpt-noreply@Reports.Example.NET",
            "delivery_spread": "2h",
        }
        if os.geteuid() == 0:
            self.parameters["mail_owner"] = account().pw_name
        self.parameters.update(parameters)
        self.write_config()
        self.log = ""

    def write_config(self):
        text = "".join(f"{name} = {value}\n"
                       for name, value in self.parameters.items())
        (self.etc / "main.cf").write_text(text)

    def write_summary(self, name, lines, day=DAY, kind="final", torn=False):
        """Write days/NAME in the summary file format, atomically."""
        text = (f"tlsrptd-summary 1\nday: {day}\nkind: {kind}\n"
                f"created: {DAY}T00:30:00Z\nhost: mx1.example.net\n\n")
        text += "".join(line + "\n" for line in lines)
        if not torn:
            text += f"end {len(lines)}\n"
        temporary = self.queue / "tmp" / f"test.{name}"
        temporary.write_text(text, encoding="utf-8")
        give_away(temporary)
        os.rename(temporary, self.queue / "days" / name)

    def files(self, subdir):
        return sorted((self.queue / subdir).iterdir())

    def run(self, done, timeout=20.0, trigger=False):
        """Run the reporter until done(self) is true, then stop it."""
        log_path = self.base / "reporter.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [str(REPORTER), "-c", str(self.etc), "-S"],
                stdout=log, stderr=subprocess.STDOUT)
            try:
                deadline = time.monotonic() + timeout
                while not done(self):
                    if process.poll() is not None:
                        break
                    if time.monotonic() > deadline:
                        raise AssertionError("timed out waiting for the "
                                             "reporter:\n" + log_path.read_text())
                    if trigger:
                        wake(self.queue)
                    time.sleep(0.1)
            finally:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.log = log_path.read_text(errors="replace")
        return process.returncode


def wake(queue):
    """Write one wakeup byte to private/reporter if the reporter listens."""
    try:
        fd = os.open(queue / "private" / "reporter",
                     os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return
    try:
        os.write(fd, b"W")
    except BlockingIOError:
        pass
    finally:
        os.close(fd)


def read_delivery(path):
    """Return the header fields and the decoded payload of a delivery."""
    text = path.read_text()
    assert text.startswith("tlsrptd-delivery 1\n")
    head, body = text.split("\n\n", 1)
    fields = dict(line.split(": ", 1) for line in head.splitlines()[1:])
    lines = body.splitlines()
    match = re.fullmatch(r"end (\d+)", lines[-1])
    assert match, f"{path.name}: missing end record"
    payload = base64.b64decode("".join(lines[:-1]), validate=True)
    assert len(payload) == int(match.group(1))
    return fields, payload


def decode_report(payload):
    """Decode a gzip payload with every check of test_reporter_schema."""
    return check_report(payload)


def deliveries_by_domain(queue):
    result = {}
    for path in queue.files("outgoing"):
        fields, payload = read_delivery(path)
        result.setdefault(fields["report-domain"], []).append(
            (path.name, fields, payload))
    return result


def utc(text):
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=timezone.utc).timestamp()


@pytest.fixture
def base():
    if not REPORTER.exists():
        pytest.fail(f"{REPORTER} not built; run make first")
    path = Path(tempfile.mkdtemp(prefix="tlsrptd-reporter-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def no_days_left(queue):
    return not queue.files("days")


def test_one_delivery_per_destination(base):
    queue = Queue(base)
    lines = summary_lines(sample(
        "postfix/17-multistring-tlsrpt-record.json",
        "postfix/01-tls-success-may.json",
        "postfix/03-no-starttls-encrypt.json",
        "postfix/09-dane-tlsa-mismatch.json",
        "datagrams/05-example5-two-policies-sts-fail-tlsa-fail.json",
        "datagrams/07-example7-two-policies-success.json"))
    lines += summary_lines(sample("datagrams/11-blaster-no-policy-found.json"),
                           record="v=TLSRPTv1;rua=http://rpt.example/")
    queue.write_summary("S1", lines)
    before = time.time()
    assert queue.run(no_days_left) == 0, queue.log

    found = deliveries_by_domain(queue)
    assert sorted(found) == ["dane-bad.test", "example.com", "longrpt.test",
                             "notls-enc.test", "tls-ok.test"]
    assert sorted(f["destination"] for _, f, _ in found["longrpt.test"]) == [
        "https://rpt.longrpt.test/v1", "mailto:a@longrpt.test"]
    assert re.search(r"S1: day 2026-03-01, domain d000020.example: no report "
                     r"sent: .*unsupported URI scheme \"http\"", queue.log)

    for domain, entries in found.items():
        payloads = {payload for _, _, payload in entries}
        assert len(payloads) == 1, "destinations got different reports"
        for queue_id, fields, payload in entries:
            report = decode_report(payload)
            assert fields["report-id"] == report["report-id"]
            assert re.fullmatch(rf"{DAY}\.{re.escape(domain)}\.[0-9a-f]{{16}}"
                                rf"@{SUBMITTER}", fields["report-id"])
            assert fields["day"] == DAY
            assert fields["submitter"] == SUBMITTER
            assert set(fields["rua"].split()) == {
                f["destination"] for _, f, _ in entries}
            unique_id = fields["report-id"].split("@")[0].rsplit(".", 1)[1]
            assert fields["filename"] == (
                f"{SUBMITTER}!{domain}!{DAY_BEGIN}!{DAY_BEGIN + 86399}!"
                f"{unique_id}.json.gz")
            assert fields["attempts"] == "0"
            assert fields["first-attempt"] == "-"
            assert fields["last-error"] == "-"
            created = utc(fields["created"])
            assert before - 2 <= created <= time.time() + 1
            assert created <= utc(fields["next-attempt"]) < created + 7200
            assert report["organization-name"] == "tlsrptd test suite"
            assert report["contact-info"] == "tlsrpt-noreply@Reports.Example.NET"
            assert report["date-range"] == {
                "start-datetime": f"{DAY}T00:00:00Z",
                "end-datetime": f"{DAY}T23:59:59Z"}
            assert re.search(
                rf"{queue_id}: report-id={re.escape(fields['report-id'])}, "
                rf"domain={re.escape(domain)}, "
                rf"destination={re.escape(fields['destination'])}, "
                rf"size={len(payload)}\n", queue.log)

    assert re.search(r"S1: day=2026-03-01, kind=final, host=mx1.example.net, "
                     r"reports=6, deliveries=6, without-destination=1",
                     queue.log)


def test_report_content_from_samples(base):
    queue = Queue(base)
    queue.write_summary("S1", summary_lines(sample(
        "postfix/03-no-starttls-encrypt.json",
        "postfix/09-dane-tlsa-mismatch.json",
        "datagrams/05-example5-two-policies-sts-fail-tlsa-fail.json",
        "datagrams/07-example7-two-policies-success.json")))
    assert queue.run(no_days_left) == 0, queue.log
    found = deliveries_by_domain(queue)

    report = decode_report(found["notls-enc.test"][0][2])
    (entry,) = report["policies"]
    assert entry["policy"] == {"policy-type": "no-policy-found",
                               "policy-string": [],
                               "policy-domain": "notls-enc.test",
                               "mx-host": []}
    assert entry["summary"] == {"total-successful-session-count": 0,
                                "total-failure-session-count": 1}
    assert entry["failure-details"] == [{
        "result-type": "starttls-not-supported",
        "sending-mta-ip": "127.0.0.1",
        "receiving-mx-hostname": "mx.notls-enc.test",
        "receiving-mx-helo": "mx-127.0.0.12",
        "receiving-ip": "127.0.0.12",
        "failed-session-count": 1}]

    report = decode_report(found["dane-bad.test"][0][2])
    assert report["policies"][0]["policy"]["policy-domain"] == "mx.dane-bad.test"

    report = decode_report(found["example.com"][0][2])
    summaries = {(e["policy"]["policy-type"]): e["summary"]
                 for e in report["policies"]}
    assert summaries == {
        "sts": {"total-successful-session-count": 1,
                "total-failure-session-count": 1},
        "tlsa": {"total-successful-session-count": 1,
                 "total-failure-session-count": 1}}


def test_preview_goes_now(base):
    queue = Queue(base)
    queue.write_summary("P1", summary_lines(sample(
        "postfix/01-tls-success-may.json")), kind="preview")
    assert queue.run(no_days_left) == 0, queue.log
    (path,) = queue.files("outgoing")
    fields, _ = read_delivery(path)
    assert fields["next-attempt"] == fields["created"]


def test_redirect_replaces_destinations(base):
    queue = Queue(base, delivery_redirect="file:/var/tmp/tlsrpt-trial")
    queue.write_summary("S1", summary_lines(sample(
        "postfix/17-multistring-tlsrpt-record.json")))
    assert queue.run(no_days_left) == 0, queue.log
    (path,) = queue.files("outgoing")
    fields, payload = read_delivery(path)
    assert fields["destination"] == "file:/var/tmp/tlsrpt-trial"
    assert fields["rua"] == "mailto:a@longrpt.test https://rpt.longrpt.test/v1"
    decode_report(payload)
    assert "(delivery_redirect)" in queue.log


def test_bad_files_do_not_stop_others(base):
    queue = Queue(base)
    good = summary_lines(sample("postfix/01-tls-success-may.json"))
    queue.write_summary("A-torn", good, torn=True)
    queue.write_summary("B-supplement", good, kind="supplement")
    queue.write_summary("C-bad-json", ["policy {not json"])
    queue.write_summary("D-good", good)

    def settled(q):
        return (q.files("outgoing") and len(q.files("corrupt")) == 2
                and "supplement" in (base / "reporter.log").read_text())

    if os.path.exists(queue.queue / "private" / "reporter"):
        os.unlink(queue.queue / "private" / "reporter")
    os.mkfifo(queue.queue / "private" / "reporter", 0o600)
    give_away(queue.queue / "private" / "reporter")
    assert queue.run(settled) == 0, queue.log

    assert [p.name for p in queue.files("corrupt")] == ["A-torn", "C-bad-json"]
    assert [p.name for p in queue.files("days")] == ["B-supplement"]
    assert len(queue.files("outgoing")) == 1
    assert re.search(r"A-torn: invalid summary file moved to corrupt/: .*torn",
                     queue.log)
    assert "C-bad-json: invalid summary file moved to corrupt/" in queue.log

    # In a second run, a summary written after the first scan is found
    # through a wakeup. That proves a rescan, which must not log the
    # supplement again.
    log_before = queue.log
    written = []

    def rescanned(q):
        if not written:
            log = (base / "reporter.log").read_text()[len(log_before):]
            if "B-supplement: day=" in log:
                q.write_summary("E-good", good)
                written.append("E-good")
            return False
        return not (q.queue / "days" / "E-good").exists()

    assert queue.run(rescanned, trigger=True) == 0, queue.log
    assert queue.log[len(log_before):].count("B-supplement: day=") == 1
    assert "E-good: day=2026-03-01, kind=final" in queue.log
    assert len(queue.files("outgoing")) == 2


def test_stale_tmp_files_removed(base):
    queue = Queue(base)
    stale = queue.queue / "tmp" / "reporter.0123456789ABCDEF01234567"
    other = queue.queue / "tmp" / "receiver.0123456789ABCDEF01234567"
    stale.write_text("half a delivery")
    other.write_text("not ours")
    assert queue.run(lambda q: not stale.exists()) == 0, queue.log
    assert other.exists()
    assert "removed 1 unfinished files from tmp/" in queue.log


@pytest.mark.parametrize("parameters, expected", [
    ({"contact_info": ""}, r"contact_info is not set; add .*main\.cf"),
    ({"organization_name": ""}, r"organization_name is not set; add .*main\.cf"),
    ({"contact_info": "postmaster"}, r"contact_info \"postmaster\" is not an "
                                     r"email address: it has no '@'"),
    ({"contact_info": "tls rpt@example.net"}, r"contact_info \"tls rpt@"
                                              r"example\.net\" has an "
                                              r"invalid local part"),
    ({"delivery_redirect": "smtp:relay"}, r"invalid delivery_redirect"),
])
def test_refuses_to_start(base, parameters, expected):
    queue = Queue(base, **parameters)
    queue.write_summary("S1", summary_lines(sample(
        "postfix/01-tls-success-may.json")))
    assert queue.run(lambda q: False, timeout=10) == 1
    assert re.search(r"fatal: " + expected, queue.log), queue.log
    assert queue.files("days")
    assert not queue.files("outgoing")


def npf_line(domain, record, success=1, failure=0):
    """A policy line of a no-policy-found policy for domain."""
    return "policy " + compact({
        "domain": domain, "record": record,
        "policy": {"policy-type": "no-policy-found", "policy-string": [],
                   "policy-domain": domain, "mx-host": []},
        "success": success, "failure": failure})


def npf_detail(domain, record, detail, count=1):
    return "detail " + compact({
        "domain": domain, "record": record,
        "policy": {"policy-type": "no-policy-found", "policy-string": [],
                   "policy-domain": domain, "mx-host": []},
        "detail": detail, "count": count})


GARBAGE_RECORDS = [
    "",
    "garbage \x01\x7f",
    "v=TLSRPTv1",
    "V=TLSRPTv1;rua=mailto:tlsrpt@example.net",
    "v=TLSRPTv1;rua=mailto:a%ZZ@example.net",
    "v=TLSRPTv1;rua=mailto:tlsrpt@example.net\nforged: log line",
    "v=TLSRPTv1;rua=" + ",".join(f"http://r{i}.example/" for i in range(500)),
    "v=TLSRPTv1;rua=" + "\u00e4" * 3000,
]


def test_garbage_records_cost_only_their_domain(base):
    """RFC 8460 section 3: a record without a usable destination gives
    no delivery and one log line; the other domains are reported."""
    queue = Queue(base)
    good = "v=TLSRPTv1;rua=mailto:tlsrpt@{}"
    lines = [npf_line("aaa.example", good.format("aaa.example"))]
    lines += [npf_line(f"garbage{i}.example", record)
              for i, record in enumerate(GARBAGE_RECORDS)]
    lines += [npf_line("zzz.example", good.format("zzz.example"))]
    queue.write_summary("S1", lines)
    assert queue.run(no_days_left) == 0, queue.log

    found = deliveries_by_domain(queue)
    assert sorted(found) == ["aaa.example", "zzz.example"]
    for entries in found.values():
        decode_report(entries[0][2])
    for i in range(len(GARBAGE_RECORDS)):
        pattern = rf"S1: day 2026-03-01, domain garbage{i}\.example: no report sent"
        assert len(re.findall(pattern, queue.log)) == 1, pattern
    assert not any(line.startswith("forged") for line in queue.log.splitlines())
    assert max(len(line) for line in queue.log.splitlines()) < 4200
    assert re.search(r"S1: day=2026-03-01, kind=final, host=mx1.example.net, "
                     r"reports=10, deliveries=2, without-destination=8",
                     queue.log)


def test_size_limits_from_main_cf(base):
    """A tiny report_max_size and many distinct rows: the gzip fits, the
    rows beyond the cap are folded, and no count is lost."""
    queue = Queue(base, report_max_size="1024",
                  report_max_failure_details="50")
    record = "v=TLSRPTv1;rua=mailto:tlsrpt@rows.example"
    lines = [npf_line("rows.example", record, success=5, failure=300)]
    for i in range(300):
        lines.append(npf_detail("rows.example", record, {
            "result-type": "certificate-expired" if i % 3 else
            "starttls-not-supported",
            "receiving-ip": f"192.0.2.{i % 250 + 1}",
            "failure-reason-code": hashlib.sha256(b"%d" % i).hexdigest()},
            count=i + 1))
    queue.write_summary("S1", lines)
    assert queue.run(no_days_left) == 0, queue.log

    ((name, fields, payload),) = deliveries_by_domain(queue)["rows.example"]
    assert len(payload) <= 1024
    report = decode_report(payload)
    check_filename(fields["filename"], report, SUBMITTER, "rows.example")
    (entry,) = report["policies"]
    assert entry["summary"] == {"total-successful-session-count": 5,
                                "total-failure-session-count": 300}
    rows = entry["failure-details"]
    assert 2 <= len(rows) <= 50
    assert sum(row["failed-session-count"] for row in rows) == 300 * 301 // 2
    folded = {row["result-type"]: row["failed-session-count"]
              for row in rows if len(row) == 2}
    assert set(folded) == {"certificate-expired", "starttls-not-supported"}
    assert "report_max_size: at most" in queue.log, queue.log


def test_success_only_days_no(base):
    queue = Queue(base, report_success_only_days="no")
    queue.write_summary("S1", summary_lines(sample(
        "postfix/01-tls-success-may.json",
        "postfix/03-no-starttls-encrypt.json")))
    assert queue.run(no_days_left) == 0, queue.log
    assert sorted(deliveries_by_domain(queue)) == ["notls-enc.test"]
    assert ("S1: day 2026-03-01: 1 reports without failures not built "
            "(report_success_only_days = no)") in queue.log


def many_domain_lines(count):
    """Policy and detail lines for count domains, in key order."""
    lines = []
    for i in range(count):
        domain = f"d{i:04d}.example"
        record = f"v=TLSRPTv1;rua=mailto:tlsrpt@{domain}"
        lines.append(npf_line(domain, record, success=i, failure=1))
        lines.append(npf_detail(domain, record, {
            "result-type": "validation-failure",
            "failure-reason-code": f"reason {i}"}))
    return lines


@pytest.mark.parametrize("order", ["shuffled", "reversed"])
def test_unsorted_summary_same_reports(base, order):
    """Summaries appended from several hosts in any order give the same
    reports as the sorted file. With many sorted runs the reporter sorts
    the file in tmp/ first."""
    lines = many_domain_lines(150)
    lines += summary_lines(sample("postfix/03-no-starttls-encrypt.json",
                                  "postfix/09-dane-tlsa-mismatch.json"))
    unsorted = list(reversed(lines))
    if order == "shuffled":
        __import__("random").Random(5).shuffle(unsorted)

    payloads = {}
    for name, body in (("sorted", sorted(lines)), (order, unsorted)):
        (base / name).mkdir()
        queue = Queue(base / name)
        queue.write_summary("S1", body)
        assert queue.run(no_days_left) == 0, queue.log
        payloads[name] = {domain: entries[0][2] for domain, entries in
                          deliveries_by_domain(queue).items()}
        assert not queue.files("tmp")
        if name != "sorted":
            assert re.search(r"S1: \d+ sorted runs of lines .* sorted them "
                             r"through tmp/ first", queue.log), queue.log
    assert len(payloads["sorted"]) == 152
    assert payloads[order] == payloads["sorted"]
    for payload in payloads["sorted"].values():
        decode_report(payload)


@pytest.mark.parametrize("contact, expected", [
    ("", r"contact_info is not set; add .*main\.cf"),
    ("postmaster", r"contact_info \"postmaster\" is not an email address"),
    ("a@b@example.net", r"contact_info \"a@b@example\.net\" has an invalid "
                        r"local part"),
])
def test_report_command_needs_contact_info(base, contact, expected):
    """tlsrptd report refuses to build reports without a usable
    contact_info, before it looks for the running suite."""
    queue = Queue(base, contact_info=contact)
    result = subprocess.run(
        [str(ROOT / "bin" / "tlsrptd"), "-c", str(queue.etc), "report",
         "--day", DAY], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert re.search(expected, result.stderr), result.stderr


def test_stop_midway_withdraws(base):
    """A reporter stopped in the middle of a summary takes back the
    deliveries it wrote and leaves the summary. The next run queues every
    report exactly once."""
    queue = Queue(base)
    # SIGTERM must arrive after the first commit of delivery files (256
    # of them, DELIVERY_QUEUE_BATCH) and before the last report is queued.
    # With 2000 domains that window is about 0.4 s long, and 1 s under
    # AddressSanitizer (measured on 2 cores with one of them busy). A test
    # that a loaded machine delays for a moment still stops it in time.
    domain_count = 2000
    lines = many_domain_lines(domain_count)
    queue.write_summary("S1", lines)
    log_path = base / "reporter.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [str(REPORTER), "-c", str(queue.etc), "-S"],
            stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 20
            while len(queue.files("outgoing")) < 5 and process.poll() is None:
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.01)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=20)
    text = log_path.read_text()
    assert process.returncode == 0, text
    assert ("S1: day=2026-03-01: stopped before every report was queued; "
            "the summary file stays in days/") in text
    assert "removed; its summary file will be queued again" in text
    assert [p.name for p in queue.files("days")] == ["S1"]
    assert queue.files("outgoing") == []
    assert queue.files("tmp") == []

    assert queue.run(no_days_left, timeout=60) == 0, queue.log
    domains = [fields["report-domain"] for _, fields, _ in
               (entry for entries in deliveries_by_domain(queue).values()
                for entry in entries)]
    assert len(domains) == domain_count
    assert len(set(domains)) == domain_count
