#!/usr/bin/python3
"""Benchmark the receiver against a baseline that only reads and discards.

Usage: bench/receiver.py [--quick] [--count N] [--paced-count N]
                         [--root DIR] [--tools DIR]

Build first with "make bench" (the sender and the baseline sink) and
"make" (the receiver). --root is the build tree with libexec/tlsrptd/
(default $TLSRPTD_ROOT, else the checkout), --tools the directory of the
sender and sink (default build/obj/bench under the checkout).

Every run creates a fresh socket, so that it gets the net.unix.
max_dgram_qlen in force at that moment, and hands it to one receiver:
either the baseline sink (bench/sink.c) or the real receiver, started as
the master starts it (-l FD -s STATUS_FD) in a scratch queue directory
with default batch settings. The sender (bench/sender.c) links nothing
of tlsrptd.

1. Rate runs: blocking and non-blocking senders from 1 and 4 processes
   send --count datagrams (default 200,000) as fast as they can.
2. Paced runs: one non-blocking sender sends --paced-count datagrams
   (default 100,000) at 2,000 to 50,000 datagrams per second.

Both run at max_dgram_qlen 10 and 1024 when started as root; the old
value is restored at the end. As another user, the runs use the current
value only.

Counted datagrams are the baseline's reads, or for the receiver the
lines of the batch files in incoming/ (checked against its "accepted"
counter). "dropped" is attempted minus counted: datagrams the kernel
refused (EAGAIN) plus any the receiver lost. "rate" is counted datagrams
per second of sender run time; "ratio" compares the receiver with the
baseline run of the same shape. Peak RSS is the receiver's VmHWM.
"""
import argparse
import datetime
import os
import pathlib
import platform
import pwd
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
QLEN_PATH = pathlib.Path("/proc/sys/net/unix/max_dgram_qlen")
QUEUE_DIRS = ("tmp", "incoming", "corrupt", "private")
PACED_RATES = (2000, 5000, 10000, 20000, 50000)
SOCKET_BUFFER = 8 * 1024 * 1024
READY_TIMEOUT = 10.0


def parse_key_values(line):
    """Return the key=value words of a line as a dict of strings."""
    return dict(word.split("=", 1) for word in line.split() if "=" in word)


def read_qlen():
    return int(QLEN_PATH.read_text())


def write_qlen(value):
    subprocess.run(["sysctl", "-q", "-w", f"net.unix.max_dgram_qlen={value}"],
                   check=True)


def load_average():
    """Return the 1, 5 and 15 minute load averages as text."""
    return " ".join(pathlib.Path("/proc/loadavg").read_text().split()[:3])


def machine_description():
    """Return nproc, the CPU model, the kernel and the date."""
    model = "unknown CPU"
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    now = datetime.datetime.now(datetime.timezone.utc)
    return (f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}, "
            f"{now:%Y-%m-%d %H:%M} UTC")


class Scratch:
    """A scratch directory with a bound socket path."""

    def __init__(self):
        self.base = pathlib.Path(tempfile.mkdtemp(prefix="tlsrptd-bench-"))
        self.base.chmod(0o755)
        self.socket_path = self.base / "tlsrpt.sock"
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(str(self.socket_path))
        os.chmod(self.socket_path, 0o666)

    def close(self):
        self.socket.close()
        shutil.rmtree(self.base)


class Sink:
    """The baseline: bench/sink reads and discards."""

    name = "baseline"

    def __init__(self, tools, scratch):
        fd = scratch.socket.fileno()
        self.process = subprocess.Popen(
            [str(tools / "sink"), "-l", str(fd), "-b", str(SOCKET_BUFFER)],
            pass_fds=(fd,), stdout=subprocess.PIPE, text=True)
        ready = self.process.stdout.readline().strip()
        if ready != "ready":
            sys.exit(f"sink did not start: {ready!r}")

    def peak_rss_kib(self):
        return None

    def stop(self):
        """Stop the sink; return (counted, check text)."""
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=30)
        return int(parse_key_values(out)["received"]), ""


