#!/usr/bin/python3
"""Benchmark: building and queueing the reports of one day summary.

For each --domains value, writes a summary file of that many domains and
measures, each time with wall time and peak RSS (VmHWM from /proc):

1. "stream": report_build (bench/report_build.c, built by "make bench"
   into $(OBJ)/bench/) streams the summary and builds every report the way
   the reporter does: check pass, merge of the sorted runs (or the
   external sort of an unsorted file), canonical JSON, cJSON, gzip. No
   delivery file is written.
2. "load": the same with the whole summary loaded by summary_read() and
   report_build_all(), the path of "tlsrptd report --dry-run".
3. "reporter": the built reporter daemon ($TLSRPTD_ROOT/libexec/tlsrptd/
   reporter) with the summary in days/ of a private queue directory,
   timed until days/ is empty. That is the stream path plus one delivery
   file per destination in outgoing/. Each delivery file is fsync'ed and
   linked into place, and the directory fsync'ed, as the queue rules
   require. Skip it with --no-reporter.

The summary has the shape the aggregator writes: every policy line in
key order, then every detail line in key order. Per domain: a
no-policy-found policy (every domain), an sts policy with failures and
one to three failure-details rows (one domain in four), a tlsa policy
with one failure row (one in eight), and a second record on the same
day (one in fifty). --order reversed writes the lines in reverse, so the
file has one sorted run per line and must be sorted first.

Usage: bench/report_bench.py [--domains N ...] [--order sorted|reversed]
                             [--tools DIR] [--no-reporter] [--dir DIR]
                             [--keep]
"""

import argparse
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOT = Path(os.environ.get("TLSRPTD_ROOT", REPO))
REPORTER = ROOT / "libexec" / "tlsrptd" / "reporter"
DAY = "2026-03-01"
QUEUE_SUBDIRS = ("tmp", "days", "outgoing", "corrupt", "private")


def compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def domain_counters(index):
    """Return the (record, policy, success, failure, details) counters of
    one domain."""
    domain = f"d{index:06d}.example"
    record = f"v=TLSRPTv1; rua=mailto:tlsrpt@{domain}"
    counters = [(record, {"policy-type": "no-policy-found",
                          "policy-string": [], "policy-domain": domain,
                          "mx-host": []}, 10 + index % 90, 0, [])]
    if index % 4 == 0:
        details = [({"result-type": "certificate-expired",
                     "sending-mta-ip": "192.0.2.10",
                     "receiving-mx-hostname": f"mx{n}.{domain}",
                     "receiving-mx-helo": f"mx{n}.{domain}",
                     "receiving-ip": f"198.51.100.{n + 1}",
                     "failure-reason-code": "certificate has expired"},
                    n + 1) for n in range(1 + index % 3)]
        counters.append((record, {
            "policy-type": "sts",
            "policy-string": ["version: STSv1", "mode: enforce",
                              f"mx: mx1.{domain}", "max_age: 604800"],
            "policy-domain": domain, "mx-host": [f"mx1.{domain}"]},
            index % 50, len(details), details))
    if index % 8 == 0:
        counters.append((record, {
            "policy-type": "tlsa",
            "policy-string": ["3 1 1 " + f"{index:064X}"],
            "policy-domain": f"mx1.{domain}", "mx-host": []}, 3, 1,
            [({"result-type": "validation-failure",
               "sending-mta-ip": "2001:db8::10",
               "receiving-mx-hostname": f"mx1.{domain}",
               "receiving-ip": "2001:db8:14::25",
               "failure-reason-code": "No matching TLSA record"}, 1)]))
    if index % 50 == 0:
        counters.append((f"v=TLSRPTv1; rua=https://rpt.{domain}/v1",
                         counters[0][1], 2, 0, []))
    return domain, counters


def write_summary(path, domains, order):
    """Write the summary file; return (lines, report groups)."""
    policy_lines = []
    detail_lines = []
    groups = set()
    for index in range(domains):
        domain, counters = domain_counters(index)
        for record, policy, success, failure, details in counters:
            groups.add((domain, record))
            policy_lines.append((domain, record, compact(policy),
                                 "policy " + compact({
                                     "domain": domain, "record": record,
                                     "policy": policy, "success": success,
                                     "failure": failure})))
            for detail, count in details:
                detail_lines.append((domain, record, compact(policy),
                                     compact(detail), "detail " + compact({
                                         "domain": domain, "record": record,
                                         "policy": policy, "detail": detail,
                                         "count": count})))
    lines = [entry[-1] for entry in sorted(policy_lines)]
    lines += [entry[-1] for entry in sorted(detail_lines)]
    if order == "reversed":
        lines.reverse()
    with open(path, "w", encoding="utf-8") as out:
        out.write(f"tlsrptd-summary 1\nday: {DAY}\nkind: final\n"
                  f"created: {DAY}T00:30:00Z\nhost: bench.example\n\n")
        for line in lines:
            out.write(line + "\n")
        out.write(f"end {len(lines)}\n")
    return len(lines), len(groups)


