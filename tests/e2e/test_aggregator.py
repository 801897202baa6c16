"""End-to-end tests of the aggregator alone, on a private queue directory.

Each test writes batch files into incoming/ the way the receiver does
(text, written under tmp/ and renamed into place), runs the built
aggregator in the foreground, and reads the summaries it writes: the
results of export requests in export/, final and supplement summaries in
days/.
Expected counts are computed here from the sample datagrams, independently
of the C code. Run as root, the aggregator drops privileges to the
"tlsrptd" account, which must exist.
"""

import calendar
import itertools
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROOT = Path(os.environ.get("TLSRPTD_ROOT", REPO))
AGGREGATOR = ROOT / "libexec" / "tlsrptd" / "aggregator"
DATA = REPO / "tests" / "data"
TEST_ACCOUNT = "tlsrptd"
QUEUE_SUBDIRS = ("tmp", "incoming", "corrupt", "days", "requests", "export",
                 "private", "db")
DAY = 86400
DAY_CLOSE_DELAY = 600

POLICY_TYPES = {1: "tlsa", 2: "sts", 9: "no-policy-found"}
RESULT_TYPES = {
    201: "starttls-not-supported", 202: "certificate-host-mismatch",
    203: "certificate-not-trusted", 204: "certificate-expired",
    205: "validation-failure", 301: "sts-policy-fetch-error",
    302: "sts-policy-invalid", 303: "sts-webpki-invalid",
    304: "tlsa-invalid", 305: "dnssec-invalid", 306: "dane-required",
}

_id_counter = itertools.count()


def sample_datagrams():
    """Return the raw bytes of every captured sample datagram."""
    files = sorted((DATA / "datagrams").glob("*.json")) + \
        sorted((DATA / "postfix").glob("*.json"))
    samples = [path.read_bytes().rstrip(b"\n") for path in files]
    assert samples, f"no sample datagrams under {DATA}"
    for path, data in zip(files, samples):
        assert b"\n" not in data, f"{path} holds more than one line"
    return samples


def queue_id(when=None):
    """Return a new queue ID in the aggregator's format (24 hex digits)."""
    now = time.time() if when is None else when
    seconds = int(now)
    micros = int((now - seconds) * 1_000_000)
    return "%09X%05X%06X%04X" % (seconds & 0xFFFFFFFFF, micros & 0xFFFFF,
                                  os.getpid() & 0xFFFFFF,
                                  next(_id_counter) & 0xFFFF)


def utc_stamp(when):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


def utc_day(when):
    return time.strftime("%Y-%m-%d", time.gmtime(when))


def day_start(when):
    return int(when) - int(when) % DAY


def at(day, clock):
    """Return the epoch seconds of "YYYY-MM-DD" at "HH:MM:SS" UTC."""
    return calendar.timegm(time.strptime(f"{day} {clock}", "%Y-%m-%d %H:%M:%S"))


def normalise(name):
    name = name.lower()
    return name[:-1] if name.endswith(".") else name


def expected_counts(datagrams):
    """Count sessions and failure details the way DESIGN.md defines them."""
    sessions = Counter()
    details = Counter()
    for raw in datagrams:
        datagram = json.loads(raw)
        domain = normalise(datagram["d"])
        for policy in datagram["policies"]:
            kind = POLICY_TYPES[policy["policy-type"]]
            policy_domain = normalise(policy.get("policy-domain", domain))
            result = "failure" if policy["f"] else "success"
            sessions[(domain, kind, policy_domain, result)] += 1
            for detail in policy.get("failure-details", []):
                details[(domain, kind, RESULT_TYPES[detail["c"]])] += 1
    return sessions, details


def summary_counts(summary):
    """Add up a summary's lines with the keys of expected_counts()."""
    sessions = Counter()
    details = Counter()
    for kind, line in summary["lines"]:
        policy = line["policy"]
        key = (line["domain"], policy["policy-type"], policy["policy-domain"])
        if kind == "policy":
            for result in ("success", "failure"):
                if line[result]:
                    sessions[key + (result,)] += line[result]
        else:
            details[(line["domain"], policy["policy-type"],
                     line["detail"]["result-type"])] += line["count"]
    return sessions, details


