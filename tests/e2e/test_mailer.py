"""End-to-end tests of the mailer daemon against real SMTP peers on 127.0.0.1.

Each test builds a queue directory and main.cf in a temporary directory,
writes delivery files in the documented text format (the report made here
with json and gzip), runs the built mailer in the foreground and checks
where the files go, what the mailer logs and what the SMTP server received.
The SMTP server is aiosmtpd; protocol cases that aiosmtpd cannot produce
(multi-line greetings, silence, malformed replies) use a small scripted
server. Run as root, the mailer drops to the tlsrptd account (nobody if
that account is missing), so the test hands the queue to that account.
"""

import asyncio
import base64
import calendar
import email
import email.policy
import email.utils
import fcntl
import gzip
import itertools
import json
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time

import pytest
from aiosmtpd.controller import Controller

ROOT = os.environ.get(
    "TLSRPTD_ROOT",
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
MAILER = os.path.join(ROOT, "libexec", "tlsrptd", "mailer")

QUEUE_DIRS = ("tmp", "outgoing", "deferred", "hold", "sent", "failed",
              "corrupt", "private")
SUBMITTER = "reports.example.net"
CONTACT = "tlsrpt-noreply@" + SUBMITTER
ENVELOPE_SENDER = "bounces@" + SUBMITTER
DAY = "2026-12-04"
DAY_START = 1796342400
# Time for a start, a retry after minimal_backoff_time and a delivery on
# a loaded machine under a sanitizer. A wait that passes returns at once.
WAIT_SECONDS = 20.0
# The mailer scans its queue this often without a wakeup (SCAN_INTERVAL
# in src/mailer/mailer.c).
SCAN_SECONDS = 60

_id_counter = itertools.count()


def free_port():
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_queue_id():
    """Return a queue ID in the suite's format: 24 upper-case hex digits."""
    now = time.time()
    return "%09X%05X%06X%04X" % (int(now) & 0xFFFFFFFFF,
                                 int(now * 1e6) % 1000000,
                                 os.getpid() & 0xFFFFFF,
                                 next(_id_counter) & 0xFFFF)


def make_report(domain="example.com"):
    """Return an RFC 8460 report for domain and its gzip'd JSON."""
    report = {
        "organization-name": "Example Reports",
        "date-range": {"start-datetime": DAY + "T00:00:00Z",
                       "end-datetime": DAY + "T23:59:59Z"},
        "contact-info": CONTACT,
        "report-id": "%s.%s.0123456789abcdef@%s" % (DAY, domain, SUBMITTER),
        "policies": [{
            "policy": {"policy-type": "sts", "policy-domain": domain,
                       "policy-string": ["version: STSv1", "mode: enforce"],
                       "mx-host": ["mx1." + domain]},
            "summary": {"total-successful-session-count": 12,
                        "total-failure-session-count": 1},
            "failure-details": [{"result-type": "certificate-expired",
                                 "receiving-mx-hostname": "mx1." + domain,
                                 "failed-session-count": 1}],
        }],
    }
    return report, gzip.compress(json.dumps(report).encode())


def report_filename(domain):
    return "%s!%s!%d!%d!0123456789abcdef.json.gz" % (
        SUBMITTER, domain, DAY_START, DAY_START + 86399)


def delivery_text(fields, payload):
    """Return a delivery file: version line, header, blank line, base64, end."""
    lines = ["tlsrptd-delivery 1"]
    lines += ["%s: %s" % item for item in fields.items()]
    lines.append("")
    encoded = base64.b64encode(payload).decode()
    lines += [encoded[i:i + 76] for i in range(0, len(encoded), 76)]
    lines.append("end %d" % len(payload))
    return "\n".join(lines) + "\n"


def read_header(path):
    """Return the header fields of a queue file as a dict."""
    fields = {}
    with open(path) as handle:
        assert handle.readline().startswith("tlsrptd-delivery ")
        for line in handle:
            if line == "\n":
                break
            name, _, value = line.rstrip("\n").partition(": ")
            fields[name] = value
    return fields


class Recorder:
    """aiosmtpd handler that records messages or rejects RCPT on demand.

    For each message it also records whether the session ran over TLS
    and the user name it authenticated with (None without AUTH).
    """

    def __init__(self):
        self.messages = []
        self.sessions = []
        self.rcpt_reply = None
        self.rcpt_replies = []  # replies for the next RCPT commands
        self.data_delay = 0.0
        self.active = 0
        self.max_active = 0

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        if self.rcpt_replies:
            return self.rcpt_replies.pop(0)
        if self.rcpt_reply is not None:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        # The handlers run in one event loop thread, so the counters
        # need no lock.
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        await asyncio.sleep(self.data_delay)
        self.active -= 1
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                              envelope.original_content))
        login = session.login_data if session.authenticated else None
        self.sessions.append((session.ssl is not None, login))
        return "250 2.0.0 Ok: queued as TEST%d" % len(self.messages)


