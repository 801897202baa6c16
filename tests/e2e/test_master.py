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


# Time for a restart with its delay and the start of a Python test daemon
# on a loaded machine. A wait that passes returns at once.
WAIT_SECONDS = 20.0


def wait_until(condition, timeout=WAIT_SECONDS, what="condition"):
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

    def wait_log(self, pattern, timeout=WAIT_SECONDS):
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

    # The receiver's status line follows "ready" in a second write, and
    # the master rewrites pid/status at most once a second.
    wait_until(lambda: setup.status_lines().get("receiver", [""])[-1]
               == "started=1 mode=ready", what="the receiver's status line")
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


# The queue layout: directory, mode, owned by root (else by mail_owner).
QUEUE_LAYOUT = {
    "tmp": (0o1770, False), "incoming": (0o1770, False),
    "corrupt": (0o1770, False), "outgoing": (0o700, False),
    "deferred": (0o700, False), "hold": (0o700, False),
    "sent": (0o700, False), "failed": (0o700, False), "db": (0o700, False),
    "days": (0o700, False), "requests": (0o700, False),
    "export": (0o700, False), "pid": (0o755, True),
    "private": (0o710, False),
}


def test_queue_fifo_and_socket_created(setup):
    setup.start_fg()
    user, group = owner_names()
    info = setup.queue.stat()
    assert stat.S_IMODE(info.st_mode) == 0o755
    for name, (mode, root_owned) in QUEUE_LAYOUT.items():
        info = (setup.queue / name).stat()
        assert stat.S_ISDIR(info.st_mode), name
        assert stat.S_IMODE(info.st_mode) == mode, name
        expected_user = "root" if root_owned and os.geteuid() == 0 else user
        assert pwd.getpwuid(info.st_uid).pw_name == expected_user, name
        if not root_owned:
            assert grp.getgrgid(info.st_gid).gr_name == group, name
    fifo = (setup.queue / "private" / "worker").stat()
    assert stat.S_ISFIFO(fifo.st_mode)
    assert stat.S_IMODE(fifo.st_mode) == 0o620
    assert pwd.getpwuid(fifo.st_uid).pw_name == user
    assert not (setup.queue / "private" / "receiver").exists()

    info = setup.socket.stat()
    assert stat.S_ISSOCK(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o620
    assert pwd.getpwuid(info.st_uid).pw_name == user
    assert grp.getgrgid(info.st_gid).gr_name == group


def test_existing_directory_mode_is_reported(setup):
    setup.queue.mkdir()
    (setup.queue / "tmp").mkdir(mode=0o700)
    setup.start_fg()
    assert (f"directory {setup.queue}/tmp has mode 0700, expected 1770; run "
            "\"tlsrptd check -f\" to repair the queue") in setup.log()
    assert stat.S_IMODE((setup.queue / "tmp").stat().st_mode) == 0o700


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
    assert "service crasher: restarting in 1 second\n" in log
    # The new child may record its start before the master logs it.
    setup.wait_log(f"service crasher: started {re.escape(str(setup.daemons))}"
                   f"/testd pid {second['pid']}")
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

    # service_throttle_time is 3 s: no new attempt before it ends. The
    # check comes 2 s after the throttling was seen. A restart that ignored
    # the throttle would have come after service_restart_delay (1 s), and
    # the second that is left covers delays of the test itself.
    time.sleep(max(0, throttled_at + 2.0 - time.monotonic()))
    assert len(setup.starts("broken")) == 1
    wait_until(lambda: len(setup.starts("broken")) == 2, timeout=5,
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
    setup.write_master("receiver dgram - - n - 1 testd\n"
                       "stuck unix - - n - - testd ignore-term\n")
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
    setup.write_master("receiver dgram - - n - 1 testd\n"
                       "mailer unix - - n 1 - testd fifo\n")
    setup.start_fg()
    triggers = setup.out / "triggers"
    wait_until(lambda: triggers.exists() and b"W" in triggers.read_bytes(),
               what="a periodic wakeup")
    result = setup.tlsrptd("flush")
    assert result.returncode == 0, result.stderr
    wait_until(lambda: b"F" in triggers.read_bytes(), what="the flush trigger")


def test_reload_restarts_changed_services(setup):
    process = setup.start_fg()
    inode = setup.socket.stat().st_ino
    old = {r["service"]: r["pid"] for r in setup.starts()}

    # A new service starts; the entries that did not change keep running.
    setup.write_master("receiver dgram - - n - 1 testd\n"
                       "worker unix - - n - - testd\n"
                       "extra unix - - n - - testd\n")
    result = setup.tlsrptd("reload")
    assert result.returncode == 0, result.stderr
    wait_until(lambda: len(setup.starts()) == 3, what="the new service")
    setup.wait_log("service extra: added")
    time.sleep(0.5)
    assert len(setup.starts()) == 3
    assert all(alive(pid) for pid in old.values())
    assert "reload -- version" in setup.log()
    assert setup.socket.stat().st_ino == inode

    # A changed entry restarts that service only.
    setup.write_master("receiver dgram - - n - 1 testd\n"
                       "worker unix - - n - - testd ready -v\n"
                       "extra unix - - n - - testd\n")
    process.send_signal(signal.SIGHUP)
    wait_until(lambda: len(setup.starts("worker")) == 2, what="the worker restart")
    setup.wait_log("service worker: changed in master.cf; restarting it")
    assert setup.starts("worker")[1]["argv"][-2:] == ["ready", "-v"]
    assert not alive(old["worker"])
    assert alive(old["receiver"])
    assert len(setup.starts("receiver")) == 1
    assert process.poll() is None
    new = {r["service"]: r["pid"] for r in setup.starts()}

    # An invalid master.cf keeps the old configuration and its processes.
    setup.write_master("receiver dgram - - n - 3 testd\n")
    process.send_signal(signal.SIGHUP)
    setup.wait_log(r"reload failed, keeping the old configuration: .*line 1")
    time.sleep(0.5)
    assert len(setup.starts()) == 4
    assert all(alive(pid) for pid in new.values())

    # A service that master.cf no longer lists is stopped and forgotten.
    setup.write_master("receiver dgram - - n - 1 testd\n"
                       "worker unix - - n - - testd ready -v\n")
    process.send_signal(signal.SIGHUP)
    setup.wait_log("service extra: removed")
    assert "service extra: no longer in master.cf; stopping it" in setup.log()
    assert not alive(new["extra"])
    wait_until(lambda: "extra" not in setup.status_lines(),
               what="extra to leave pid/status")
    assert alive(new["receiver"])
    assert alive(new["worker"])


def test_reload_main_cf_restarts_every_service(setup):
    process = setup.start_fg()
    old = {r["service"]: r["pid"] for r in setup.starts()}

    # A parameter that only the master reads restarts no service.
    setup.write_main(service_throttle_time="4s")
    process.send_signal(signal.SIGHUP)
    setup.wait_log("reload -- version")
    time.sleep(0.5)
    assert len(setup.starts()) == 2
    assert "main.cf changed" not in setup.log()

    # A parameter that workers read restarts every one of them.
    setup.write_main(keep_days="40")
    process.send_signal(signal.SIGHUP)
    setup.wait_log(r"reload: main.cf changed \(keep_days\); restarting every service")
    wait_until(lambda: len(setup.starts()) == 4, what="the restarted services")
    wait_until(lambda: len(setup.ready_services()) == 2, what="ready services")
    assert not any(alive(pid) for pid in old.values())
    assert process.poll() is None


def test_reload_keeps_fixed_values(setup):
    process = setup.start_fg()
    inode = setup.socket.stat().st_ino
    other = setup.base / "queue2"
    setup.write_main(queue_directory=str(other),
                     receiver_socket=str(setup.base / "run" / "other.sock"))
    setup.write_master("receiver dgram - - n - 1 testd\n"
                       "worker unix - - n - - testd ready -v\n")
    process.send_signal(signal.SIGHUP)
    setup.wait_log(f"reload: queue_directory changed from {setup.queue} to "
                   f"{other}; the suite keeps using {setup.queue} until")
    setup.wait_log("reload: receiver_socket changed from")

    # The restarted worker gets the queue in use as an -o option.
    wait_until(lambda: len(setup.starts("worker")) == 2, what="the worker restart")
    argv = setup.starts("worker")[1]["argv"]
    assert f"queue_directory={setup.queue}" in argv
    assert argv[argv.index(f"queue_directory={setup.queue}") - 1] == "-o"
    assert argv[-2:] == ["ready", "-v"]
    assert not other.exists()
    assert setup.socket.stat().st_ino == inode
    assert process.poll() is None


@pytest.mark.skipif(os.geteuid() != 0, reason="service accounts are checked as root")
def test_missing_service_account_refused(setup):
    setup.write_master("receiver dgram - - n - 1 testd -o mail_owner=no-such-user-x\n")
    result = setup.tlsrptd("start-fg")
    assert result.returncode == 1
    assert (f"{setup.etc}/master.cf line 1: service receiver: account "
            '"no-such-user-x" (-o mail_owner) not found') in result.stderr
    assert not setup.queue.exists()


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


def run_check(setup, *args):
    result = setup.tlsrptd("check", *args)
    return result.returncode, result.stdout, result.stderr


def test_check_reports_and_repairs(setup):
    shutil.copy(REPO / "conf" / "tlsrptd-files", setup.etc / "tlsrptd-files")
    key = setup.base / "sasl-password"
    key.write_text("secret\n")
    key.chmod(0o644)
    setup.write_main(smtp_sasl_password_file=str(key))
    setup.start_fg()
    status, out, err = run_check(setup)
    assert f"smtp_sasl_password_file {key} can be read by every user (mode 0644)" in err
    assert status == 1

    # Break the layout in the ways the manifest describes.
    key.chmod(0o600)
    (setup.queue / "tmp").chmod(0o777)
    (setup.queue / "export").rmdir()
    outgoing = setup.queue / "outgoing" / "0123456789ABCDEF01234567"
    outgoing.write_text("x\n")
    outgoing.chmod(0o666)
    if os.geteuid() == 0:
        os.chown(outgoing, 0, 0)
    status, out, err = run_check(setup)
    assert status == 1
    assert f"{setup.queue}/tmp has mode 0777, expected 1770 (tlsrptd-files line" in err
    assert f"{setup.queue}/tmp is writable by every user (mode 0777)" in err
    assert f"directory {setup.queue}/export does not exist" in err
    assert f"{outgoing} has mode 0666, expected 0640" in err
    if os.geteuid() == 0:
        assert f"{outgoing} is owned by 0:0, expected nobody:nogroup" in err
    else:
        assert "not running as root: checking modes, not owners" in out

    status, out, err = run_check(setup, "-f")
    assert status == 0, err
    assert f"tlsrptd: repaired {setup.queue}/export: created with mode 0700" in out
    assert f"tlsrptd: repaired {setup.queue}/tmp: " in out
    assert stat.S_IMODE((setup.queue / "tmp").stat().st_mode) == 0o1770
    assert stat.S_IMODE(outgoing.stat().st_mode) == 0o640
    if os.geteuid() == 0:
        assert pwd.getpwuid(outgoing.stat().st_uid).pw_name == "nobody"
    status, out, err = run_check(setup)
    assert status == 0, err
    assert "tlsrptd: check: 0 errors" in out


def test_check_without_manifest(setup):
    status, out, err = run_check(setup)
    assert status == 1
    assert f"cannot read {setup.etc}/tlsrptd-files: No such file or directory; " \
        "install conf/tlsrptd-files there" in err


def test_check_reads_configuration(setup):
    shutil.copy(REPO / "conf" / "tlsrptd-files", setup.etc / "tlsrptd-files")
    setup.write_main(contact_info=None)
    setup.write_master("worker unix - - n - 2 testd\n")
    status, out, err = run_check(setup)
    assert status == 1
    assert "contact_info is not set" in err
    assert "master.cf line 1: invalid maxproc value" in err


def batch_datagrams(path):
    """The datagrams of a batch file: "TIME JSON" lines after the header."""
    return [json.loads(line.split(" ", 1)[1])
            for line in path.read_text().splitlines()
            if re.match(r"\d{4}-\d\d-\d\dT\S+Z \{", line)]


def test_sigterm_lets_receiver_commit_its_batch():
    """The real receiver closes its open batch when the master stops."""
    from suite import Suite, make_base_dir, sample_files
    base = make_base_dir()
    suite = Suite(base, receiver_batch_interval="1h")
    receiver_line = [line for line in (REPO / "conf" / "master.cf").read_text()
                     .splitlines(keepends=True) if not line.startswith("#")]
    suite.write_config("".join(receiver_line[:2]))
    try:
        suite.console = open(base / "console.log", "ab")
        suite.process = subprocess.Popen(
            [str(TLSRPTD), "-c", str(suite.etc), "start-fg"],
            stdout=suite.console, stderr=subprocess.STDOUT)
        status_file = suite.queue / "pid" / "status"
        wait_until(lambda: status_file.exists() and " ready " in status_file.read_text(),
                   timeout=20, what="the receiver")
        suite.send(*sample_files()[:2])
        sent = [json.loads(sample.read_text()) for sample in sample_files()[:2]]

        # Each datagram goes to the open batch in tmp/ at once.
        wait_until(lambda: sum(len(batch_datagrams(path)) for path in suite.files("tmp"))
                   == 2, timeout=20, what="the datagrams in the open batch")
        assert suite.files("incoming") == []

        suite.process.send_signal(signal.SIGTERM)
        assert suite.process.wait(timeout=20) == 0
        batches = suite.files("incoming")
        assert len(batches) == 1
        assert batch_datagrams(batches[0]) == sent
        assert re.search(r"service receiver: pid \d+ stopped", suite.log())
    finally:
        suite.cleanup()
