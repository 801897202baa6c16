"""Run the real tlsrptd suite in a temporary directory for end-to-end tests.

A Suite writes main.cf and master.cf for a private queue directory and
socket, starts the master with "tlsrptd start-fg", and offers the
commands a test needs: send datagrams with tlsrpt-send, request reports,
read the log. Nothing here needs root. Run as root, the suite drops
privileges to the "tlsrptd" account, which must exist.
"""

import grp
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ROOT = Path(os.environ.get("TLSRPTD_ROOT", REPO))
BIN = ROOT / "bin"
DATA = REPO / "tests" / "data"
TEST_ACCOUNT = "tlsrptd"
# conf/master.cf runs the receiver as its own account in TEST_ACCOUNT's
# group ("-o mail_owner=tlsrptd-recv").
RECEIVER_ACCOUNT = "tlsrptd-recv"

QUEUE_SUBDIRS = ("tmp", "incoming", "corrupt", "outgoing", "deferred",
                 "hold", "sent", "failed", "db", "days", "requests",
                 "export", "pid", "private")


def sample_files():
    """Return every captured sample datagram file, sorted by name."""
    return sorted((DATA / "datagrams").glob("*.json")) + \
        sorted((DATA / "postfix").glob("*.json"))


def wait_until(condition, timeout=20.0, interval=0.05, what="condition"):
    """Poll condition() until it returns a true value; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def ensure_receiver_account(account):
    """As root, create the receiver's account as INSTALL says, if missing."""
    try:
        pwd.getpwnam(RECEIVER_ACCOUNT)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home",
                        "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                        "--gid", str(account.pw_gid), RECEIVER_ACCOUNT], check=True)


def make_base_dir():
    """Create a scratch directory that the suite's account can traverse."""
    base = Path(tempfile.mkdtemp(prefix="tlsrptd-test-"))
    base.chmod(0o755)
    return base