class ScriptedServer:
    """An SMTP peer on 127.0.0.1 that sends fixed replies.

    script maps the first word of each client command (upper case, "" for
    the greeting) to the reply bytes. A command without an entry gets no
    reply. After a 354 reply to DATA, the content is read up to the final
    dot, which gets the reply under ".". The server takes `connections`
    connections one after the other, and closes a connection right after
    its reply to a command named in close_after.
    """

    def __init__(self, script, connections=1, close_after=()):
        self.script = script
        self.close_after = set(close_after)
        self.connections = connections
        self.commands = []
        self.messages = []
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(connections)
        self.listener.settimeout(WAIT_SECONDS * 2)
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _reply(self, conn, key):
        if key in self.script:
            conn.sendall(self.script[key])

    def _serve(self):
        for _ in range(self.connections):
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn, conn.makefile("rb") as reader:
                self._converse(conn, reader)

    def _converse(self, conn, reader):
        self._reply(conn, "")
        in_data = False
        content = []
        for line in reader:
            if in_data:
                if line == b".\r\n":
                    in_data = False
                    self.messages.append(b"".join(content))
                    self._reply(conn, ".")
                else:
                    content.append(line)
                continue
            command = line.decode("ascii", "replace").strip()
            self.commands.append(command)
            verb = command.split(" ")[0].split(":")[0].upper()
            if verb == "DATA" and self.script.get("DATA", b"")[:3] == b"354":
                in_data = True
            self._reply(conn, verb)
            if verb == "QUIT" or verb in self.close_after:
                break

    def close(self):
        self.listener.close()
        self.thread.join(WAIT_SECONDS)