def peak_rss_kb(pid):
    """Return the peak resident set of a running process since its exec.

    It comes from VmHWM in /proc, because getrusage of a child would
    count the Python process it was forked from."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    sys.exit(f"no VmHWM in /proc/{pid}/status")


def write_config(etc, queue, base):
    parameters = {
        "queue_directory": str(queue),
        "organization_name": "tlsrptd benchmark",
        "contact_info": "tlsrpt-noreply@reports.example.net",
        "delivery_spread": "2h",
        "maillog_file": str(base / "reporter.log"),
    }
    if os.geteuid() == 0:
        parameters["mail_owner"] = "tlsrptd"
    (etc / "main.cf").write_text("".join(f"{name} = {value}\n" for name, value
                                         in parameters.items()))


def make_queue(base):
    etc = base / "etc"
    queue = base / "queue"
    etc.mkdir()
    queue.mkdir()
    for name in QUEUE_SUBDIRS:
        (queue / name).mkdir(mode=0o700)
    if os.geteuid() == 0:
        account = pwd.getpwnam("tlsrptd")
        for path in [queue, *(queue / name for name in QUEUE_SUBDIRS)]:
            os.chown(path, account.pw_uid, account.pw_gid)
    write_config(etc, queue, base)
    return etc, queue


def run_builder(tool, etc, summary, loaded):
    """Run report_build; return (reports, seconds, peak RSS in MB)."""
    command = [str(tool), "-c", str(etc), str(summary)]
    if loaded:
        command.insert(1, "-l")
    result = subprocess.run(command, capture_output=True, text=True,
                            check=True)
    fields = dict(item.split("=") for item in result.stdout.split())
    return (int(fields["reports"]), float(fields["seconds"]),
            int(fields["peak_rss_kb"]) / 1024)


def run_reporter(etc, queue, summary, base):
    """Run the reporter on the summary; return (deliveries, seconds, peak
    RSS in MB, whether it sorted the file)."""
    staging = queue / "tmp" / "bench.summary"
    shutil.copyfile(summary, staging)
    if os.geteuid() == 0:
        account = pwd.getpwnam("tlsrptd")
        os.chown(staging, account.pw_uid, account.pw_gid)
    start = time.monotonic()
    os.rename(staging, queue / "days" / "BENCH")
    process = subprocess.Popen([str(REPORTER), "-c", str(etc)],
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.STDOUT)
    while (queue / "days" / "BENCH").exists():
        if process.poll() is not None:
            sys.exit(f"reporter exited with {process.returncode}; see "
                     f"{base}/reporter.log")
        time.sleep(0.05)
    elapsed = time.monotonic() - start
    peak_kb = peak_rss_kb(process.pid)
    process.send_signal(signal.SIGTERM)
    process.wait()
    deliveries = len(os.listdir(queue / "outgoing"))
    log = (base / "reporter.log").read_text(errors="replace")
    return deliveries, elapsed, peak_kb / 1024, "sorted them through" in log


def run_once(domains, args, tool):
    base = Path(tempfile.mkdtemp(prefix="tlsrptd-report-bench-",
                                 dir=args.dir))
    base.chmod(0o755)
    etc, queue = make_queue(base)
    summary = base / "summary"
    lines, groups = write_summary(summary, domains, args.order)
    size = summary.stat().st_size / 1e6
    rows = []
    for mode in ("stream", "load"):
        reports, seconds, rss = run_builder(tool, etc, summary,
                                            mode == "load")
        rows.append((mode, reports, seconds, rss, ""))
    if not args.no_reporter:
        deliveries, seconds, rss, sorted_first = run_reporter(
            etc, queue, summary, base)
        rows.append(("reporter", deliveries, seconds, rss,
                     " (sorted in tmp/)" if sorted_first else ""))
    for mode, count, seconds, rss, note in rows:
        print(f"{domains:>8} {args.order:>8} {lines:>8} {size:>7.1f}MB "
              f"{mode:>9} {count:>8} {seconds:>8.1f} {rss:>7.1f}MB{note}",
              flush=True)
        if count != groups:
            sys.exit(f"{mode}: {count} reports, expected {groups}")
    if not args.keep:
        shutil.rmtree(base)


def find_tool(directory):
    candidates = [Path(directory)] if directory else [
        ROOT / "obj" / "bench", ROOT / "build" / "obj" / "bench",
        REPO / "build" / "obj" / "bench"]
    for candidate in candidates:
        if (candidate / "report_build").exists():
            return candidate / "report_build"
    sys.exit("report_build not found; run \"make bench\" or give --tools")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--domains", type=int, nargs="+",
                        default=[10000, 100000],
                        help="domains in the summary, one run per value")
    parser.add_argument("--order", choices=("sorted", "reversed"),
                        default="sorted",
                        help="line order of the summary file")
    parser.add_argument("--tools", metavar="DIR",
                        help="directory of report_build (default: "
                        "$(OBJ)/bench of the build)")
    parser.add_argument("--no-reporter", action="store_true",
                        help="skip the reporter daemon run")
    parser.add_argument("--dir", metavar="DIR",
                        help="make the scratch directory (summary and "
                        "queue) under DIR, e.g. on a tmpfs to take the "
                        "disk out (default: $TMPDIR or /tmp)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the scratch directory")
    args = parser.parse_args()
    tool = find_tool(args.tools)
    if not args.no_reporter and not REPORTER.exists():
        sys.exit(f"{REPORTER} not built; run make first")
    print(f"{'domains':>8} {'order':>8} {'lines':>8} {'summary':>9} "
          f"{'path':>9} {'reports':>8} {'seconds':>8} {'peak RSS':>9}")
    for domains in args.domains:
        run_once(domains, args, tool)


if __name__ == "__main__":
    main()