class Receiver:
    """The real receiver, started the way the master starts it."""

    name = "receiver"

    def __init__(self, root, scratch):
        self.scratch = scratch
        self.queue = scratch.base / "queue"
        self.log_path = scratch.base / "receiver.log"
        config = scratch.base / "etc"
        config.mkdir()
        owner = self.prepare_queue()
        (config / "main.cf").write_text(
            f"queue_directory = {self.queue}\n"
            f"mail_owner = {owner}\n"
            "organization_name = Benchmark\n"
            "contact_info = tlsrpt@example.org\n"
            f"receiver_socket_buffer = {SOCKET_BUFFER}\n")

        fd = scratch.socket.fileno()
        status_read, status_write = os.pipe()
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [str(root / "libexec" / "tlsrptd" / "receiver"), "-l",
                 str(fd), "-s", str(status_write), "-c", str(config), "-S"],
                pass_fds=(fd, status_write), stderr=log)
        os.close(status_write)
        self.status_read = status_read
        self.wait_ready()

    def prepare_queue(self):
        """Create the queue directories; return the mail_owner name."""
        owner = pwd.getpwuid(os.geteuid()).pw_name
        if os.geteuid() == 0:
            owner = "tlsrptd"
        account = pwd.getpwnam(owner)
        for name in QUEUE_DIRS:
            (self.queue / name).mkdir(parents=True)
            os.chown(self.queue / name, account.pw_uid, account.pw_gid)
        return owner

    def wait_ready(self):
        deadline = time.monotonic() + READY_TIMEOUT
        text = ""
        while "ready\n" not in text:
            left = deadline - time.monotonic()
            if left <= 0 or self.process.poll() is not None:
                sys.exit("receiver did not start:\n"
                         + self.log_path.read_text())
            if select.select([self.status_read], [], [], left)[0]:
                text += os.read(self.status_read, 4096).decode()

    def peak_rss_kib(self):
        status = pathlib.Path(f"/proc/{self.process.pid}/status").read_text()
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return None

    def incoming_lines(self):
        """Count the datagram lines of the committed batch files."""
        total = 0
        for path in (self.queue / "incoming").iterdir():
            lines = path.read_text().split("\n")
            end = lines[-2]
            if not end.startswith("end "):
                sys.exit(f"{path}: batch without end record")
            total += int(end[4:])
        return total

    def stop(self):
        """Stop the receiver; return (counted, check text)."""
        self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(timeout=60)
        os.close(self.status_read)
        log = self.log_path.read_text()
        if status != 0:
            sys.exit(f"receiver exited with {status}:\n{log}")
        stop_lines = [line for line in log.splitlines()
                      if ": stopping: " in line]
        counters = parse_key_values(stop_lines[-1].split(": stopping: ")[1])
        counted = self.incoming_lines()
        check = ""
        if int(counters["accepted"]) != counted:
            check = (f"accepted={counters['accepted']} but "
                     f"{counted} lines in incoming/")
        if int(counters["rejected"]) != 0:
            check += f" rejected={counters['rejected']}"

        # No aggregator runs here, so its wakeup failure is expected.
        warnings = [line for line in log.splitlines()
                    if ": warning: " in line
                    and "cannot wake the aggregator" not in line]
        if warnings:
            check += f" {len(warnings)} warnings, first: " + \
                warnings[0].split(": warning: ", 1)[1][:80]
        return counted, check.strip()


def send(tools, scratch, count, processes, blocking, rate=None,
         send_buffer=None):
    command = [str(tools / "sender"), "-s", str(scratch.socket_path),
               "-n", str(count), "-p", str(processes)]
    if send_buffer:
        command += ["-w", str(send_buffer)]
    if not blocking:
        command.append("-N")
    if rate:
        command += ["-r", str(rate)]
    result = subprocess.run(command, capture_output=True, text=True,
                            timeout=600)
    if result.returncode != 0:
        sys.exit(f"sender failed: {result.stderr}")
    return parse_key_values(result.stdout)


def run_one(kind, args, count, processes, blocking, rate=None):
    """Run one sender against a fresh receiver; return a result dict."""
    scratch = Scratch()
    try:
        if kind == "baseline":
            target = Sink(args.tools, scratch)
        else:
            target = Receiver(args.root, scratch)
        sent = send(args.tools, scratch, count, processes, blocking, rate,
                    args.sender_buffer)
        time.sleep(0.2)  # the receiver reads the last queued datagrams
        rss = target.peak_rss_kib()
        counted, check = target.stop()
    finally:
        scratch.close()
    seconds = float(sent["seconds"])
    return {"kind": kind, "count": count, "counted": counted,
            "refused": int(sent["dropped"]), "sent": int(sent["sent"]),
            "seconds": seconds, "rate": counted / seconds, "rss": rss,
            "check": check}


def format_rss(kib):
    return "-" if kib is None else f"{kib / 1024:.1f} MiB"


def each_rate(results):
    return ", ".join(f"{r['rate']:.0f}" for r in results)


def shape_name(blocking, processes):
    return f"{'blocking' if blocking else 'non-blocking'} x{processes}"


