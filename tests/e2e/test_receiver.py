"""End-to-end tests of the receiver daemon and tlsrpt-send.

Each test starts the built receiver on a socket that the test creates,
as the master would, in a temporary queue directory, and checks the
files it writes, its log and the status lines it sends. Run as root, the
receiver drops to "nobody", which then owns the queue directories.
"""
import base64
import json
import os
import pathlib
import pwd
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from suite import Suite, make_base_dir, wait_until

REPO = pathlib.Path(__file__).resolve().parents[2]
ROOT = pathlib.Path(os.environ.get("TLSRPTD_ROOT", REPO))
RECEIVER = ROOT / "libexec" / "tlsrptd" / "receiver"
SEND = ROOT / "bin" / "tlsrpt-send"
DATA = REPO / "tests" / "data"
SAMPLES = sorted((DATA / "datagrams").glob("*.json")) + sorted(
    (DATA / "postfix").glob("*.json"))

QUEUE_DIRS = ("tmp", "incoming", "corrupt", "private")
# Time for a start and a batch interval on a loaded machine under a
# sanitizer. A wait that passes returns at once.
TIMEOUT = 20.0

INVALID_F = (b'{"dpv":"1","d":"example.com",'
             b'"pr":"v=TLSRPTv1;rua=mailto:tlsrpt@example.com",'
             b'"policies":[{"policy-type":9,"f":2}]}')