def read_summary(path):
    """Parse a summary file and check its version line and end record."""
    text = path.read_text()
    lines = text.split("\n")
    assert lines[0] == "tlsrptd-summary 1", text[:200]
    assert lines[-1] == "", "summary does not end with a newline"
    blank = lines.index("")
    header = dict(line.split(": ", 1) for line in lines[1:blank])
    body = lines[blank + 1:-2]
    assert lines[-2] == f"end {len(body)}", lines[-2]
    parsed = []
    for line in body:
        kind, _, data = line.partition(" ")
        assert kind in ("policy", "detail"), line
        parsed.append((kind, json.loads(data)))
    return {"header": header, "lines": parsed}


# Time for a start with database recovery on a loaded machine under a
# sanitizer. A wait that passes returns at once.
WAIT_SECONDS = 20.0


def wait_until(condition, timeout=WAIT_SECONDS, what="condition"):
    """Poll condition() until it returns a true value; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


class Queue:
    """A private queue directory, its main.cf and one aggregator process."""

    def __init__(self, base, **parameters):
        self.base = Path(base)
        self.etc = self.base / "etc"
        self.queue = self.base / "queue"
        self.log_path = self.base / "aggregator.log"
        self.process = None
        self.account = None
        if os.geteuid() == 0:
            self.account = self._test_account()

        self.base.mkdir()
        self.base.chmod(0o755)
        self.etc.mkdir()
        self.queue.mkdir()
        for name in QUEUE_SUBDIRS:
            (self.queue / name).mkdir()
        os.mkfifo(self.queue / "private" / "aggregator", 0o600)
        self._give_to_account(self.queue)

        settings = {
            "queue_directory": str(self.queue),
            "organization_name": "tlsrptd aggregator test",
            "contact_info": "tlsrpt-noreply@reports.example.net",
            "myhostname": "aggregator-test.example.net",
            "day_close_delay": f"{DAY_CLOSE_DELAY}s",
        }
        if self.account is not None:
            settings["mail_owner"] = TEST_ACCOUNT
        settings.update(parameters)
        text = "".join(f"{name} = {value}\n" for name, value in settings.items())
        (self.etc / "main.cf").write_text(text)

    @staticmethod
    def _test_account():
        try:
            return pwd.getpwnam(TEST_ACCOUNT)
        except KeyError:
            raise AssertionError(
                f"running as root needs the unprivileged account "
                f"{TEST_ACCOUNT!r}: useradd --system {TEST_ACCOUNT}") from None

    def _give_to_account(self, path):
        if self.account is None:
            return
        os.chown(path, self.account.pw_uid, self.account.pw_gid)
        if path.is_dir():
            for child in path.iterdir():
                self._give_to_account(child)

    def start(self, clock_offset=None, tz=None):
        assert AGGREGATOR.exists(), f"{AGGREGATOR} not built; run make"
        env = dict(os.environ)
        env.pop("TLSRPTD_CLOCK_OFFSET", None)
        if clock_offset is not None:
            env["TLSRPTD_CLOCK_OFFSET"] = str(int(clock_offset))
        if tz is not None:
            env["TZ"] = tz
        self.log_file = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [str(AGGREGATOR), "-c", str(self.etc), "-S"],
            stdout=self.log_file, stderr=subprocess.STDOUT, env=env)
        wait_until(lambda: "started" in self.log()
                   or self.process.poll() is not None, what="the start")
        assert self.process.poll() is None, "aggregator exited:\n" + self.log()
        return self

    def stop(self):
        """Stop with SIGTERM and check the clean exit."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(timeout=WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError("aggregator ignored SIGTERM:\n" + self.log())
        finally:
            self.process = None
            self.log_file.close()
        assert status == 0, f"exit status {status}:\n" + self.log()
        assert "stopped" in self.log()

    def log(self):
        return self.log_path.read_text(errors="replace") \
            if self.log_path.exists() else ""

    def names(self, subdir):
        return sorted(path.name for path in (self.queue / subdir).iterdir())

    def trigger(self, code=b"W"):
        fd = os.open(self.queue / "private" / "aggregator",
                     os.O_WRONLY | os.O_NONBLOCK)
        try:
            os.write(fd, code)
        finally:
            os.close(fd)

    def _commit(self, subdir, name, text):
        tmp = self.queue / "tmp" / f"test.{name}"
        tmp.write_text(text)
        self._give_to_account(tmp)
        os.rename(tmp, self.queue / subdir / name)

    def write_batch(self, lines, batch_id=None, torn=False):
        """Commit a batch of (receive time, raw datagram) into incoming/."""
        batch_id = batch_id or queue_id()
        body = "".join(f"{utc_stamp(when)} {raw.decode()}\n"
                       for when, raw in lines)
        text = (f"tlsrptd-batch 1\ncreated: {utc_stamp(time.time())}\n"
                f"host: aggregator-test.example.net\n\n{body}")
        if not torn:
            text += f"end {len(lines)}\n"
        self._commit("incoming", batch_id, text)
        return batch_id

    def wait_drained(self):
        wait_until(lambda: not self.names("incoming"), what="incoming/ to drain")

    def request(self, day, target="export"):
        """Ask for a day's summary the way "tlsrptd report" does."""
        request_id = queue_id()
        self._commit("requests", request_id,
                     f"tlsrptd-request 1\naction: export\nday: {day}\n"
                     f"target: {target}\ncreated: {utc_stamp(time.time())}"
                     f"\n\nend 0\n")
        self.trigger(b"R")
        answer = self.queue / target / request_id
        wait_until(lambda: answer.exists()
                   and request_id not in self.names("requests"),
                   what=f"the answer to request {request_id}")
        return read_summary(answer)

    def days_summaries(self):
        return [read_summary(self.queue / "days" / name)
                for name in self.names("days")]


