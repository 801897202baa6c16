#!/usr/bin/python3
"""Benchmark the aggregator on a backlog of batches against the socket
baseline of the receiver benchmark.

Usage: bench/aggregator.py [--quick] [--datagrams N] [--domains N]
                           [--wide-domains N] [--root DIR] [--tools DIR]

Build first with "make" (the aggregator). --root is the tree that contains
libexec/tlsrptd/ (default $TLSRPTD_ROOT, else the checkout). --tools is
the directory of the receiver benchmark's sender and sink (bench/sender.c,
bench/sink.c); when it has no built copies, they are compiled with cc
into a scratch directory.

1. Socket baseline: bench/sender sends 200,000 datagrams with blocking
   sends, from 1 and from 4 processes, to bench/sink, which reads and
   discards them: the most datagrams per second that the socket passes
   on this machine, as in the receiver benchmark.
2. Aggregation runs: bench/aggregator_batches.py writes --datagrams
   datagrams (default 1,000,000; 200,000 with --quick) as batches of
   10,000 into incoming/ of a scratch queue directory, for --domains
   recipient domains (default 10,000), and then for --wide-domains
   (default 100,000). The aggregator starts on that backlog, in the
   foreground, as the master starts it. The rate is the datagrams
   counted divided by the time from its "started" log line until
   incoming/ is empty; the database's first start (creating the
   environment) is before that line and not included.
3. While it runs, db/ is sampled every 50 ms for the most log files and
   bytes seen. At the end, the sizes on disk (allocated blocks) of the
   tables, the log files and the environment's region files are taken,
   and the aggregator's peak RSS (VmHWM), CPU time and the time it waited
   for a CPU (/proc/PID/schedstat) are read from /proc before it is
   stopped with SIGTERM. On a busy machine that wait explains a rate far
   below the datagrams per CPU second.

The receive day is today (UTC), so no day closes during a run. Nothing
is sent anywhere: the aggregator writes only its database.
"""
import argparse
import datetime
import os
import pathlib
import platform
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
import aggregator_batches  # noqa: E402

BASELINE_COUNT = 200_000
QUEUE_DIRS = ("tmp", "incoming", "corrupt", "days", "requests", "export",
              "private", "db")
SAMPLE_INTERVAL = 0.05
READY_TIMEOUT = 60.0
DRAIN_TIMEOUT = 3600.0


def machine():
    model = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    now = datetime.datetime.now(datetime.timezone.utc)
    return (f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}, "
            f"{now:%Y-%m-%d %H:%M} UTC")


def parse_key_values(line):
    return dict(word.split("=", 1) for word in line.split() if "=" in word)


def find_tools(tools, scratch):
    """Return a directory with sender and sink, compiling them if needed."""
    if tools and (tools / "sender").exists() and (tools / "sink").exists():
        return tools
    out = scratch / "tools"
    out.mkdir()
    for name in ("sender", "sink"):
        subprocess.run(["cc", "-O2", "-o", str(out / name),
                        str(REPO / "bench" / f"{name}.c")], check=True)
    return out


def baseline(tools, processes):
    """Send BASELINE_COUNT blocking datagrams to the sink; return rate."""
    base = pathlib.Path(tempfile.mkdtemp(prefix="tlsrptd-bench-"))
    path = base / "sink.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.bind(str(path))
        sink = subprocess.Popen([str(tools / "sink"), "-l",
                                 str(sock.fileno())],
                                pass_fds=(sock.fileno(),),
                                stdout=subprocess.PIPE, text=True)
        if sink.stdout.readline().strip() != "ready":
            sys.exit("sink did not start")
        result = subprocess.run(
            [str(tools / "sender"), "-s", str(path), "-n",
             str(BASELINE_COUNT), "-p", str(processes)],
            capture_output=True, text=True, timeout=600, check=True)
        sent = parse_key_values(result.stdout)
        sink.send_signal(signal.SIGTERM)
        out, _ = sink.communicate(timeout=30)
        received = int(parse_key_values(out)["received"])
        if received != int(sent["sent"]):
            sys.exit(f"baseline: sent {sent['sent']}, sink read {received}")
        return float(sent["rate"])
    finally:
        sock.close()
        shutil.rmtree(base)


