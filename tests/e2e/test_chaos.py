"""Chaos: kill -9 every worker at random moments and lose nothing.

The real suite runs with a short restart delay. tlsrpt-send feeds it
datagrams at a steady rate without blocking (-n, as an MTA sends).
Meanwhile a chaos thread kills the receiver, aggregator, reporter and
mailer with SIGKILL, each several times. Report builds are requested
every few seconds, so the reporter and mailer also die while they work.
Then:

1. The sessions counted for the day equal the datagrams that the kernel
   accepted (tlsrpt-send's "sent"; its "dropped" are the sends that
   found the socket queue full while no receiver ran). The receiver's
   open batch survives its death, and so do the datagrams waiting in
   the socket, which the master keeps open.
2. Once the counters no longer change, every build of a report gives
   the same bytes. The day's reports are built FINAL_BUILDS times and
   the reporter and mailer are killed in the middle of each build.
   Every message that arrives from then on carries exactly the
   attachment of a dry-run of the day, so a report delivered twice is
   the same report; every report arrives at least once per build; and
   nothing is left queued, failed or corrupt.
3. Reports built during the flow legitimately differ from the final
   ones, because the day was still running, but none counts more
   sessions for a policy than the final report does.

The receiver is killed only while its receive thread waits in poll():
the test stops it with SIGSTOP, reads the thread's system call from
/proc and kills it there, or lets it go on and tries again. A SIGKILL
between recvmmsg() and the write of the datagrams it returned loses that
group (at most 64 datagrams), because only the receiver's memory holds
them then. No receiver can avoid that, so the test does not aim there.

TLSRPTD_CHAOS_SECONDS sets the length of the flow (default 15),
TLSRPTD_CHAOS_RATE the datagrams per second (default 1000) and
TLSRPTD_CHAOS_SEED the random seed, which the test prints.
"""

import asyncio
import collections
import email
import email.policy
import gzip
import json
import os
import random
import signal
import subprocess
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from smtp_sink import RecordingHandler, SmtpSink
from suite import BIN, Suite, make_base_dir, wait_until
from test_pipeline import counted_sessions
from test_reporter_schema import check_report

CHAOS_SECONDS = float(os.environ.get("TLSRPTD_CHAOS_SECONDS", "15"))
RATE = int(os.environ.get("TLSRPTD_CHAOS_RATE", "1000"))
WORKERS = ("receiver", "aggregator", "reporter", "mailer")
DOMAIN_COUNT = 150
FINAL_BUILDS = 3
BUILD_INTERVAL = 3.0          # seconds between report builds in the flow
SMTP_DELAY = 0.01             # seconds the sink takes per message
RECEIVER_TRIES = 50           # SIGSTOP probes before giving up on a kill
# poll and ppoll on x86_64, ppoll on aarch64 (the only poll there)
POLL_SYSCALLS = {"x86_64": {7, 271}, "aarch64": {73}}


class SlowHandler(RecordingHandler):
    """Keep every message after SMTP_DELAY, so that the mailer still has
    deliveries under way when it is killed."""

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(SMTP_DELAY)
        return await super().handle_DATA(server, session, envelope)


class SlowSink(SmtpSink):
    def __init__(self):
        super().__init__()
        self.handler = SlowHandler()
        self.controller.handler = self.handler


def domain_name(number):
    return f"chaos{number:03d}.example"


def datagram(number, rng):
    """One datagram with one policy, so that it counts one session."""
    domain = domain_name(number % DOMAIN_COUNT)
    policy = {"policy-type": 9, "policy-domain": domain, "t": 0, "f": 0}
    if rng.random() < 0.3:
        policy = {"policy-type": 2, "policy-domain": domain,
                  "policy-string": ["version: STSv1", "mode: enforce",
                                    f"mx: mx.{domain}", "max_age: 86400"],
                  "mx-host": [f"mx.{domain}"], "t": 1, "f": 1,
                  "failure-details": [{"c": 203, "s": "192.0.2.1",
                                       "n": f"mx.{domain}",
                                       "r": "198.51.100.7"}]}
    return {"dpv": "1", "d": domain,
            "pr": f"v=TLSRPTv1; rua=mailto:tlsrpt@{domain}",
            "policies": [policy]}