@pytest.fixture
def queue():
    base = Path(tempfile.mkdtemp(prefix="tlsrptd-aggregator-"))
    base.chmod(0o755)
    made = []

    def make(**parameters):
        item = Queue(base / f"q{len(made)}", **parameters)
        made.append(item)
        return item

    make.base = base
    yield make
    for item in made:
        if item.process is not None:
            item.process.kill()
            item.process.wait()
    shutil.rmtree(base, ignore_errors=True)


def test_export_matches_datagrams(queue):
    q = queue()
    now = time.time()
    samples = sample_datagrams()
    q.write_batch([(now, raw) for raw in samples])
    q.start()
    q.wait_drained()

    summary = q.request(utc_day(now))
    assert summary["header"]["kind"] == "preview"
    assert summary["header"]["day"] == utc_day(now)
    assert summary_counts(summary) == expected_counts(samples)
    assert f"counted {len(samples)} datagrams (1 day)" in q.log()
    q.stop()


def test_replayed_batch_counts_once(queue):
    q = queue()
    now = time.time()
    samples = sample_datagrams()
    lines = [(now, raw) for raw in samples]
    batch_id = q.write_batch(lines)
    q.start()
    q.wait_drained()

    # The same file again, as after a crash between commit and unlink.
    q.write_batch(lines, batch_id=batch_id)
    q.trigger()
    q.wait_drained()
    assert f"{batch_id}: batch was counted before a restart" in q.log()

    summary = q.request(utc_day(now))
    assert summary_counts(summary) == expected_counts(samples)
    q.stop()