class Suite:
    """One running tlsrptd: configuration, queue, socket and log."""

    def __init__(self, base, **parameters):
        self.base = Path(base)
        self.etc = self.base / "etc"
        self.queue = self.base / "queue"
        self.socket = self.base / "run" / "tlsrpt.sock"
        self.log_path = self.base / "maillog"
        self.process = None
        self.etc.mkdir(parents=True, exist_ok=True)
        self.parameters = {
            "queue_directory": str(self.queue),
            "receiver_socket": str(self.socket),
            "organization_name": "tlsrptd test suite",
            "contact_info": "tlsrpt-noreply@reports.example.net",
            "maillog_file": str(self.log_path),
            "day_close_delay": "10m",
            "delivery_spread": "0",
        }
        if os.geteuid() == 0:
            self.parameters.update(self._root_parameters())
        if os.environ.get("TLSRPTD_VALGRIND"):
            self.parameters["daemon_directory"] = str(self._valgrind_wrappers())
        self.parameters.update(parameters)
        self.write_config()

    def _valgrind_wrappers(self):
        """Write scripts that run each daemon under valgrind's memcheck.

        Each process logs to its own file; with -q a log stays empty
        unless valgrind finds an error or a definite leak.
        """
        wrappers = self.base / "valgrind-bin"
        wrappers.mkdir(mode=0o755)
        self.valgrind_logs = self.base / "valgrind"
        # Forked delivery processes of the mailer open their logs after
        # the mailer has dropped privileges, so every account may write
        # here (chmod, because mkdir's mode is subject to the umask).
        self.valgrind_logs.mkdir()
        self.valgrind_logs.chmod(0o1777)
        for daemon in ("master", "receiver", "aggregator", "reporter", "mailer"):
            script = wrappers / daemon
            script.write_text(
                "#!/bin/sh\n"
                "exec valgrind -q --vgdb=no --leak-check=full --show-leak-kinds=definite "
                "--errors-for-leak-kinds=definite --error-exitcode=99 "
                f"--log-file={self.valgrind_logs}/{daemon}.%p.log "
                f"{ROOT / 'libexec' / 'tlsrptd' / daemon} \"$@\"\n")
            script.chmod(0o755)
        return wrappers

    def valgrind_errors(self):
        """Return the text of every non-empty valgrind log."""
        logs = getattr(self, "valgrind_logs", None)
        if logs is None:
            return ""
        return "".join(path.read_text(errors="replace")
                       for path in sorted(logs.glob("*.log")) if path.stat().st_size)

    @staticmethod
    def _root_parameters():
        try:
            account = pwd.getpwnam(TEST_ACCOUNT)
        except KeyError:
            raise AssertionError(
                f"running as root needs the unprivileged account "
                f"{TEST_ACCOUNT!r}: useradd --system {TEST_ACCOUNT}") from None
        group = grp.getgrgid(account.pw_gid).gr_name
        ensure_receiver_account(account)
        return {"mail_owner": TEST_ACCOUNT, "receiver_socket_group": group}

    def write_config(self, master_cf=None):
        lines = [f"{name} = {value}" for name, value in self.parameters.items()]
        (self.etc / "main.cf").write_text("\n".join(lines) + "\n")
        if master_cf is None:
            master_cf = (REPO / "conf" / "master.cf").read_text()
        (self.etc / "master.cf").write_text(master_cf)

    def command(self, *args, check=True, timeout=90, **kwargs):
        """Run bin/tlsrptd with this configuration (under valgrind if asked)."""
        prefix = []
        if os.environ.get("TLSRPTD_VALGRIND") and args[:1] != ("start-fg",):
            prefix = ["valgrind", "-q", "--leak-check=full",
                      "--errors-for-leak-kinds=definite", "--error-exitcode=99"]
        return subprocess.run([*prefix, str(BIN / "tlsrptd"), "-c", str(self.etc), *args],
                              capture_output=True, text=True, check=check,
                              timeout=timeout, **kwargs)

    def start(self):
        """Start the master in the foreground and wait for the socket."""
        self.console = open(self.base / "console.log", "ab")
        self.process = subprocess.Popen(
            [str(BIN / "tlsrptd"), "-c", str(self.etc), "start-fg"],
            stdout=self.console, stderr=subprocess.STDOUT)
        wait_until(lambda: self.socket.exists() or self.process.poll() is not None,
                   what="the receiver socket")
        if self.process.poll() is not None:
            raise AssertionError("the master exited at start:\n" + self.console_text())
        wait_until(lambda: "receiver" in self.log() and self.ready(),
                   what="the workers to start")
        return self

    def ready(self):
        """Tell whether every worker has started (its wakeup FIFO is open)."""
        status = self.queue / "pid" / "status"
        return status.exists() and status.read_text().count("ready") >= 4

    def stop(self):
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        self.console.close()

    def send(self, *files, check=True):
        """Send each line of the files as one datagram with tlsrpt-send."""
        return subprocess.run([str(BIN / "tlsrpt-send"), "-s", str(self.socket),
                               *map(str, files)],
                              capture_output=True, text=True, check=check,
                              timeout=60)

    def send_bytes(self, payload):
        """Send one raw datagram, exactly these bytes."""
        import socket
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(payload, str(self.socket))

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def console_text(self):
        path = self.base / "console.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def files(self, subdir):
        directory = self.queue / subdir
        return sorted(p for p in directory.iterdir()) if directory.exists() else []

    def sanitizer_reports(self):
        """Return the lines of AddressSanitizer, LeakSanitizer and UBSan
        reports that the daemons wrote to the console (check-asan)."""
        return re.findall(r"^.*(?:ERROR: \w*Sanitizer|runtime error:).*$",
                          self.console_text(), re.M)

    def cleanup(self):
        self.stop()
        errors = self.valgrind_errors()
        reports = self.sanitizer_reports()
        shutil.rmtree(self.base, ignore_errors=True)
        assert not errors, "valgrind found errors:\n" + errors
        assert not reports, "sanitizer reports:\n" + "\n".join(reports)