def write_datagrams(path, count, seed):
    rng = random.Random(seed)
    with open(path, "w") as out:
        for number in range(count):
            out.write(json.dumps(datagram(number, rng),
                                 separators=(",", ":")) + "\n")


def service_table(suite):
    """pid/status as {service: (pid or None, state)}."""
    try:
        lines = (suite.queue / "pid" / "status").read_text().splitlines()
    except FileNotFoundError:
        return {}
    table = {}
    for line in lines[1:]:
        fields = line.split()
        if len(fields) >= 3:
            pid = int(fields[1]) if fields[1].isdigit() else None
            table[fields[0]] = (pid, fields[2])
    return table


def proc_stat(pid):
    """(state letter, parent pid) of a process, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])


def waits_in_poll(pid):
    """Tell whether the main thread of a stopped process is in poll()."""
    try:
        fields = Path(f"/proc/{pid}/task/{pid}/syscall").read_text().split()
    except (FileNotFoundError, ProcessLookupError):
        return False
    if not fields or not fields[0].isdigit():
        return False
    return int(fields[0]) in POLL_SYSCALLS.get(os.uname().machine, set())


class Chaos:
    """Kill the suite's workers with SIGKILL. Only a live child of the
    master that this test started is ever signalled."""

    def __init__(self, suite, seed):
        self.suite = suite
        self.rng = random.Random(seed)
        self.kills = collections.Counter()
        self.lock = threading.Lock()

    def worker_pid(self, service):
        """The pid of the service's process when it is ready, else None."""
        pid, state = service_table(self.suite).get(service, (None, None))
        if pid is None or state != "ready":
            return None
        status = proc_stat(pid)
        if status is None or status[0] == "Z" or \
                status[1] != self.suite.process.pid:
            return None
        return pid

    def kill(self, service):
        """Kill the service's process; return True when it was killed."""
        pid = self.worker_pid(service)
        if pid is None:
            return False
        if service == "receiver":
            killed = self.kill_receiver(pid)
        else:
            os.kill(pid, signal.SIGKILL)
            killed = True
        if killed:
            with self.lock:
                self.kills[service] += 1
        return killed

    def kill_receiver(self, pid):
        """Kill the receiver while its receive thread waits in poll()."""
        for _ in range(RECEIVER_TRIES):
            os.kill(pid, signal.SIGSTOP)
            try:
                wait_until(lambda: (proc_stat(pid) or ("T",))[0] in "Tt",
                           timeout=10, interval=0.001,
                           what="the receiver to stop")
                if waits_in_poll(pid):
                    os.kill(pid, signal.SIGKILL)
                    return True
            finally:
                if proc_stat(pid) is not None:
                    os.kill(pid, signal.SIGCONT)
            time.sleep(self.rng.uniform(0.001, 0.01))
        return False

    def run_until(self, stop, low=0.2, high=0.8):
        """Kill a random worker every low..high seconds until stop is set."""
        while not stop.wait(self.rng.uniform(low, high)):
            order = list(WORKERS)
            self.rng.shuffle(order)
            for service in order:
                if self.kill(service):
                    break


def sender_counts(stderr):
    """(sent, dropped) from tlsrpt-send's "sent N datagrams, M dropped"."""
    line = [text for text in stderr.splitlines() if "sent " in text][-1]
    words = line.split()
    return (int(words[words.index("sent") + 1]),
            int(words[words.index("datagrams,") + 1]))


def attachment(envelope):
    """(file name, gzip payload) of a report message."""
    message = email.message_from_bytes(envelope.content,
                                       policy=email.policy.default)
    parts = [part for part in message.walk()
             if part.get_content_type() == "application/tlsrpt+gzip"]
    assert len(parts) == 1, envelope.content[:500]
    return parts[0].get_filename(), parts[0].get_payload(decode=True)