def wait_for(condition, what, timeout=TIMEOUT):
    """Poll condition() until it returns a true value, or fail naming what."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def read_batch(path):
    """Return the JSON lines of a committed batch, checking its frame."""
    lines = path.read_text().split("\n")
    assert lines[0] == "tlsrptd-batch 1", path
    assert lines[-1] == "", f"{path} does not end with a newline"
    blank = lines.index("")
    body = lines[blank + 1:-2]
    assert lines[-2] == f"end {len(body)}", path
    return [line.split(" ", 1)[1] for line in body]


def body_lines(path):
    """Return the whole body lines of an open batch file in tmp/."""
    text = path.read_text()
    if "\n\n" not in text:
        return []
    body = text.split("\n\n", 1)[1]
    return [line for line in body.split("\n")[:-1] if line]


class Receiver:
    """A receiver process on a socket and queue directory of its own."""

    def __init__(self, base):
        self.base = base
        self.queue = base / "queue"
        self.config = base / "etc"
        self.socket_path = base / "tlsrpt.sock"
        self.log_path = base / "receiver.log"
        self.process = None
        self.status_read = None
        self.status_text = ""

        for name in QUEUE_DIRS:
            (self.queue / name).mkdir(parents=True)
        self.config.mkdir()
        self.write_config()
        if os.geteuid() == 0:
            user = pwd.getpwnam("nobody")
            for name in QUEUE_DIRS:
                os.chown(self.queue / name, user.pw_uid, user.pw_gid)

        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(str(self.socket_path))

    def write_config(self, extra=""):
        """Write main.cf with the test values and extra lines."""
        owner = "nobody" if os.geteuid() == 0 else pwd.getpwuid(
            os.geteuid()).pw_name
        (self.config / "main.cf").write_text(
            f"queue_directory = {self.queue}\n"
            f"mail_owner = {owner}\n"
            "organization_name = Receiver Test Org\n"
            "contact_info = tlsrpt-test@example.org\n"
            "myhostname = receiver-test.example.org\n" + extra)

    def start(self, *options):
        """Start the receiver and wait until it reports ready."""
        status_read, status_write = os.pipe()
        fd = self.socket.fileno()
        command = [str(RECEIVER), "-l", str(fd), "-s", str(status_write),
                   "-c", str(self.config), "-S", "-v"]
        for option in options:
            command += ["-o", option]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, pass_fds=(fd, status_write), stderr=log)
        os.close(status_write)
        self.status_read = status_read
        self.status_text = ""
        wait_for(lambda: "ready\n" in self.read_status(), "ready")

    def read_status(self):
        """Return all status lines received so far."""
        while select.select([self.status_read], [], [], 0)[0]:
            chunk = os.read(self.status_read, 4096)
            if not chunk:
                break
            self.status_text += chunk.decode()
        if self.process.poll() is not None and "ready" not in self.status_text:
            pytest.fail(f"receiver exited with {self.process.returncode}:\n"
                        f"{self.log()}")
        return self.status_text

    def stop(self, sig=signal.SIGTERM):
        """Send sig and return the exit status."""
        self.process.send_signal(sig)
        status = self.process.wait(timeout=TIMEOUT)
        os.close(self.status_read)
        return status

    def log(self):
        return self.log_path.read_text() if self.log_path.exists() else ""

    def send_files(self, *paths, check=True):
        result = subprocess.run(
            [str(SEND), "-s", str(self.socket_path), *map(str, paths)],
            capture_output=True, text=True, timeout=TIMEOUT)
        if check:
            assert result.returncode == 0, result.stderr
        return result

    def send_raw(self, data):
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.sendto(data, str(self.socket_path))

    def incoming(self):
        """Return every JSON line committed so far, by batch file."""
        return {path.name: read_batch(path)
                for path in sorted((self.queue / "incoming").iterdir())}

    def incoming_lines(self):
        return [line for lines in self.incoming().values() for line in lines]

    def open_batches(self):
        return sorted((self.queue / "tmp").glob("receiver.*"))

    def corrupt_files(self):
        return sorted((self.queue / "corrupt").iterdir())


@pytest.fixture
def receiver():
    for program in (RECEIVER, SEND):
        if not program.exists():
            pytest.fail(f"{program} not found: run make first, or set "
                        "TLSRPTD_ROOT to the build tree")

    # Run as root, the receiver reloads main.cf as "nobody", which must
    # be able to reach it; pytest's tmp_path is private to its user.
    base = pathlib.Path(tempfile.mkdtemp(prefix="tlsrptd-receiver-"))
    base.chmod(0o755)
    instance = Receiver(base)
    yield instance
    if instance.process is not None and instance.process.poll() is None:
        instance.process.kill()
        instance.process.wait()
    instance.socket.close()
    shutil.rmtree(base)


def parse_corrupt(path):
    """Split a corrupt file into its header fields, raw bytes and end count."""
    lines = path.read_text().split("\n")
    assert lines[0] == "tlsrptd-corrupt 1"
    blank = lines.index("")
    fields = dict(line.split(": ", 1) for line in lines[1:blank])
    end = lines[-2]
    assert end.startswith("end ")
    raw = base64.b64decode("".join(lines[blank + 1:-2]))
    return fields, raw, int(end[4:])


def test_samples_reach_incoming(receiver):
    receiver.start()
    result = receiver.send_files(*SAMPLES)
    assert f"sent {len(SAMPLES)} datagrams, 0 dropped" in result.stderr

    lines = wait_for(lambda: len(receiver.incoming_lines()) == len(SAMPLES)
                     and receiver.incoming_lines(),
                     f"{len(SAMPLES)} datagrams in incoming/")
    sent_domains = sorted(json.loads(path.read_bytes())["d"]
                          for path in SAMPLES)
    assert sorted(json.loads(line)["d"] for line in lines) == sent_domains
    assert receiver.corrupt_files() == []

    assert receiver.stop() == 0
    assert receiver.open_batches() == []
    assert f"received={len(SAMPLES)} accepted={len(SAMPLES)} rejected=0" \
        in receiver.log()
    assert "batch committed into incoming/" in receiver.log()


def test_batch_size_closes_batch(receiver):
    receiver.start("receiver_batch_size=5", "receiver_batch_interval=3600")

    # Send in steps, so that the commit thread has the next batch file
    # ready each time. In a burst the receiver exceeds the size instead of
    # waiting for the next file.
    receiver.send_files(*SAMPLES[:5])
    wait_for(lambda: len(receiver.incoming()) == 1, "the first full batch")
    receiver.send_files(*SAMPLES[5:12])
    wait_for(lambda: len(receiver.incoming()) == 2, "the second full batch")
    assert [len(lines) for lines in receiver.incoming().values()] == [5, 5]

    assert receiver.stop() == 0
    assert sorted(len(lines) for lines in receiver.incoming().values()) == [
        2, 5, 5]


def test_malformed_datagram_goes_to_corrupt(receiver):
    receiver.start()
    receiver.send_raw(INVALID_F)

    path = wait_for(lambda: receiver.corrupt_files(), "a corrupt file")[0]
    fields, raw, end = parse_corrupt(path)
    assert "policies[0].f" in fields["reason"]
    assert fields["peer-uid"] == str(os.geteuid())
    assert fields["size"] == str(len(INVALID_F))
    assert raw == INVALID_F
    assert end == len(INVALID_F)
    # The receiver logs the rejection after the file is in corrupt/.
    wait_for(lambda: f"rejected datagram from uid {os.geteuid()}: "
             "policies[0].f" in receiver.log(), "the rejection in the log")

    # The receiver is still there and takes the next valid datagram.
    receiver.send_files(SAMPLES[0])
    wait_for(lambda: len(receiver.incoming_lines()) == 1,
             "the valid datagram in incoming/")
    assert receiver.process.poll() is None
    assert receiver.stop() == 0
    assert "received=2 accepted=1 rejected=1" in receiver.log()


def test_version_and_count_mismatch_kept(receiver):
    receiver.start()
    datagram = (b'{"dpv":"2","d":"example.com","pr":"v=TLSRPTv1;'
                b'rua=mailto:tlsrpt@example.com","policies":[{'
                b'"policy-type":9,"t":3,"f":1,'
                b'"failure-details":[{"c":201}]}]}')
    receiver.send_raw(datagram)
    receiver.send_raw(datagram)

    wait_for(lambda: len(receiver.incoming_lines()) == 2,
             "both datagrams in incoming/")
    assert receiver.stop() == 0
    log = receiver.log()
    assert log.count('datagram protocol version "2" from uid') == 1
    assert log.count("policies[0].t is 3 but failure-details has 1") == 2
    assert "count_mismatch=2" in log
    assert receiver.corrupt_files() == []


def test_oversized_datagram_truncated(receiver):
    receiver.start()
    data = b"{" + b" " * 69998 + b"}"
    receiver.send_raw(data)

    path = wait_for(lambda: receiver.corrupt_files(), "a corrupt file")[0]
    fields, raw, end = parse_corrupt(path)
    assert fields["reason"] == "datagram larger than 65536 bytes"
    assert fields["size"] == str(len(data))
    assert end == 65536
    assert raw == data[:65536]
    assert receiver.stop() == 0
    assert "truncated=1" in receiver.log()


def test_corrupt_limit_caps_files(receiver):
    receiver.start("receiver_corrupt_limit=2")
    for _ in range(4):
        receiver.send_raw(b"not json")
    receiver.send_files(SAMPLES[0])

    wait_for(lambda: len(receiver.incoming_lines()) == 1,
             "the valid datagram in incoming/")
    assert receiver.stop() == 0
    assert len(receiver.corrupt_files()) == 2
    assert "rejected=4" in receiver.log()
    assert "corrupt_dropped=2" in receiver.log()
    assert "receiver_corrupt_limit = 2" in receiver.log()


def test_sigterm_commits_open_batch(receiver):
    receiver.start("receiver_batch_interval=3600")
    receiver.send_files(*SAMPLES[:3])
    wait_for(lambda: receiver.open_batches()
             and len(body_lines(receiver.open_batches()[0])) == 3,
             "three lines in the open batch")
    assert receiver.incoming() == {}

    assert receiver.stop() == 0
    assert len(receiver.incoming_lines()) == 3
    assert receiver.open_batches() == []


def test_sigkill_then_restart_recovers(receiver):
    receiver.start("receiver_batch_interval=3600")
    receiver.send_files(*SAMPLES[:4])
    wait_for(lambda: any(len(body_lines(path)) == 4
                         for path in receiver.open_batches()),
             "four lines in the open batch")
    open_batch = next(path for path in receiver.open_batches()
                      if len(body_lines(path)) == 4)
    assert receiver.stop(signal.SIGKILL) == -signal.SIGKILL

    # A write cut short by the kill leaves a torn last line.
    with open(open_batch, "a") as batch:
        batch.write('2026-01-01T00:00:00Z {"dpv":"1","d":"torn.exa')
    queue_id = open_batch.name.split(".", 1)[1]

    # A corrupt file in progress is removed, not recovered.
    leftover = (receiver.queue / "tmp"
                / "receiver-corrupt.06B13295B70BF1002DC00002")
    leftover.write_text("tlsrptd-corrupt 1\nreceived: 2026-")

    receiver.start("receiver_batch_interval=3600")
    assert not leftover.exists()
    batches = receiver.incoming()
    assert list(batches) == [queue_id]
    assert len(batches[queue_id]) == 4
    assert f"{queue_id}: recovered unfinished batch into incoming/, " \
        "datagrams=4, dropped=1" in receiver.log()
    counters = wait_for(lambda: status_counters(receiver).get("recovered") == 4
                        and status_counters(receiver),
                        "the recovery in the status line")
    assert counters["torn"] == 1
    assert [path.name for path in receiver.open_batches()] != [
        open_batch.name]
    assert receiver.stop() == 0


def test_reload_changes_batch_size(receiver):
    receiver.write_config("receiver_batch_interval = 3600\n")
    receiver.start()
    receiver.send_files(SAMPLES[0])
    wait_for(lambda: any(len(body_lines(path)) == 1
                         for path in receiver.open_batches()),
             "one line in the open batch")

    receiver.write_config("receiver_batch_interval = 3600\n"
                          "receiver_batch_size = 2\n")
    receiver.process.send_signal(signal.SIGHUP)
    wait_for(lambda: "configuration reloaded" in receiver.log(),
             "the reload")
    receiver.send_files(SAMPLES[1])
    wait_for(lambda: len(receiver.incoming_lines()) == 2,
             "a batch of two in incoming/")
    assert receiver.stop() == 0


def test_without_socket_fd_refuses_to_start(receiver):
    result = subprocess.run(
        [str(RECEIVER), "-c", str(receiver.config), "-S"],
        capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 1
    assert "fatal: no socket" in result.stderr


def test_stream_socket_refused(receiver):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stream:
        stream.bind(str(receiver.base / "stream.sock"))
        result = subprocess.run(
            [str(RECEIVER), "-l", str(stream.fileno()), "-c",
             str(receiver.config), "-S"], pass_fds=(stream.fileno(),),
            capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 1
    assert "not a unix datagram socket" in result.stderr


def test_send_without_receiver_names_socket(tmp_path):
    missing = tmp_path / "missing.sock"
    result = subprocess.run([str(SEND), "-s", str(missing), str(SAMPLES[0])],
                            capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 1
    assert str(missing) in result.stderr
    assert "is tlsrptd running?" in result.stderr


def test_send_drops_when_queue_full(receiver):
    # No receiver reads the socket, so its queue fills up and -n drops the
    # rest.
    lines = "\n".join(SAMPLES[0].read_text().strip() for _ in range(2000))
    result = subprocess.run(
        [str(SEND), "-n", "-s", str(receiver.socket_path)], input=lines,
        capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 1
    summary = result.stderr.strip().splitlines()[-1]
    sent, dropped = [int(word) for word in summary.split()
                     if word.isdigit()]
    assert sent + dropped == 2000
    assert dropped > 0


def status_counters(receiver):
    """Return the counters of the last status line, as a dict of ints."""
    lines = [line for line in receiver.read_status().splitlines()
             if line.startswith("status ")]
    if not lines:
        return {}
    return {key: int(value) for key, value in
            (word.split("=", 1) for word in lines[-1].split()[1:])}


def classified(counters):
    """Tell whether a status line counts every received datagram as
    accepted or rejected, and every rejection in one class.

    The receive thread counts a datagram as received before it parses
    it, and the commit thread may format the status line in between."""
    rejected_classes = ("rejected_size", "rejected_json", "rejected_utf8",
                        "rejected_limit", "rejected_schema",
                        "rejected_unauthorized")
    return (counters["accepted"] + counters["rejected"] == counters["received"]
            and sum(counters[name] for name in rejected_classes)
            == counters["rejected"])


def stop_counters(receiver):
    """Return the counters of the receiver's "stopping:" log line."""
    line = [line for line in receiver.log().splitlines()
            if ": stopping: " in line][-1]
    return {key: int(value) for key, value in
            (word.split("=", 1) for word in line.split(": stopping: ")[1]
             .split())}


