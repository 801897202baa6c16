"""End-to-end tests of the master and the tlsrptd control command.

The master starts small Python test daemons from a temporary
daemon_directory instead of the real workers, so that each test controls
how its children behave. A test daemon becomes ready and sleeps, crashes
after ready, exits before ready, reads the receiver socket, or records
wakeup triggers. Every
child appends its command line to a shared file, which tells the tests
which processes started and with which arguments.

Nothing here needs root. Run as root, the queue and the socket are given
to the "nobody" account and the "nogroup" group, which Debian always has.
"""

import grp
import json
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROOT = Path(os.environ.get("TLSRPTD_ROOT", REPO))
TLSRPTD = ROOT / "bin" / "tlsrptd"
MASTER = ROOT / "libexec" / "tlsrptd" / "master"

# A test daemon. Options from the master come first, then the mode.
TEST_DAEMON = r'''#!/usr/bin/python3
import json, os, signal, socket, sys, time

VALUE_OPTIONS = {"-c", "-n", "-s", "-l", "-o"}
args = sys.argv[1:]
options, rest, i = {}, [], 0
while i < len(args):
    if args[i] in VALUE_OPTIONS:
        options[args[i]] = args[i + 1]
        i += 2
    elif args[i] in ("-S", "-C", "-v"):
        options[args[i]] = True
        i += 1
    else:
        rest.append(args[i])
        i += 1
mode = rest[0] if rest else "ready"
out = os.environ["TESTD_OUT"]
service = options["-n"]

with open(os.path.join(out, "starts"), "a") as log:
    log.write(json.dumps({"service": service, "pid": os.getpid(),
                          "argv": sys.argv}) + "\n")

def record(name, data):
    with open(os.path.join(out, name), "ab") as f:
        f.write(data)

if mode == "exit-before-ready":
    sys.exit(1)

status_fd = int(options["-s"])
os.write(status_fd, b"ready\n")
os.write(status_fd, b"status started=1 mode=" + mode.encode() + b"\n")

if mode == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
else:
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))

if mode == "crash":
    time.sleep(0.3)
    sys.exit(3)
elif mode in ("dgram", "dgram-once"):
    sock = socket.socket(fileno=int(options["-l"]))
    while True:
        data = sock.recv(65536)
        record("datagrams", b"%d " % os.getpid() + data + b"\n")
        if mode == "dgram-once":
            sys.exit(3)
elif mode == "fifo":
    fd = os.open(os.path.join("private", service), os.O_RDWR)
    while True:
        record("triggers", os.read(fd, 64))
else:
    while True:
        time.sleep(1)
'''


def wait_until(condition, timeout=5.0, what="condition"):
    """Poll condition() until it returns a true value, and return it."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def alive(pid):
    """Tell whether pid runs; a zombie whose parent has not reaped it is dead."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat_line.rsplit(")", 1)[1].split()[0] != "Z"


def owner_names():
    """The account and group that own the queue and the socket."""
    if os.geteuid() == 0:
        return "nobody", "nogroup"
    return pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name