def disk_bytes(paths):
    return sum(path.stat().st_blocks * 512 for path in paths)


class Run:
    """One aggregator on a scratch queue with a backlog of batches."""

    def __init__(self, root, datagrams, domains):
        self.root = root
        self.datagrams = datagrams
        self.domains = domains
        self.base = pathlib.Path(tempfile.mkdtemp(prefix="tlsrptd-bench-"))
        self.base.chmod(0o755)
        self.queue = self.base / "queue"
        self.db = self.queue / "db"
        self.log_path = self.base / "aggregator.log"
        self.owner = pwd.getpwuid(os.geteuid()).pw_name
        if os.geteuid() == 0:
            self.owner = "tlsrptd"
        for name in QUEUE_DIRS:
            (self.queue / name).mkdir(parents=True)
        os.mkfifo(self.queue / "private" / "aggregator", 0o600)
        config = self.base / "etc"
        config.mkdir()
        (config / "main.cf").write_text(
            f"queue_directory = {self.queue}\n"
            f"mail_owner = {self.owner}\n"
            "organization_name = Benchmark\n"
            "contact_info = tlsrpt@example.org\n"
            "myhostname = bench.example\n")
        self.config = config
        self.max_logs = 0
        self.max_log_bytes = 0

    def chown_queue(self):
        account = pwd.getpwnam(self.owner)
        for path in [self.queue, *self.queue.rglob("*")]:
            os.chown(path, account.pw_uid, account.pw_gid)

    def generate(self):
        day = time.strftime("%Y-%m-%d", time.gmtime())
        batches, size, seen = aggregator_batches.generate(
            self.queue, self.datagrams, self.domains, 10_000, day, seed=1)
        self.batch_bytes = size
        self.domains_seen = seen
        self.chown_queue()
        return batches

    def log(self):
        return self.log_path.read_text(errors="replace")

    def sample_db(self):
        logs = list(self.db.glob("log.*"))
        self.max_logs = max(self.max_logs, len(logs))
        try:
            self.max_log_bytes = max(self.max_log_bytes, disk_bytes(logs))
        except FileNotFoundError:
            pass  # a log file was removed between glob() and stat()

    def run(self):
        """Start, wait for the drain, measure and stop; return results."""
        log = open(self.log_path, "wb")
        process = subprocess.Popen(
            [str(self.root / "libexec" / "tlsrptd" / "aggregator"), "-c",
             str(self.config), "-S"], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + READY_TIMEOUT
        while "started" not in self.log():
            if process.poll() is not None or time.monotonic() > deadline:
                sys.exit("aggregator did not start:\n" + self.log())
            time.sleep(0.005)
        started = time.monotonic()
        incoming = self.queue / "incoming"
        while any(incoming.iterdir()):
            self.sample_db()
            if process.poll() is not None or \
                    time.monotonic() - started > DRAIN_TIMEOUT:
                sys.exit("aggregator stopped draining:\n" + self.log()[-3000:])
            time.sleep(SAMPLE_INTERVAL)
        seconds = time.monotonic() - started
        self.sample_db()

        # Let the round finish (its checkpoint) before the last sizes.
        time.sleep(1.0)
        status = pathlib.Path(f"/proc/{process.pid}/status").read_text()
        hwm = next(int(line.split()[1]) for line in status.splitlines()
                   if line.startswith("VmHWM:"))
        fields = pathlib.Path(f"/proc/{process.pid}/stat").read_text() \
            .rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        waited = int(pathlib.Path(f"/proc/{process.pid}/schedstat")
                     .read_text().split()[1]) / 1e9
        tables_before_stop = disk_bytes(self.db.glob("*.db"))
        logs_before_stop = disk_bytes(self.db.glob("log.*"))
        process.send_signal(signal.SIGTERM)
        if process.wait(timeout=120) != 0:
            sys.exit("aggregator failed to stop:\n" + self.log()[-3000:])
        log.close()
        text = self.log()
        counted = sum(int(line.split(": counted ")[1].split()[0])
                      for line in text.splitlines() if ": counted " in line)
        if counted != self.datagrams:
            sys.exit(f"counted {counted} of {self.datagrams} datagrams:\n"
                     + text[-3000:])
        return {
            "datagrams": self.datagrams, "domains": self.domains,
            "seconds": seconds, "rate": self.datagrams / seconds,
            "cpu": cpu, "waited": waited, "hwm_kib": hwm,
            "batch_bytes": self.batch_bytes,
            "tables": tables_before_stop, "logs": logs_before_stop,
            "regions": disk_bytes(self.db.glob("__db.*")),
            "tables_after_stop": disk_bytes(self.db.glob("*.db")),
            "max_logs": self.max_logs, "max_log_bytes": self.max_log_bytes,
        }

    def cleanup(self):
        shutil.rmtree(self.base, ignore_errors=True)


def mib(value):
    return f"{value / 2**20:.1f} MiB"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="200,000 datagrams per run instead of 1,000,000")
    parser.add_argument("--datagrams", type=int)
    parser.add_argument("--domains", type=int, default=10_000)
    parser.add_argument("--wide-domains", type=int, default=100_000)
    parser.add_argument("--root", type=pathlib.Path,
                        default=pathlib.Path(os.environ.get("TLSRPTD_ROOT",
                                                            REPO)))
    parser.add_argument("--tools", type=pathlib.Path,
                        default=REPO / "build" / "obj" / "bench")
    args = parser.parse_args()
    datagrams = args.datagrams or (200_000 if args.quick else 1_000_000)

    scratch = pathlib.Path(tempfile.mkdtemp(prefix="tlsrptd-bench-tools-"))
    try:
        tools = find_tools(args.tools, scratch)
        print(f"machine: {machine()}")
        print(f"tools: {tools}")
        rates = {processes: baseline(tools, processes)
                 for processes in (1, 4)}
        for processes, rate in rates.items():
            print(f"socket baseline, blocking, {processes} sender "
                  f"process(es): {rate:,.0f} datagrams/s")
    finally:
        shutil.rmtree(scratch)

    for domains in (args.domains, args.wide_domains):
        run = Run(args.root, datagrams, domains)
        try:
            batches = run.generate()
            print(f"\n{datagrams:,} datagrams for {domains:,} domains "
                  f"({run.domains_seen:,} of them in the batches) in "
                  f"{batches} batches ({mib(run.batch_bytes)})")
            result = run.run()
        finally:
            run.cleanup()
        best = max(rates.values())
        print(f"  rate: {result['rate']:,.0f} datagrams/s "
              f"({result['seconds']:.2f} s), "
              f"{result['rate'] / best:.2f} x the best socket baseline")
        print(f"  CPU: {result['cpu']:.2f} s, or "
              f"{datagrams / result['cpu']:,.0f} datagrams per CPU second; "
              f"waited {result['waited']:.2f} s for a CPU")
        print(f"  peak RSS (VmHWM): {result['hwm_kib'] / 1024:.1f} MiB")
        print(f"  db/ at the end: tables {mib(result['tables'])}, log files "
              f"{mib(result['logs'])}, region files {mib(result['regions'])}"
              f"; tables after the stop {mib(result['tables_after_stop'])}")
        print(f"  db/ log files during the run: at most "
              f"{result['max_logs']} files, {mib(result['max_log_bytes'])}")
        tables = result["tables_after_stop"]
        print(f"  tables after the stop per 1,000,000 datagrams: "
              f"{mib(tables * 1e6 / datagrams)}; per 100,000 domains in "
              f"the batches: {mib(tables * 1e5 / run.domains_seen)}")


if __name__ == "__main__":
    main()