class CertificateAuthority:
    """A certificate authority made with openssl at test time.

    It signs server certificates for the names given, so that HTTPS and
    STARTTLS peers on 127.0.0.1 can be verified against it alone.
    """

    def __init__(self, directory):
        self.directory = directory
        self.cert = os.path.join(directory, "ca.crt")
        self.key = os.path.join(directory, "ca.key")
        self._openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
                      "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                      self.key, "-out", self.cert, "-days", "2", "-subj",
                      "/CN=tlsrptd test CA", "-addext",
                      "basicConstraints=critical,CA:TRUE", "-addext",
                      "keyUsage=critical,keyCertSign,cRLSign")

    @staticmethod
    def _openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True,
                       timeout=60)

    def issue(self, name, alt_names):
        """Make a server key and certificate; return (cert, key) paths."""
        key = os.path.join(self.directory, name + ".key")
        csr = os.path.join(self.directory, name + ".csr")
        cert = os.path.join(self.directory, name + ".crt")
        extensions = os.path.join(self.directory, name + ".ext")
        with open(extensions, "w") as handle:
            handle.write("subjectAltName=%s\n" % ",".join(alt_names))
            handle.write("extendedKeyUsage=serverAuth\n")
        self._openssl("req", "-new", "-newkey", "ec", "-pkeyopt",
                      "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                      "-out", csr, "-subj", "/CN=" + name)
        self._openssl("x509", "-req", "-in", csr, "-CA", self.cert,
                      "-CAkey", self.key, "-CAcreateserial", "-out", cert,
                      "-days", "2", "-extfile", extensions)
        return cert, key

    def server_context(self, cert, key):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        return context


class MailerEnv:
    """A queue directory, main.cf, an SMTP server and the running mailer."""

    def __init__(self, base):
        self.base = base
        self.queue = os.path.join(base, "queue")
        self.confdir = os.path.join(base, "etc")
        self.logfile = os.path.join(base, "mailer.log")
        self.process = None
        self.expect_clean_exit = True
        self.recorder = Recorder()
        self.smtp_port = free_port()
        self.controller = Controller(self.recorder, hostname="127.0.0.1",
                                     port=self.smtp_port)
        self.owner = None
        if os.geteuid() == 0:
            for name in ("tlsrptd", "nobody"):
                try:
                    self.owner = pwd.getpwnam(name)
                    break
                except KeyError:
                    continue
        os.makedirs(self.confdir)
        for name in QUEUE_DIRS:
            os.makedirs(os.path.join(self.queue, name))
        self.give(self.queue)
        os.mkfifo(os.path.join(self.queue, "private", "mailer"), 0o600)
        self.give(os.path.join(self.queue, "private", "mailer"))
        for name in QUEUE_DIRS:
            self.give(os.path.join(self.queue, name))

    def use_smtp(self, **parameters):
        """Replace the SMTP server by one with aiosmtpd's parameters
        (tls_context, require_starttls, authenticator, ...)."""
        self.controller = Controller(self.recorder, hostname="127.0.0.1",
                                     port=self.smtp_port, **parameters)

    def give(self, path):
        """Hand path to the account the mailer runs as, when run as root."""
        if self.owner is not None:
            os.chown(path, self.owner.pw_uid, self.owner.pw_gid)

    def write_config(self, **extra):
        settings = {
            "queue_directory": self.queue,
            "organization_name": "Example Reports",
            "contact_info": CONTACT,
            "report_envelope_sender": ENVELOPE_SENDER,
            "relayhost": "[127.0.0.1]:%d" % self.smtp_port,
            "myhostname": "reporter.example.net",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "4s",
            "smtp_connect_timeout": "2s",
            "smtp_timeout": "2s",
        }
        if self.owner is not None:
            settings["mail_owner"] = self.owner.pw_name
        settings.update(extra)
        with open(os.path.join(self.confdir, "main.cf"), "w") as handle:
            for name, value in settings.items():
                handle.write("%s = %s\n" % (name, value))

    def queue_delivery(self, destination, directory="outgoing",
                       domain="example.com", rua=None, payload=None,
                       **fields):
        """Write a delivery file the way the reporter does; return its ID."""
        report, gzipped = make_report(domain)
        header = {
            "report-id": report["report-id"],
            "report-domain": domain,
            "day": DAY,
            "destination": destination,
            "rua": rua if rua is not None else destination,
            "submitter": SUBMITTER,
            "filename": report_filename(domain),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "attempts": "0",
            "first-attempt": "-",
            "next-attempt": "-",
            "last-error": "-",
        }
        header.update(fields)
        text = delivery_text(header, gzipped if payload is None else payload)
        return self.queue_raw(text, directory)

    def queue_raw(self, text, directory="outgoing"):
        queue_id = make_queue_id()
        temp = os.path.join(self.queue, "tmp", "test." + queue_id)
        with open(temp, "w") as handle:
            handle.write(text)
        self.give(temp)
        os.rename(temp, os.path.join(self.queue, directory, queue_id))
        return queue_id

    def start(self):
        self.controller.start()
        self.log_handle = open(self.logfile, "wb")
        self.process = subprocess.Popen(
            [MAILER, "-c", self.confdir, "-S"], stdin=subprocess.DEVNULL,
            stdout=self.log_handle, stderr=subprocess.STDOUT)

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(WAIT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None:
            self.log_handle.close()
        self.controller.stop()

    def check_clean_exit(self):
        """Fail unless the mailer stopped with status 0 and no sanitizer report."""
        if self.process is None:
            return
        log = self.log()
        assert "AddressSanitizer" not in log, log
        assert "runtime error" not in log, log
        assert self.process.returncode == 0, log

    def log(self):
        with open(self.logfile, errors="replace") as handle:
            return handle.read()

    def path(self, directory, name):
        return os.path.join(self.queue, directory, name)

    def wait_for(self, condition, what, timeout=WAIT_SECONDS):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = condition()
            if result:
                return result
            if self.process is not None and self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError("timed out waiting for %s\nmailer log:\n%s"
                             % (what, self.log()))

    def wait_for_file(self, directory, name, timeout=WAIT_SECONDS):
        path = self.path(directory, name)
        return self.wait_for(lambda: os.path.exists(path) and path,
                             "%s/%s" % (directory, name), timeout)

    def trigger(self, code):
        fd = os.open(self.path("private", "mailer"), os.O_WRONLY | os.O_NONBLOCK)
        try:
            os.write(fd, code)
        finally:
            os.close(fd)


@pytest.fixture
def env():
    if not os.access(MAILER, os.X_OK):
        pytest.fail("mailer not built: %s (run make, or set TLSRPTD_ROOT)"
                    % MAILER)
    base = tempfile.mkdtemp(prefix="tlsrptd-mailer-")
    os.chmod(base, 0o755)
    environment = MailerEnv(base)
    yield environment
    environment.stop()
    if environment.expect_clean_exit:
        environment.check_clean_exit()
    shutil.rmtree(base, ignore_errors=True)


def parse_message(raw):
    return email.message_from_bytes(raw, policy=email.policy.default)


def check_report_message(raw, domain, recipient):
    """Check a message the way a report receiver reads it."""
    for line in raw.split(b"\r\n")[:-1]:
        assert b"\n" not in line, "bare LF"
        assert b"\r" not in line, "bare CR"
        assert len(line) <= 78, line
        assert max(line, default=0) < 0x80, line
    assert raw.endswith(b"\r\n")

    message = parse_message(raw)
    report, _ = make_report(domain)
    for name in ("Date", "From", "To", "Subject", "Message-ID", "MIME-Version",
                 "Auto-Submitted", "TLS-Report-Domain",
                 "TLS-Report-Submitter", "TLS-Required", "Content-Type"):
        assert len(message.get_all(name, [])) == 1, name
    assert message["From"] == CONTACT
    assert message["To"] == recipient
    assert message["Subject"] == (
        "Report Domain: %s Submitter: %s Report-ID: <%s>"
        % (domain, SUBMITTER, report["report-id"]))
    assert message["Message-ID"].endswith("@%s>" % SUBMITTER)
    assert email.utils.parsedate_to_datetime(message["Date"]) is not None
    assert message["MIME-Version"] == "1.0"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["TLS-Report-Domain"] == domain
    assert message["TLS-Report-Submitter"] == SUBMITTER
    assert message["TLS-Required"] == "No"
    assert message.get_content_type() == "multipart/report"
    assert message.get_param("report-type") == "tlsrpt"

    parts = list(message.iter_parts())
    assert [part.get_content_type() for part in parts] == [
        "text/plain", "application/tlsrpt+gzip"]
    text = parts[0].get_content()
    assert "This is an aggregate TLS report from %s" % SUBMITTER in text
    assert "Successful sessions: 12" in text
    assert "certificate-expired: 1" in text

    attachment = parts[1]
    assert attachment["Content-Transfer-Encoding"] == "base64"
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_filename() == report_filename(domain)
    assert attachment.get_param("name") == report_filename(domain)
    assert json.loads(gzip.decompress(attachment.get_content())) == report


def test_display_name_sender_gives_envelope_address(env):
    # report_envelope_sender defaults to $report_sender, which may carry a
    # display name; MAIL FROM gets the address alone.
    sender = "TLS Reports <reports@%s>" % SUBMITTER
    env.write_config(report_sender=sender,
                     report_envelope_sender="$report_sender")
    queue_id = env.queue_delivery("mailto:tlsrpt@example.com")
    env.start()

    env.wait_for_file("sent", queue_id)
    mail_from, rcpt_tos, raw = env.recorder.messages[0]
    assert mail_from == "reports@%s" % SUBMITTER
    assert rcpt_tos == ["tlsrpt@example.com"]
    assert parse_message(raw)["From"] == sender


def test_mailto_delivered_by_smtp(env):
    env.write_config()
    queue_id = env.queue_delivery("mailto:tlsrpt@example.com")
    env.start()

    sent = env.wait_for_file("sent", queue_id)
    assert not os.path.exists(env.path("outgoing", queue_id))
    assert len(env.recorder.messages) == 1
    mail_from, rcpt_tos, raw = env.recorder.messages[0]
    assert mail_from == ENVELOPE_SENDER
    assert rcpt_tos == ["tlsrpt@example.com"]
    check_report_message(raw, "example.com", "tlsrpt@example.com")
    assert parse_message(raw)["Message-ID"] == "<%s.1@%s>" % (queue_id,
                                                             SUBMITTER)

    header = read_header(sent)
    assert header["attempts"] == "1"
    assert header["first-attempt"] != "-"
    assert header["last-error"] == "-"
    env.wait_for(lambda: "status=sent" in env.log(), "the log line")
    assert ("%s: to=<tlsrpt@example.com>, relay=127.0.0.1[127.0.0.1]:%d, "
            "delay=" % (queue_id, env.smtp_port)) in env.log()
    assert "status=sent (250 2.0.0 Ok: queued as TEST1)" in env.log()


def test_4xx_reply_deferred(env):
    env.write_config(minimal_backoff_time="300s", maximal_backoff_time="4000s")
    env.recorder.rcpt_reply = "451 4.3.0 Try again later"
    queue_id = env.queue_delivery("mailto:tlsrpt@example.com")
    env.start()

    deferred = env.wait_for_file("deferred", queue_id)
    header = read_header(deferred)
    assert header["attempts"] == "1"
    assert header["first-attempt"] != "-"
    assert "451 4.3.0 Try again later" in header["last-error"]
    assert "in reply to RCPT TO command" in header["last-error"]
    next_attempt = time.mktime(time.strptime(header["next-attempt"],
                                             "%Y-%m-%dT%H:%M:%SZ"))
    first_attempt = time.mktime(time.strptime(header["first-attempt"],
                                              "%Y-%m-%dT%H:%M:%SZ"))
    assert 300 <= next_attempt - first_attempt <= 331
    assert not os.path.exists(env.path("outgoing", queue_id))
    assert env.recorder.messages == []
    env.wait_for(lambda: "status=deferred" in env.log(), "the log line")
    assert "%s: to=<tlsrpt@example.com>" % queue_id in env.log()


def seconds_between(header, start, end):
    """Return the seconds from header field start to header field end."""
    times = [calendar.timegm(time.strptime(header[name], "%Y-%m-%dT%H:%M:%SZ"))
             for name in (start, end)]
    return times[1] - times[0]


def test_retry_delay_doubles_to_cap(env):
    # retry_delay in src/mailer/deliver.c waits minimal_backoff_time,
    # doubled for each attempt before this one and capped at
    # maximal_backoff_time, then adds a jitter of 0 to 10 % of that.
    env.write_config(minimal_backoff_time="300s", maximal_backoff_time="4000s")
    env.recorder.rcpt_reply = "451 4.3.0 Try again later"
    # The largest attempts value a delivery file may contain
    # (DELIVERY_MAX_ATTEMPTS in src/util/delivery_file.h): the count stops
    # there, so that the file stays valid.
    largest = 1000000
    # Attempts made before this one, and the delay before jitter.
    cases = [(0, 300), (1, 600), (2, 1200), (3, 2400), (4, 4000), (5, 4000),
             (largest - 1, 4000), (largest, 4000)]
    # Copies at one attempt count, whose delays differ only by jitter.
    cases += [(3, 2400)] * 6 + [(largest, 4000)] * 6
    queued = []
    for earlier, base in cases:
        # Without a first-attempt, the mailer sets it to the time of this
        # attempt, so next-attempt minus first-attempt is the delay.
        queue_id = env.queue_delivery("mailto:tlsrpt@example.com",
                                      attempts=str(earlier))
        queued.append((queue_id, earlier, base))
    env.start()

    delays = {}
    for queue_id, earlier, base in queued:
        header = read_header(env.wait_for_file("deferred", queue_id))
        assert header["attempts"] == str(min(earlier + 1, largest)), queue_id
        assert "451 4.3.0 Try again later" in header["last-error"]
        delay = seconds_between(header, "first-attempt", "next-attempt")
        detail = "delay %ds after %d earlier attempts" % (delay, earlier)
        assert delay >= base, detail
        assert delay <= base + base // 10, detail
        delays.setdefault(earlier, []).append(delay)

    assert len(set(delays[3])) > 1, "no jitter: %s" % delays[3]
    assert len(set(delays[largest])) > 1, "no jitter: %s" % delays[largest]
    assert env.recorder.messages == []


def test_5xx_reply_failed(env):
    env.write_config()
    env.recorder.rcpt_reply = "550 5.1.1 No such user"
    queue_id = env.queue_delivery("mailto:nobody@example.com")
    env.start()

    failed = env.wait_for_file("failed", queue_id)
    header = read_header(failed)
    assert header["attempts"] == "1"
    assert "550 5.1.1 No such user" in header["last-error"]
    env.wait_for(lambda: "status=bounced" in env.log(), "the log line")


def test_deferred_retried_after_backoff(env):
    env.write_config()
    env.recorder.rcpt_replies = ["450 4.2.0 Mailbox busy"]
    queue_id = env.queue_delivery("mailto:tlsrpt@example.com")
    env.start()

    sent = env.wait_for_file("sent", queue_id)
    header = read_header(sent)
    assert header["attempts"] == "2"
    assert not os.path.exists(env.path("deferred", queue_id))
    message = parse_message(env.recorder.messages[0][2])
    assert message["Message-ID"] == "<%s.2@%s>" % (queue_id, SUBMITTER)
    assert ("%s: to=<tlsrpt@example.com>" % queue_id) in env.log()
    assert "status=deferred (host 127.0.0.1[127.0.0.1]:%d said: 450 4.2.0 " \
        "Mailbox busy (in reply to RCPT TO command))" % env.smtp_port \
        in env.log()


def test_flush_retries_deferred_now(env):
    env.write_config()
    queue_id = env.queue_delivery(
        "mailto:tlsrpt@example.com", directory="deferred", attempts="1",
        **{"first-attempt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "next-attempt": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                         time.gmtime(time.time() + 3600)),
           "last-error": "earlier failure"})
    env.start()

    env.wait_for(lambda: "starting" in env.log(), "the mailer to start")
    time.sleep(1.0)
    assert os.path.exists(env.path("deferred", queue_id))
    assert env.recorder.messages == []

    env.trigger(b"F")
    sent = env.wait_for_file("sent", queue_id)
    assert read_header(sent)["attempts"] == "2"
    assert "flush" in env.log()


def test_queue_lifetime_expired_to_failed(env):
    env.write_config(maximal_queue_lifetime="1h")
    env.recorder.rcpt_reply = "421 4.3.2 System shutting down"
    long_ago = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                             time.gmtime(time.time() - 7200))
    queue_id = env.queue_delivery(
        "mailto:tlsrpt@example.com", directory="deferred", attempts="5",
        **{"first-attempt": long_ago, "next-attempt": long_ago})
    env.start()

    failed = env.wait_for_file("failed", queue_id)
    header = read_header(failed)
    assert header["attempts"] == "6"
    assert "maximal_queue_lifetime" in header["last-error"]
    assert "421 4.3.2" in header["last-error"]
    env.wait_for(lambda: "status=bounced" in env.log(), "the log line")


def test_file_destination_writes_report_and_message(env):
    env.write_config()
    outdir = os.path.join(env.base, "out")
    os.mkdir(outdir)
    env.give(outdir)
    queue_id = env.queue_delivery(
        "file:" + outdir,
        rua="https://report.example.com/v1 mailto:first@example.com "
            "mailto:second@example.com")
    env.start()

    env.wait_for_file("sent", queue_id)
    _, gzipped = make_report("example.com")
    report_path = os.path.join(outdir, report_filename("example.com"))
    with open(report_path, "rb") as handle:
        assert gzip.decompress(handle.read()) == gzip.decompress(gzipped)
    with open(os.path.join(outdir, queue_id + ".eml"), "rb") as handle:
        check_report_message(handle.read(), "example.com", "first@example.com")
    assert sorted(os.listdir(outdir)) == sorted(
        [report_filename("example.com"), queue_id + ".eml"])
    assert env.recorder.messages == []
    env.wait_for(lambda: "status=sent (written to" in env.log(), "the log line")


def test_delivery_redirect_overrides_mailto(env):
    outdir = os.path.join(env.base, "redirect")
    os.mkdir(outdir)
    env.give(outdir)
    env.write_config(delivery_redirect="file:" + outdir)
    queue_id = env.queue_delivery("https://report.example.com/v1",
                                  rua="https://report.example.com/v1")
    env.start()

    env.wait_for_file("sent", queue_id)
    with open(os.path.join(outdir, queue_id + ".eml"), "rb") as handle:
        check_report_message(handle.read(), "example.com",
                             "postmaster@example.com")
    assert env.recorder.messages == []
    assert ("orig_to=<https://report.example.com/v1>, relay=file"
            in env.log())


def test_missing_file_directory_deferred(env):
    env.write_config()
    missing = os.path.join(env.base, "missing")
    queue_id = env.queue_delivery("file:" + missing)
    env.start()

    deferred = env.wait_for_file("deferred", queue_id)
    header = read_header(deferred)
    assert missing in header["last-error"]
    assert "No such file or directory" in header["last-error"]


def test_unknown_scheme_failed(env):
    env.write_config()
    queue_id = env.queue_delivery("ftp://report.example.com/tlsrpt")
    env.start()

    failed = env.wait_for_file("failed", queue_id)
    assert "unsupported destination" in read_header(failed)["last-error"]


def test_invalid_payload_failed(env):
    env.write_config()
    queue_id = env.queue_delivery("mailto:tlsrpt@example.com",
                                  payload=gzip.compress(b"{not json"))
    env.start()

    failed = env.wait_for_file("failed", queue_id)
    assert "not valid JSON" in read_header(failed)["last-error"]
    assert env.recorder.messages == []


def test_torn_file_moved_to_corrupt(env):
    env.write_config()
    _, gzipped = make_report()
    text = delivery_text({"report-id": "x@example.net", "attempts": "0",
                          "destination": "mailto:a@example.com"}, gzipped)
    queue_id = env.queue_raw(text[:text.rindex("end ")])
    env.start()

    env.wait_for_file("corrupt", queue_id)
    env.wait_for(lambda: "%s: invalid delivery file" % queue_id in env.log(),
                 "the warning")
    assert not os.path.exists(env.path("outgoing", queue_id))


def test_wakeup_trigger_delivers_new_file(env):
    env.write_config()
    env.start()
    env.wait_for(lambda: "starting" in env.log(), "the mailer to start")
    time.sleep(0.3)

    queue_id = env.queue_delivery("mailto:tlsrpt@example.com")
    env.trigger(b"W")
    # Without the wakeup the file would wait for the next periodic scan.
    env.wait_for_file("sent", queue_id, timeout=SCAN_SECONDS / 3)


def test_stale_temp_files_removed(env):
    env.write_config()
    stale = env.path("tmp", "mailer.0123456789ABCDEF01234567.next")
    other = env.path("tmp", "reporter.0123456789ABCDEF01234567")
    for path in (stale, other):
        with open(path, "w") as handle:
            handle.write("partial")
    env.start()

    env.wait_for(lambda: not os.path.exists(stale), "the stale file to go")
    assert os.path.exists(other)


def test_connection_refused_deferred(env):
    env.write_config(relayhost="[127.0.0.1]:%d" % free_port())
    queue_id = env.queue_delivery("mailto:tlsrpt@example.com")
    env.start()

    deferred = env.wait_for_file("deferred", queue_id)
    assert "Connection refused" in read_header(deferred)["last-error"]
    env.wait_for(lambda: "relay=none" in env.log(), "the log line")


def run_scripted(env, script, **config):
    """Run one delivery against a ScriptedServer; return (server, ID)."""
    server = ScriptedServer(script)
    env.write_config(relayhost="[127.0.0.1]:%d" % server.port, **config)
    queue_id = env.queue_delivery("mailto:tlsrpt@example.com")
    env.start()
    return server, queue_id


def test_multiline_greeting_and_helo_fallback(env):
    server, queue_id = run_scripted(env, {
        "": b"220-mx.example.net first line\r\n220 ready\r\n",
        "EHLO": b"502 5.5.1 EHLO not implemented\r\n",
        "HELO": b"250 mx.example.net\r\n",
        "MAIL": b"250 2.1.0 Ok\r\n",
        "RCPT": b"250 2.1.5 Ok\r\n",
        "DATA": b"354 go ahead\r\n",
        ".": b"250-2.0.0 Ok\r\n250 2.0.0 queued as SCRIPT1\r\n",
        "QUIT": b"221 2.0.0 Bye\r\n",
    })
    try:
        env.wait_for_file("sent", queue_id)
    finally:
        server.close()
    assert server.commands[:2] == ["EHLO reporter.example.net",
                                   "HELO reporter.example.net"]
    assert server.commands[2] == "MAIL FROM:<%s>" % ENVELOPE_SENDER
    assert server.commands[3] == "RCPT TO:<tlsrpt@example.com>"
    assert server.commands[-1] == "QUIT"
    env.wait_for(lambda: "status=sent (250-2.0.0 Ok 250 2.0.0 queued as "
                 "SCRIPT1)" in env.log(), "the log line")


def test_multiline_4xx_reply_deferred(env):
    server, queue_id = run_scripted(env, {
        "": b"220 ready\r\n",
        "EHLO": b"250-mx.example.net\r\n250 PIPELINING\r\n",
        "MAIL": b"452-4.3.1 Insufficient system storage\r\n"
                b"452 4.3.1 Try again later\r\n",
        "QUIT": b"221 Bye\r\n",
    })
    try:
        deferred = env.wait_for_file("deferred", queue_id)
    finally:
        server.close()
    error = read_header(deferred)["last-error"]
    assert "452-4.3.1 Insufficient system storage" in error
    assert "452 4.3.1 Try again later" in error
    assert "in reply to MAIL FROM command" in error


def test_silent_server_times_out(env):
    server, queue_id = run_scripted(env, {}, smtp_timeout="1s")
    try:
        started = time.monotonic()
        deferred = env.wait_for_file("deferred", queue_id)
        # The bound includes the mailer's start, and it is far below the
        # default smtp_timeout of 300 s.
        assert time.monotonic() - started < 10
    finally:
        server.close()
    error = read_header(deferred)["last-error"]
    assert "timed out while receiving the initial server greeting" in error


def test_malformed_reply_deferred(env):
    server, queue_id = run_scripted(env, {
        "": b"220 ready\r\n",
        "EHLO": b"hello there\r\n",
    })
    try:
        deferred = env.wait_for_file("deferred", queue_id)
    finally:
        server.close()
    assert "protocol error" in read_header(deferred)["last-error"]


def test_invalid_relayhost_refuses_start(env):
    env.write_config(relayhost="[127.0.0.1:25")
    env.expect_clean_exit = False
    env.start()
    assert env.process.wait(WAIT_SECONDS) != 0
    assert "invalid relayhost" in env.log()


def test_relayhost_name_with_port(env):
    env.write_config(relayhost="localhost:%d" % env.smtp_port)
    queue_id = env.queue_delivery("mailto:tlsrpt@example.com")
    env.start()

    env.wait_for_file("sent", queue_id)
    assert "relay=localhost[127.0.0.1]:%d" % env.smtp_port in env.log()


def test_old_sent_files_expired(env):
    env.write_config(sent_retention="1d")
    old_id = env.queue_delivery("mailto:tlsrpt@example.com", directory="sent")
    new_id = env.queue_delivery("mailto:tlsrpt@example.com", directory="sent")
    two_days_ago = time.time() - 2 * 86400
    os.utime(env.path("sent", old_id), (two_days_ago, two_days_ago))
    env.start()

    env.wait_for(lambda: not os.path.exists(env.path("sent", old_id)),
                 "the old sent/ file to go")
    assert os.path.exists(env.path("sent", new_id))
    # The mailer logs the count once it has looked at every file.
    env.wait_for(lambda: "removed 1 delivered reports older than "
                 "sent_retention" in env.log(), "the log line")
    assert env.recorder.messages == []


def test_outgoing_next_attempt_honoured(env):
    env.write_config()
    now = time.time()
    later = env.queue_delivery(
        "mailto:later@example.com",
        **{"next-attempt": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                         time.gmtime(now + 3600))})
    soon = env.queue_delivery(
        "mailto:soon@example.com",
        **{"next-attempt": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                         time.gmtime(now + 2))})
    due = env.queue_delivery(
        "mailto:due@example.com",
        **{"next-attempt": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                         time.gmtime(now - 60))})
    env.start()

    env.wait_for_file("sent", due)
    env.wait_for_file("sent", soon, timeout=WAIT_SECONDS + 3)
    assert os.path.exists(env.path("outgoing", later))
    assert sorted(rcpt for _, rcpt, _ in env.recorder.messages) == [
        ["due@example.com"], ["soon@example.com"]]

    env.trigger(b"F")
    sent = env.wait_for_file("sent", later)
    assert read_header(sent)["attempts"] == "1"
    assert "flush: delivering every queued report now" in env.log()