def test_status_counts_rejections_by_class(receiver):
    receiver.start()
    receiver.send_files(SAMPLES[0])
    receiver.send_raw(b"{not json")                       # json
    receiver.send_raw(INVALID_F)                          # schema
    receiver.send_raw(INVALID_F.replace(b"example.com",   # utf8
                                        b"\xffexample.com"))
    receiver.send_raw(b"[" * 20 + b"]" * 20)              # limit
    receiver.send_raw(b"{" + b" " * 69998 + b"}")         # size

    def all_six_classified():
        counters = status_counters(receiver)
        return (counters.get("received") == 6 and classified(counters)
                and counters)

    counters = wait_for(all_six_classified,
                        "a status line that classifies 6 datagrams")
    assert counters["accepted"] == 1
    assert counters["rejected"] == 5
    assert counters["rejected_json"] == 1
    assert counters["rejected_schema"] == 1
    assert counters["rejected_utf8"] == 1
    assert counters["rejected_limit"] == 1
    assert counters["rejected_size"] == 1
    assert counters["rejected_unauthorized"] == 0
    assert counters["truncated"] == 1
    assert counters["bytes"] == sum(
        len(data) for data in (
            SAMPLES[0].read_bytes(), b"{not json", INVALID_F,
            INVALID_F.replace(b"example.com", b"\xffexample.com"),
            b"[" * 20 + b"]" * 20, b"{" + b" " * 69998 + b"}"))
    assert all(len(line) < 4096
               for line in receiver.read_status().splitlines())
    assert receiver.stop() == 0