def test_torn_batch_goes_to_corrupt(queue):
    q = queue()
    now = time.time()
    samples = sample_datagrams()
    torn_id = q.write_batch([(now, raw) for raw in samples], torn=True)
    bad_line = (now, b'{"dpv":"1","d":"bad..example","pr":"x","policies":[]}')
    good_id = q.write_batch([(now, samples[0]), bad_line, (now, samples[1])])
    q.start()
    q.wait_drained()

    assert q.names("corrupt") == [torn_id]
    log = q.log()
    assert f"warning: {torn_id}: invalid batch file" in log
    assert f"warning: {good_id}: body line 2: invalid datagram" in log
    assert f"{good_id}: counted 2 datagrams (1 day), skipped 1 invalid lines" in log

    summary = q.request(utc_day(now))
    assert summary_counts(summary) == expected_counts(samples[:2])
    q.stop()


def test_day_closes_after_delay(queue):
    q = queue(keep_days="1")
    now = time.time()
    day = utc_day(now)
    samples = sample_datagrams()
    q.write_batch([(at(day, "12:00:00"), raw) for raw in samples])

    # Run the clock to just past the day's end plus day_close_delay.
    end = day_start(now) + DAY
    q.start(clock_offset=end + DAY_CLOSE_DELAY + 60 - now)
    closed = wait_until(lambda: q.names("days"), what="a summary in days/")
    assert len(closed) == 1
    final = q.days_summaries()[0]
    assert final["header"]["kind"] == "final"
    assert final["header"]["day"] == day
    assert summary_counts(final) == expected_counts(samples)
    # The aggregator marks the day closed and logs it after the summary
    # is in days/.
    wait_until(lambda: f"day {day} closed: final summary days/{closed[0]}"
               in q.log(), what="the log line of the closed day")

    # A late batch for the closed day is counted and exported alone.
    late = samples[:3]
    late_id = q.write_batch([(at(day, "23:59:59"), raw) for raw in late])
    q.trigger()
    wait_until(lambda: len(q.names("days")) == 2, what="a supplement")
    supplement_name = (set(q.names("days")) - set(closed)).pop()
    supplement = read_summary(q.queue / "days" / supplement_name)
    assert supplement["header"]["kind"] == "supplement"
    assert supplement["header"]["day"] == day
    assert summary_counts(supplement) == expected_counts(late)
    # The aggregator logs the supplement after it is in days/.
    wait_until(lambda: f"{late_id}: 3 datagrams for closed day {day}"
               in q.log(), what="the log line of the supplement")

    # The day's summary now contains both batches and is final.
    answer = q.request(day)
    assert answer["header"]["kind"] == "final"
    assert summary_counts(answer) == expected_counts(samples + late)
    q.stop()

    # Two days later the closed day is past keep_days and expires.
    q.start(clock_offset=end + 2 * DAY + 60 - now)
    wait_until(lambda: f"day {day} expired" in q.log(), what="the expiry")
    expired = q.request(day)
    assert expired["header"]["kind"] == "final"
    assert expired["lines"] == []
    assert len(q.names("days")) == 2, "expiry must not close the day again"
    q.stop()


def counts_in_zone(queue, tz):
    """Count datagrams at 23:30 and 00:30 UTC with TZ set; return both days."""
    q = queue(day_close_delay="1d")
    today = utc_day(time.time())
    yesterday = utc_day(time.time() - DAY)
    samples = sample_datagrams()
    q.write_batch([(at(yesterday, "23:30:00"), samples[1]),
                   (at(today, "00:30:00"), samples[4]),
                   (at(yesterday, "23:59:59"), samples[13]),
                   (at(today, "00:00:00"), samples[14])])
    q.start(tz=tz)
    q.wait_drained()
    days = {day: summary_counts(q.request(day)) for day in (yesterday, today)}
    q.stop()
    assert days[yesterday] == expected_counts([samples[1], samples[13]])
    assert days[today] == expected_counts([samples[4], samples[14]])
    return days


@pytest.mark.parametrize("tz", ["Europe/Berlin", "America/New_York"])
def test_time_zone_does_not_matter(queue, tz):
    assert counts_in_zone(queue, tz) == counts_in_zone(queue, "UTC")