class Setup:
    """A configuration directory, a queue and a daemon_directory in /tmp."""

    def __init__(self):
        # Short paths: a unix socket path has at most 107 bytes.
        self.base = Path(tempfile.mkdtemp(prefix="tm-"))
        self.base.chmod(0o755)
        self.etc = self.base / "etc"
        self.queue = self.base / "queue"
        self.socket = self.base / "run" / "tlsrpt.sock"
        self.daemons = self.base / "daemons"
        self.out = self.base / "out"
        self.console = self.base / "console.log"
        self.process = None
        for directory in (self.etc, self.daemons, self.out):
            directory.mkdir()
        testd = self.daemons / "testd"
        testd.write_text(TEST_DAEMON)
        testd.chmod(0o755)
        (self.daemons / "master").symlink_to(MASTER)
        user, group = owner_names()
        self.parameters = {
            "queue_directory": str(self.queue),
            "receiver_socket": str(self.socket),
            "receiver_socket_group": group,
            "receiver_socket_mode": "0620",
            "daemon_directory": str(self.daemons),
            "mail_owner": user,
            "organization_name": "tlsrptd master test",
            "contact_info": "tlsrpt-noreply@example.net",
            "service_restart_delay": "1s",
            "service_throttle_time": "3s",
            "service_stop_timeout": "2s",
        }
        self.write_main()
        self.write_master("receiver dgram - - n - 1 testd\n"
                          "worker unix - - n - - testd\n")

    def write_main(self, **changes):
        self.parameters.update(changes)
        lines = [f"{name} = {value}" for name, value in self.parameters.items()
                 if value is not None]
        (self.etc / "main.cf").write_text("\n".join(lines) + "\n")

    def write_master(self, text):
        (self.etc / "master.cf").write_text(text)

    def environment(self):
        return dict(os.environ, TESTD_OUT=str(self.out))

    def tlsrptd(self, *args, timeout=20):
        return subprocess.run([str(TLSRPTD), "-c", str(self.etc), *args],
                              capture_output=True, text=True, timeout=timeout,
                              env=self.environment())

    def start_fg(self, wait_ready=True):
        """Start the master with "tlsrptd start-fg"; wait for its children."""
        with open(self.console, "ab") as console:
            self.process = subprocess.Popen(
                [str(TLSRPTD), "-c", str(self.etc), "start-fg"],
                stdout=console, stderr=subprocess.STDOUT,
                env=self.environment())
        wait_until(lambda: "daemon started" in self.log()
                   or self.process.poll() is not None, what="the master")
        assert self.process.poll() is None, self.log()
        if wait_ready:
            wait_until(lambda: len(self.ready_services()) == self.service_count(),
                       what="every service to become ready")
        return self.process

    def service_count(self):
        return sum(1 for line in (self.etc / "master.cf").read_text().splitlines()
                   if line.strip() and not line[0].isspace()
                   and not line.startswith("#"))

    def status_lines(self):
        path = self.queue / "pid" / "status"
        try:
            lines = path.read_text().splitlines()
        except FileNotFoundError:
            return {}
        return {line.split()[0]: line.split(None, 4) for line in lines[1:]}

    def ready_services(self):
        return [name for name, fields in self.status_lines().items()
                if fields[2] == "ready"]

    def starts(self, service=None):
        """The recorded starts: dicts with service, pid and argv."""
        path = self.out / "starts"
        if not path.exists():
            return []
        records = [json.loads(line) for line in path.read_text().splitlines()]
        return [r for r in records if service is None or r["service"] == service]

    def log(self):
        return self.console.read_text(errors="replace") if self.console.exists() else ""

    def wait_log(self, pattern, timeout=5.0):
        return wait_until(lambda: re.search(pattern, self.log()), timeout,
                          what=f"log line matching {pattern!r}")

    def master_pid(self):
        path = self.queue / "pid" / "master.pid"
        return int(path.read_text()) if path.exists() else None

    def cleanup(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for record in self.starts():
            if alive(record["pid"]):
                os.kill(record["pid"], signal.SIGKILL)
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture
def setup():
    instance = Setup()
    yield instance
    instance.cleanup()


def test_start_fg_status_stop(setup):
    process = setup.start_fg()
    pids = [r["pid"] for r in setup.starts()]
    assert len(pids) == 2

    status = setup.tlsrptd("status")
    assert status.returncode == 0, status.stderr
    assert f"running (pid {process.pid})" in status.stdout
    assert re.search(r"receiver\s+\d+\s+ready\s+0\s+started=1 mode=ready",
                     status.stdout)
    assert re.search(r"worker\s+\d+\s+ready\s+0", status.stdout)

    stop = setup.tlsrptd("stop")
    assert stop.returncode == 0, stop.stderr
    assert "tlsrptd: stopped" in stop.stdout
    assert process.wait(timeout=5) == 0
    log = setup.log()
    assert "daemon started -- version " in log
    assert "terminating on signal 15" in log
    if os.geteuid() != 0:
        user = pwd.getpwuid(os.geteuid()).pw_name
        assert f"running as unprivileged user {user}; not changing user IDs" in log
    assert not (setup.queue / "pid" / "master.pid").exists()
    assert not (setup.queue / "pid" / "status").exists()
    assert not setup.socket.exists()
    for pid in pids:
        assert not alive(pid)


def test_children_get_their_arguments(setup):
    setup.write_master("receiver dgram - - n - 1 testd\n"
                       "worker unix - - y 1 - testd ready -o\n"
                       "    keep_days=3 -v\n")
    setup.start_fg()
    receiver = setup.starts("receiver")[0]["argv"]
    worker = setup.starts("worker")[0]["argv"]

    assert receiver[0] == str(setup.daemons / "testd")
    assert receiver[1:5] == ["-c", str(setup.etc), "-n", "receiver"]
    assert "-l" in receiver
    assert "-S" in receiver
    assert worker[1:5] == ["-c", str(setup.etc), "-n", "worker"]
    assert "-l" not in worker
    assert "-C" in worker
    assert worker[-4:] == ["ready", "-o", "keep_days=3", "-v"]
    assert "started /" in setup.log()


def test_queue_fifo_and_socket_created(setup):
    setup.start_fg()
    user, group = owner_names()
    for name in ("tmp", "incoming", "corrupt", "outgoing", "deferred", "hold",
                 "sent", "failed", "db", "days", "requests", "export", "pid",
                 "private"):
        info = (setup.queue / name).stat()
        assert stat.S_ISDIR(info.st_mode), name
        assert stat.S_IMODE(info.st_mode) == 0o700, name
        if name != "pid":
            assert pwd.getpwuid(info.st_uid).pw_name == user, name
    assert stat.S_ISFIFO((setup.queue / "private" / "worker").stat().st_mode)
    assert not (setup.queue / "private" / "receiver").exists()

    info = setup.socket.stat()
    assert stat.S_ISSOCK(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o620
    assert pwd.getpwuid(info.st_uid).pw_name == user
    assert grp.getgrgid(info.st_gid).gr_name == group


def test_dgram_service_reads_socket(setup):
    setup.write_master("receiver dgram - - n - 1 testd dgram\n")
    setup.start_fg()
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(b'{"dpv":"1"}', str(setup.socket))
    pid = setup.starts("receiver")[0]["pid"]
    path = setup.out / "datagrams"
    wait_until(lambda: path.exists() and path.read_bytes(), what="the datagram")
    assert path.read_bytes() == b'%d {"dpv":"1"}\n' % pid


def test_datagrams_survive_receiver_restart(setup):
    setup.write_master("receiver dgram - - n - 1 testd dgram-once\n")
    setup.start_fg()
    inode = setup.socket.stat().st_ino
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"first", str(setup.socket))
        setup.wait_log(r"testd pid \d+ exit status 3")
        # The receiver is down for service_restart_delay: this one waits
        # in the socket that the master keeps open.
        sock.sendto(b"second", str(setup.socket))
    path = setup.out / "datagrams"
    wait_until(lambda: path.exists() and b"second" in path.read_bytes(),
               what="the datagram sent while the receiver was down")
    first, second = path.read_bytes().splitlines()
    assert first.endswith(b" first")
    assert second.endswith(b" second")
    assert first.split()[0] != second.split()[0]
    assert setup.socket.stat().st_ino == inode


def test_restart_after_crash(setup):
    setup.write_master("receiver dgram - - n - 1 testd\n"
                       "crasher unix - - n - - testd crash\n")
    setup.start_fg(wait_ready=False)
    wait_until(lambda: len(setup.starts("crasher")) >= 2, what="a restart")
    first, second = setup.starts("crasher")[:2]
    assert first["pid"] != second["pid"]
    log = setup.log()
    assert (f"warning: process {setup.daemons}/testd pid {first['pid']} "
            f"exit status 3") in log
    assert "service crasher: restarting in 1 seconds" in log
    assert f"service crasher: started {setup.daemons}/testd pid {second['pid']}" in log
    # The delay doubles with each crash.
    setup.wait_log("service crasher: restarting in 2 seconds")
    wait_until(lambda: int(setup.status_lines().get("crasher", [0, 0, 0, 0])[3]) >= 2,
               what="restarts in pid/status")


def test_killed_child_restarts(setup):
    setup.start_fg()
    old = setup.starts("worker")[0]["pid"]
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: len(setup.starts("worker")) == 2, what="a restart")
    new = setup.starts("worker")[1]["pid"]
    assert new != old
    assert alive(new)
    assert f"process {setup.daemons}/testd pid {old} killed by signal 9" in setup.log()