def policy_counts(payload):
    """(report-id, {policy JSON: (successful, failed sessions)})."""
    report = json.loads(gzip.decompress(payload))
    counts = {}
    for entry in report["policies"]:
        key = json.dumps(entry["policy"], sort_keys=True)
        summary = entry["summary"]
        counts[key] = (summary["total-successful-session-count"],
                       summary["total-failure-session-count"])
    return report["report-id"], counts


def days_between(start, end):
    """The UTC days from start to end, as YYYY-MM-DD."""
    day = start.date()
    days = []
    while day <= end.date():
        days.append(day.strftime("%Y-%m-%d"))
        day += timedelta(days=1)
    return days


def dry_run_reports(suite, day, directory):
    """{attachment file name: gzip payload} of a dry-run of the day."""
    directory.mkdir()
    result = suite.command("report", "--day", day, "--dry-run",
                           str(directory), check=False)
    assert result.returncode == 0, result.stderr
    return {path.name: path.read_bytes()
            for path in directory.glob("*.json.gz")}


def queue_idle(suite):
    """Tell whether nothing waits for the aggregator, reporter or mailer."""
    return not any(suite.files(name) for name in
                   ("days", "requests", "outgoing", "deferred"))


def request_report(suite, day, results):
    results.append(suite.command("report", "--day", day, check=False,
                                 timeout=240))


def start_builders(suite, days, results):
    builders = [threading.Thread(target=request_report,
                                 args=(suite, day, results))
                for day in days]
    for builder in builders:
        builder.start()
    return builders


@pytest.fixture
def sink():
    with SlowSink() as running:
        yield running


@pytest.fixture
def suite(sink):
    # A throttle time of 1 s caps the master's restart backoff at 1 s.
    running = Suite(make_base_dir(), relayhost=sink.relayhost,
                    service_restart_delay="0", service_throttle_time="1s",
                    day_close_delay="6h", minimal_backoff_time="1s",
                    maximal_backoff_time="2s", delivery_spread="0")
    running.start()
    yield running
    running.cleanup()