def test_authorized_users_reject_others(receiver):
    # The test's own uid is not in the list, so every datagram it sends
    # is unauthorized.
    other_name = "nobody" if os.geteuid() == 0 else "root"
    other_uid = 4242 if os.geteuid() != 4242 else 4243
    receiver.start(f"receiver_authorized_users={other_name}, {other_uid}")
    assert "accepting datagrams only from the 2 users of " \
        "receiver_authorized_users" in receiver.log()
    for _ in range(3):
        receiver.send_files(SAMPLES[0])
    receiver.send_raw(b"not json either")

    wait_for(lambda: status_counters(receiver).get("received") == 4,
             "a status line for 4 datagrams")
    assert receiver.stop() == 0
    counters = stop_counters(receiver)
    assert counters["accepted"] == 0
    assert counters["rejected"] == 4
    assert counters["rejected_unauthorized"] == 4
    assert counters["rejected_json"] == 0
    assert receiver.incoming() == {}
    assert receiver.corrupt_files() == []
    assert f"from unauthorized uid {os.geteuid()}: not in " \
        "receiver_authorized_users; not saved" in receiver.log()


def test_authorized_users_admit_listed(receiver):
    own_name = pwd.getpwuid(os.geteuid()).pw_name
    receiver.start(f"receiver_authorized_users=4242,{own_name}")
    receiver.send_files(*SAMPLES[:2])
    wait_for(lambda: status_counters(receiver).get("received") == 2,
             "a status line for 2 datagrams")
    assert receiver.stop() == 0
    assert len(receiver.incoming_lines()) == 2
    assert stop_counters(receiver)["rejected_unauthorized"] == 0