def test_throttle_before_ready(setup):
    setup.write_master("receiver dgram - - n - 1 testd\n"
                       "broken unix - - n - - testd exit-before-ready\n")
    setup.start_fg(wait_ready=False)
    setup.wait_log(rf"warning: {setup.daemons}/testd: bad command startup -- throttling")
    throttled_at = time.monotonic()
    wait_until(lambda: setup.status_lines().get("broken", [None] * 3)[2] == "throttled",
               what="the throttled state in pid/status")

    # service_throttle_time is 3 s: no new attempt before it ends.
    time.sleep(max(0, throttled_at + 2.5 - time.monotonic()))
    assert len(setup.starts("broken")) == 1
    wait_until(lambda: len(setup.starts("broken")) == 2, timeout=2,
               what="the start after the throttle time")


def test_sigterm_stops_everything(setup):
    process = setup.start_fg()
    pids = [r["pid"] for r in setup.starts()]
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=5) == 0
    assert "terminating on signal 15" in setup.log()
    assert not (setup.queue / "pid" / "master.pid").exists()
    assert not setup.socket.exists()
    for pid in pids:
        assert not alive(pid)


def test_stuck_child_is_killed(setup):
    setup.write_main(service_stop_timeout="1s")
    setup.write_master("stuck unix - - n - - testd ignore-term\n")
    process = setup.start_fg()
    pid = setup.starts("stuck")[0]["pid"]
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=5) == 0
    assert (f"service stuck: pid {pid} did not stop within 1 seconds; "
            "sending SIGKILL") in setup.log()
    assert not alive(pid)