def rate_runs(args, qlen):
    """Run each shape args.repeat times, baseline and receiver in turn."""
    print(f"\n### Rate runs, max_dgram_qlen {qlen}, {args.count} datagrams"
          f" per run, best of {args.repeat}\n")
    print("| sender | receiver | datagrams/s | ratio | most dropped | "
          "peak RSS | datagrams/s of each run | check |")
    print("|---|---|---|---|---|---|---|---|")
    for blocking in (True, False):
        for processes in (1, 4):
            runs = {"baseline": [], "receiver": []}
            for _ in range(args.repeat):
                for kind in runs:
                    runs[kind].append(run_one(kind, args, args.count,
                                              processes, blocking))
            best = {kind: max(results, key=lambda r: r["rate"])
                    for kind, results in runs.items()}
            for kind, results in runs.items():
                dropped = max(r["count"] - r["counted"] for r in results)
                rss = max((r["rss"] for r in results if r["rss"]),
                          default=None)
                checks = sorted({r["check"] for r in results if r["check"]})
                print(f"| {shape_name(blocking, processes)} | {kind} | "
                      f"{best[kind]['rate']:.0f} | "
                      f"{best[kind]['rate'] / best['baseline']['rate']:.2f}"
                      f" | {dropped} ({100 * dropped / args.count:.2f}%) | "
                      f"{format_rss(rss)} | "
                      f"{each_rate(results)} | "
                      f"{'; '.join(checks) or 'ok'} |", flush=True)


def paced_runs(args, qlen):
    """Run each rate args.repeat times; show the loss of every run."""
    print(f"\n### Paced non-blocking sender, max_dgram_qlen {qlen}, "
          f"{args.paced_count} datagrams per run, {args.repeat} runs\n")
    print("| rate/s | achieved/s | receiver | median loss | lost in each run "
          "| peak RSS | check |")
    print("|---|---|---|---|---|---|---|")
    kinds = ("baseline", "receiver") if args.paced_baseline else (
        "receiver",)
    for rate in args.rates:
        runs = {kind: [] for kind in kinds}
        for _ in range(args.repeat):
            for kind in kinds:
                runs[kind].append(run_one(kind, args, args.paced_count, 1,
                                          False, rate))
        for kind, results in runs.items():
            lost = sorted(r["count"] - r["counted"] for r in results)
            median = lost[len(lost) // 2]
            achieved = min(r["count"] / r["seconds"] for r in results)
            rss = max((r["rss"] for r in results if r["rss"]), default=None)
            checks = sorted({r["check"] for r in results if r["check"]})
            print(f"| {rate} | {achieved:.0f} | {kind} | "
                  f"{100 * median / args.paced_count:.3f}% | "
                  f"{', '.join(str(r['count'] - r['counted']) for r in results)}"
                  f" | {format_rss(rss)} | {'; '.join(checks) or 'ok'} |",
                  flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=pathlib.Path, default=pathlib.Path(
        os.environ.get("TLSRPTD_ROOT", REPO)))
    parser.add_argument("--tools", type=pathlib.Path,
                        default=REPO / "build" / "obj" / "bench")
    parser.add_argument("--count", type=int, default=200000)
    parser.add_argument("--paced-count", type=int, default=100000)
    parser.add_argument("--rates", type=int, nargs="+", default=PACED_RATES)
    parser.add_argument("--qlen", type=int, nargs="+", default=(10, 1024),
                        help="max_dgram_qlen values to run at (root only)")
    parser.add_argument("--no-paced-baseline", dest="paced_baseline",
                        action="store_false",
                        help="run the paced senders against the receiver "
                        "only")
    parser.add_argument("--skip-rate", action="store_true")
    parser.add_argument("--skip-paced", action="store_true")
    parser.add_argument("--sender-buffer", type=int, metavar="BYTES",
                        help="SO_SNDBUF of the senders (default: the "
                        "system's, as with libtlsrpt)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each shape and rate")
    parser.add_argument("--quick", action="store_true",
                        help="fewer datagrams, for a smoke test")
    args = parser.parse_args()
    if args.quick:
        args.count = 20000
        args.paced_count = 5000
        args.repeat = 1

    for program in (args.tools / "sender", args.tools / "sink",
                    args.root / "libexec" / "tlsrptd" / "receiver"):
        if not program.exists():
            sys.exit(f"{program} not found: run make and make bench first")

    print(f"Machine: {machine_description()}")
    print(f"Command: {' '.join(sys.argv)}")
    print(f"Load average at start: {load_average()}")
    if args.sender_buffer:
        print(f"Sender SO_SNDBUF: {args.sender_buffer} bytes")
    old_qlen = read_qlen()
    qlens = args.qlen if os.geteuid() == 0 else (old_qlen,)
    try:
        for qlen in qlens:
            if qlen != read_qlen():
                write_qlen(qlen)
            if not args.skip_rate:
                rate_runs(args, qlen)
            if not args.skip_paced:
                paced_runs(args, qlen)
    finally:
        if read_qlen() != old_qlen:
            write_qlen(old_qlen)
    print(f"\nLoad average at end: {load_average()}")


if __name__ == "__main__":
    main()