def run_flow(suite, chaos, datagrams):
    """Send the datagrams under chaos, with a report build every
    BUILD_INTERVAL seconds. Returns (sent, dropped, builders)."""
    sender = subprocess.Popen([str(BIN / "tlsrpt-send"), "-s",
                               str(suite.socket), "-n", "-r", str(RATE),
                               str(datagrams)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    stop = threading.Event()
    killer = threading.Thread(target=chaos.run_until, args=(stop,))
    killer.start()
    builders = []
    try:
        while sender.poll() is None:
            time.sleep(min(BUILD_INTERVAL, CHAOS_SECONDS / 4))
            today = datetime.now(timezone.utc).strftime("%Y-%m-%d")
            builders += start_builders(suite, [today], [])
        _, stderr = sender.communicate(timeout=60)
    finally:
        stop.set()
        killer.join()
    sent, dropped = sender_counts(stderr)
    return sent, dropped, builders


def kill_during_work(suite, chaos, builders):
    """Kill the reporter while it has queued part of a summary that is
    still in days/, and the mailer while outgoing/ contains deliveries,
    until the build is queued and delivered. Returns the kills."""
    kills = collections.Counter()
    rng = chaos.rng
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        busy = any(builder.is_alive() for builder in builders)
        if not busy and queue_idle(suite):
            break
        outgoing = suite.files("outgoing")
        summaries = suite.files("days")
        if outgoing and summaries and rng.random() < 0.5:
            if chaos.kill("reporter"):
                kills["reporter"] += 1
        elif outgoing and rng.random() < 0.3:
            if chaos.kill("mailer"):
                kills["mailer"] += 1
                time.sleep(rng.uniform(0.2, 1.0))

        # The reporter queues a build within a fraction of a second.
        time.sleep(rng.uniform(0.001, 0.005 if summaries else 0.05))
    return kills


def test_chaos_loses_nothing(suite, sink, tmp_path):
    seed = int(os.environ.get("TLSRPTD_CHAOS_SEED",
                              random.randrange(1 << 30)))
    print(f"chaos seed {seed} (TLSRPTD_CHAOS_SEED repeats it)")
    chaos = Chaos(suite, seed)
    count = int(CHAOS_SECONDS * RATE)
    datagrams = tmp_path / "datagrams.jsonl"
    write_datagrams(datagrams, count, seed)

    started = datetime.now(timezone.utc)
    sent, dropped, builders = run_flow(suite, chaos, datagrams)
    days = days_between(started, datetime.now(timezone.utc))
    print(f"sent {sent}, dropped {dropped}, kills {dict(chaos.kills)}")
    assert sent + dropped == count
    for service in WORKERS:
        assert chaos.kills[service] >= 2, dict(chaos.kills)

    # 1. Every datagram that the kernel accepted is counted once.
    preview = tmp_path / "preview"
    preview.mkdir()
    counts = []

    def counted():
        counts.append(sum(counted_sessions(suite, day, preview)
                          for day in days))
        return counts[-1] == sent

    try:
        wait_until(counted, timeout=120, interval=0.5,
                   what=f"{sent} counted sessions")
    except AssertionError:
        raise AssertionError(
            f"counted {counts[-1]} sessions, but the kernel accepted {sent} "
            f"datagrams ({dropped} dropped)\n" + suite.log()[-6000:]) from None

    for builder in builders:
        builder.join(timeout=300)
    wait_until(lambda: queue_idle(suite), timeout=120, interval=0.2,
               what="the reports built during the flow to be delivered")
    during_flow = sink.handler.received()
    assert during_flow, "no report was delivered during the flow"

    # 2. Final builds, with the reporter and mailer killed at work.
    expected = {}
    for day in days:
        expected.update(dry_run_reports(suite, day,
                                        tmp_path / f"final-{day}"))
    assert len(expected) >= DOMAIN_COUNT
    work_kills = collections.Counter()
    for _ in range(FINAL_BUILDS):
        results = []
        builders = start_builders(suite, days, results)
        work_kills += kill_during_work(suite, chaos, builders)
        for builder in builders:
            builder.join(timeout=300)
        for result in results:
            assert result.returncode == 0, result.stderr
    print(f"kills during the final builds: {dict(work_kills)}")
    assert work_kills["mailer"] >= 1, dict(work_kills)

    arrived = []

    def arrivals():
        envelopes = sink.handler.received()[len(during_flow):]
        for envelope in envelopes[len(arrived):]:
            arrived.append((envelope, *attachment(envelope)))
        return collections.Counter(name for _, name, _ in arrived)

    wait_until(lambda: queue_idle(suite) and all(
        arrivals()[name] >= FINAL_BUILDS for name in expected),
        timeout=180, interval=0.2,
        what=f"every report at least {FINAL_BUILDS} times")
    assert suite.files("failed") == []
    assert suite.files("corrupt") == []
    arrivals()
    for envelope, name, payload in arrived:
        assert name in expected, name
        assert payload == expected[name], f"{name}: different content"
        assert envelope.rcpt_tos == [f"tlsrpt@{name.split('!')[1]}"]
    print(f"{len(arrived)} messages for {len(expected)} reports and "
          f"{FINAL_BUILDS} builds")

    # 3. No report of the running day counts more than the final one.
    final_counts = dict(policy_counts(payload)
                        for payload in expected.values())
    for envelope in during_flow:
        _, payload = attachment(envelope)
        check_report(payload)
        report_id, counts = policy_counts(payload)
        assert report_id in final_counts, report_id
        for key, (successes, failures) in counts.items():
            final_successes, final_failures = final_counts[report_id][key]
            assert successes <= final_successes, (report_id, key)
            assert failures <= final_failures, (report_id, key)
    assert suite.process.poll() is None