def test_second_master_refused(setup):
    process = setup.start_fg()
    inode = setup.socket.stat().st_ino

    second = subprocess.run([str(MASTER), "-c", str(setup.etc), "-f", "-S"],
                            capture_output=True, text=True, timeout=10,
                            env=setup.environment())
    assert second.returncode == 1
    assert f"the tlsrptd master is already running (pid {process.pid})" in second.stderr

    start = setup.tlsrptd("start")
    assert start.returncode == 1
    assert f"already running (pid {process.pid})" in start.stderr

    assert setup.socket.stat().st_ino == inode
    assert process.poll() is None


@pytest.mark.parametrize("line, expected", [
    ("worker unix - - n - 2 testd",
     'invalid maxproc value "2" for service "worker": expected 1 or -'),
    ("worker inet - - n - - testd", 'invalid type "inet" for service "worker"'),
    ("worker unix - - n soon - testd", 'invalid wakeup value "soon"'),
    ("worker unix - - n 60 1", "expected 8 columns"),
    ("worker unix - - n - - /bin/sh",
     'invalid command "/bin/sh" for service "worker": expected a program name'),
])
def test_master_cf_errors(setup, line, expected):
    setup.write_master("# services\nreceiver dgram - - n - 1 testd\n" + line + "\n")
    result = setup.tlsrptd("start-fg")
    assert result.returncode == 1
    assert f"{setup.etc}/master.cf line 3: {expected}" in result.stderr
    assert not setup.queue.exists()


def test_missing_contact_info_refused(setup):
    setup.write_main(contact_info=None)
    result = setup.tlsrptd("start-fg")
    assert result.returncode == 1
    assert "contact_info is not set" in result.stderr
    result = setup.tlsrptd("start")
    assert result.returncode == 1
    assert "contact_info is not set" in result.stderr
    assert not setup.queue.exists()