def test_concurrency_limit_kept(env):
    env.write_config(delivery_concurrency="2")
    env.recorder.data_delay = 1.0
    queue_ids = [env.queue_delivery("mailto:r%d@example.com" % number)
                 for number in range(5)]
    env.start()

    for queue_id in queue_ids:
        env.wait_for_file("sent", queue_id, timeout=WAIT_SECONDS * 2)
    assert env.recorder.max_active == 2
    assert len(env.recorder.messages) == 5
    log = env.log()
    for queue_id in queue_ids:
        assert log.count("%s: to=<" % queue_id) == 1
        assert not os.path.exists(env.path("outgoing", queue_id))


def delivery_processes(pid):
    """Return the process IDs of the children of pid, from /proc."""
    path = "/proc/%d/task/%d/children" % (pid, pid)
    if not os.path.exists(path):
        pytest.skip("this kernel does not list child processes in %s" % path)
    with open(path) as handle:
        return [int(word) for word in handle.read().split()]


def test_killed_delivery_deferred(env):
    env.write_config(minimal_backoff_time="300s")
    env.recorder.data_delay = 30.0
    queue_id = env.queue_delivery("mailto:tlsrpt@example.com")
    env.start()

    env.wait_for(lambda: env.recorder.active == 1, "the DATA command")
    children = delivery_processes(env.process.pid)
    assert len(children) == 1
    os.kill(children[0], signal.SIGKILL)

    deferred = env.wait_for_file("deferred", queue_id)
    header = read_header(deferred)
    assert header["last-error"] == ("the delivery process was killed by "
                                    "signal %d" % signal.SIGKILL)
    assert header["attempts"] == "1"
    assert "%s: the delivery process was killed by signal" % queue_id \
        in env.log()


def test_stop_waits_for_delivery(env):
    env.write_config()
    env.recorder.data_delay = 1.0
    queue_id = env.queue_delivery("mailto:tlsrpt@example.com")
    env.start()

    env.wait_for(lambda: env.recorder.active == 1, "the DATA command")
    env.process.send_signal(signal.SIGTERM)
    assert env.process.wait(WAIT_SECONDS) == 0
    assert os.path.exists(env.path("sent", queue_id))
    assert "stopping" in env.log()


def test_locked_file_left_alone(env):
    # tlsrpt-queue locks a file while it changes it; the mailer must not
    # deliver it meanwhile.
    env.write_config()
    queue_id = env.queue_delivery("mailto:tlsrpt@example.com")
    with open(env.path("outgoing", queue_id)) as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        env.start()
        env.wait_for(lambda: "%s: %s is locked by another process"
                     % (queue_id, env.path("outgoing", queue_id)
                        .replace(env.queue + "/", "")) in env.log(),
                     "the mailer to find the lock")
        assert env.recorder.messages == []
    env.trigger(b"W")
    env.wait_for_file("sent", queue_id)