def test_unknown_authorized_user_refused(receiver):
    receiver.write_config("receiver_authorized_users = postfix-no-such-user\n")
    result = subprocess.run(
        [str(RECEIVER), "-l", str(receiver.socket.fileno()), "-c",
         str(receiver.config), "-S"], pass_fds=(receiver.socket.fileno(),),
        capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 1
    assert 'fatal: receiver_authorized_users: unknown user ' \
        '"postfix-no-such-user"' in result.stderr


def open_files(pid):
    """Return the paths of the files that process pid has open."""
    directory = pathlib.Path(f"/proc/{pid}/fd")
    paths = []
    for entry in directory.iterdir():
        try:
            paths.append(os.readlink(entry))
        except FileNotFoundError:
            pass  # closed while listing
    return paths


def test_passed_file_descriptors_closed(receiver):
    receiver.start()
    marker = receiver.base / "passed-file"
    marker.write_text("not for the receiver\n")
    data = SAMPLES[0].read_bytes()
    with open(marker) as passed, \
            socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        sender.connect(str(receiver.socket_path))
        for _ in range(5):
            socket.send_fds(sender, [data], [passed.fileno()] * 3)
    wait_for(lambda: status_counters(receiver).get("accepted") == 5,
             "5 accepted datagrams")
    assert str(marker) not in open_files(receiver.process.pid)
    assert receiver.stop() == 0


def test_garbage_flood_stays_bounded(receiver):
    """20,000 garbage datagrams fill neither corrupt/ nor the log, and
    valid datagrams sent at the same time are all accepted."""
    limit = 50
    receiver.start(f"receiver_corrupt_limit={limit}")
    valid = SAMPLES[0].read_bytes()
    garbage_count, valid_count = 20000, 2000

    def send_many(payload_for, count):
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.connect(str(receiver.socket_path))
            for number in range(count):
                sender.send(payload_for(number))

    flood = threading.Thread(target=send_many, args=(
        lambda number: b"garbage %d " % number + b"x" * (number % 900),
        garbage_count))
    flood.start()
    send_many(lambda number: valid, valid_count)
    flood.join()

    total = garbage_count + valid_count
    wait_for(lambda: status_counters(receiver).get("received") == total,
             f"a status line for {total} datagrams", timeout=30)
    assert receiver.stop() == 0

    counters = stop_counters(receiver)
    assert counters["accepted"] == valid_count
    assert counters["rejected"] == garbage_count
    assert counters["rejected_json"] == garbage_count
    assert len(receiver.incoming_lines()) == valid_count
    assert len(receiver.corrupt_files()) == limit
    assert counters["corrupt_dropped"] == garbage_count - limit

    # Rate limits: at most 10 "rejected datagram" lines a minute for saved
    # datagrams, one for those over the cap, and one line about the full
    # corrupt queue, whatever the flood.
    log = receiver.log().splitlines()
    assert sum("warning: rejected datagram from" in line
               for line in log) <= 11, "\n".join(log)
    assert "not saved because corrupt/ holds 50 files" in receiver.log()
    assert len(log) < 60, "\n".join(log)


def test_tlsrptd_status_shows_counters():
    """Under the master, "tlsrptd status" shows the receiver's counters."""
    suite = Suite(make_base_dir())
    try:
        suite.start()
        suite.send(*SAMPLES[:3])
        suite.send_bytes(b"{not json")

        def receiver_line():
            status = suite.command("status").stdout
            lines = [line for line in status.splitlines()
                     if line.startswith("receiver ")]
            if not lines or "received=4 " not in lines[0]:
                return None
            counters = {key: int(value) for key, value in
                        re.findall(r"\b(\w+)=(\d+)", lines[0])}
            return classified(counters) and lines[0]

        line = wait_until(receiver_line, what="the receiver's counters in "
                          "tlsrptd status")
        assert "accepted=3 rejected=1 " in line
        assert "rejected_json=1 " in line
    finally:
        suite.cleanup()