def test_wakeup_and_flush(setup):
    setup.write_master("mailer unix - - n 1 - testd fifo\n")
    setup.start_fg()
    triggers = setup.out / "triggers"
    wait_until(lambda: triggers.exists() and b"W" in triggers.read_bytes(),
               what="a periodic wakeup")
    result = setup.tlsrptd("flush")
    assert result.returncode == 0, result.stderr
    wait_until(lambda: b"F" in triggers.read_bytes(), what="the flush trigger")


def test_reload_restarts_children(setup):
    process = setup.start_fg()
    inode = setup.socket.stat().st_ino
    old = {r["service"]: r["pid"] for r in setup.starts()}

    setup.write_master("receiver dgram - - n - 1 testd\n"
                       "worker unix - - n - - testd\n"
                       "extra unix - - n - - testd\n")
    result = setup.tlsrptd("reload")
    assert result.returncode == 0, result.stderr
    wait_until(lambda: len(setup.starts()) == 5, what="the restarted services")
    new = {r["service"]: r["pid"] for r in setup.starts()[2:]}
    assert set(new) == {"receiver", "worker", "extra"}
    assert new["receiver"] != old["receiver"]
    assert new["worker"] != old["worker"]
    assert "reload -- version" in setup.log()
    assert setup.socket.stat().st_ino == inode
    assert process.poll() is None

    # An invalid master.cf keeps the old configuration and its processes.
    setup.write_master("receiver dgram - - n - 3 testd\n")
    process.send_signal(signal.SIGHUP)
    setup.wait_log(r"reload failed, keeping the old configuration: .*line 1")
    time.sleep(0.5)
    assert len(setup.starts()) == 5
    assert all(alive(pid) for pid in new.values())

    # A service that master.cf no longer lists is stopped and forgotten.
    setup.write_master("receiver dgram - - n - 1 testd\n"
                       "worker unix - - n - - testd\n")
    process.send_signal(signal.SIGHUP)
    setup.wait_log("service extra: removed")
    assert "service extra: no longer in master.cf; stopping it" in setup.log()
    assert not alive(new["extra"])
    wait_until(lambda: "extra" not in setup.status_lines(),
               what="extra to leave pid/status")
    wait_until(lambda: len(setup.ready_services()) == 2,
               what="the restarted services")


def test_daemon_start_and_stop(setup):
    setup.write_main(maillog_file=str(setup.base / "maillog"))
    start = setup.tlsrptd("start")
    assert start.returncode == 0, start.stderr
    match = re.search(r"tlsrptd: started \(pid (\d+)\)", start.stdout)
    assert match, start.stdout
    pid = int(match.group(1))
    assert setup.master_pid() == pid
    wait_until(lambda: len(setup.ready_services()) == 2, what="ready services")

    status = setup.tlsrptd("status")
    assert status.returncode == 0
    assert f"running (pid {pid})" in status.stdout
    assert "daemon started" in (setup.base / "maillog").read_text()

    stop = setup.tlsrptd("stop")
    assert stop.returncode == 0, stop.stderr
    assert not alive(pid)
    status = setup.tlsrptd("status")
    assert status.returncode == 1
    assert "tlsrptd: not running" in status.stdout


def test_control_errors(setup):
    result = setup.tlsrptd("bogus")
    assert result.returncode == 2
    assert 'unknown command "bogus"' in result.stderr
    assert "usage: tlsrptd" in result.stderr

    result = setup.tlsrptd("stop")
    assert result.returncode == 1
    assert "tlsrptd: not running" in result.stderr

    missing = setup.base / "nowhere"
    result = subprocess.run([str(TLSRPTD), "-c", str(missing), "status"],
                            capture_output=True, text=True, timeout=10)
    assert result.returncode == 1
    assert f"cannot open {missing}/main.cf: No such file or directory; use -c DIR" \
        in result.stderr
