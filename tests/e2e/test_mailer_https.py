"""End-to-end tests of the mailer's HTTPS delivery against a real HTTPS
server on 127.0.0.1.

The server is Python's http.server behind ssl, with certificates from a
test CA that openssl makes at test time: one for 127.0.0.1 and localhost,
and one for another host name that must fail verification. Its reply
depends on the request path: 200, 201, 400, 500, a 302 redirect, a slow
reply, and a 503 that turns into 200 on the next request.

127.0.0.1 is a loopback address, which the mailer rejects by default
(https_internal_addresses = reject), so most tests set allow; the
internal-address tests keep the default and check that the server
receives no connection at all.
"""

import gzip
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time

import pytest

from suite import BIN
from test_mailer import (WAIT_SECONDS, CertificateAuthority, MailerEnv,
                         make_report, read_header)

SLOW_SECONDS = 3


class HttpsServer:
    """An HTTPS server that records each request and replies by path."""

    def __init__(self, context):
        self.requests = []
        self.lock = threading.Lock()
        self.flaky_calls = 0
        self.connections = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with server.lock:
                    server.requests.append((self.path, self.headers, body))
                server.reply(self, self.path.split("?")[0])

            def log_message(self, format, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.httpd.handle_error = lambda request, address: None
        self.httpd.socket = context.wrap_socket(self.httpd.socket,
                                                server_side=True)
        # Count each TCP connection before the TLS handshake, so that a
        # client that connects and gives up is counted too.
        accept = self.httpd.get_request

        def counted_accept():
            with self.lock:
                self.connections += 1
            return accept()

        self.httpd.get_request = counted_accept
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    def url(self, path, host="127.0.0.1"):
        return "https://%s:%d%s" % (host, self.port, path)

    def reply(self, handler, path):
        status, text, headers = 404, "no such path", {}
        if path == "/ok":
            status, text = 200, "thank you"
        elif path == "/created":
            status, text = 201, "stored"
        elif path == "/bad":
            status, text = 400, "malformed report:\n  expected gzip"
        elif path == "/error":
            status, text = 500, "database unavailable"
        elif path == "/redirect":
            status, text = 302, "moved"
            headers["Location"] = self.url("/ok")
        elif path == "/slow":
            time.sleep(SLOW_SECONDS)
            status, text = 200, "late"
        elif path == "/flaky":
            with self.lock:
                self.flaky_calls += 1
                first = self.flaky_calls == 1
            status, text = (503, "busy") if first else (200, "ok now")
        body = text.encode()
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(body)

    def paths(self):
        with self.lock:
            return [path for path, _, _ in self.requests]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def ca():
    directory = tempfile.mkdtemp(prefix="tlsrptd-ca-")
    os.chmod(directory, 0o755)
    authority = CertificateAuthority(directory)
    authority.localhost = authority.issue("localhost",
                                          ["DNS:localhost", "IP:127.0.0.1"])
    authority.wrong_host = authority.issue("wrong", ["DNS:wrong.example.net"])
    yield authority
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def server(ca):
    https = HttpsServer(ca.server_context(*ca.localhost))
    yield https
    https.close()


@pytest.fixture
def env(ca):
    base = tempfile.mkdtemp(prefix="tlsrptd-mailer-")
    os.chmod(base, 0o755)
    environment = MailerEnv(base)
    environment.ca = ca
    yield environment
    environment.stop()
    if environment.expect_clean_exit:
        environment.check_clean_exit()
    shutil.rmtree(base, ignore_errors=True)


def configure(env, **extra):
    """Write main.cf for HTTPS tests; a setting of None is left out."""
    settings = {"https_ca_file": env.ca.cert, "https_connect_timeout": "2s",
                "https_timeout": "5s", "https_internal_addresses": "allow"}
    settings.update(extra)
    env.write_config(**{name: value for name, value in settings.items()
                        if value is not None})


def test_post_200_delivered(env, server):
    configure(env)
    destination = server.url("/ok?tenant=a%20b")
    queue_id = env.queue_delivery(destination)
    env.start()

    sent = env.wait_for_file("sent", queue_id)
    assert read_header(sent)["last-error"] == "-"
    path, headers, body = server.requests[0]
    assert path == "/ok?tenant=a%20b"
    assert headers["Content-Type"] == "application/tlsrpt+gzip"
    assert headers.get("Content-Encoding") is None
    assert headers["Content-Length"] == str(len(body))
    assert headers["Host"] == "127.0.0.1:%d" % server.port
    assert headers["User-Agent"].startswith("tlsrptd")
    report, _ = make_report("example.com")
    assert json.loads(gzip.decompress(body)) == report
    env.wait_for(lambda: "status=sent" in env.log(), "the log line")
    assert ("%s: to=<%s>, relay=127.0.0.1[127.0.0.1]:%d, delay="
            % (queue_id, destination, server.port)) in env.log()
    assert "status=sent (HTTP/1.1 200 OK)" in env.log()


def test_post_201_by_host_name(env, server):
    configure(env)
    queue_id = env.queue_delivery(server.url("/created", host="localhost"))
    env.start()

    env.wait_for_file("sent", queue_id)
    assert server.paths() == ["/created"]
    env.wait_for(lambda: "status=sent (HTTP/1.1 201 Created)" in env.log(),
                 "the log line")


@pytest.mark.parametrize("path, status, excerpt", [
    ("/bad", "HTTP/1.1 400 Bad Request", "malformed report: expected gzip"),
    ("/error", "HTTP/1.1 500 Internal Server Error", "database unavailable"),
])
def test_error_status_deferred(env, server, path, status, excerpt):
    configure(env, minimal_backoff_time="300s")
    queue_id = env.queue_delivery(server.url(path))
    env.start()

    deferred = env.wait_for_file("deferred", queue_id)
    error = read_header(deferred)["last-error"]
    assert ("host 127.0.0.1[127.0.0.1]:%d said: %s: %s"
            % (server.port, status, excerpt)) == error
    assert not os.path.exists(env.path("sent", queue_id))
    env.wait_for(lambda: "status=deferred" in env.log(), "the log line")


def test_error_status_retried(env, server):
    configure(env)
    queue_id = env.queue_delivery(server.url("/flaky"))
    env.start()

    sent = env.wait_for_file("sent", queue_id)
    assert read_header(sent)["attempts"] == "2"
    assert server.paths() == ["/flaky", "/flaky"]
    assert "503 Service Unavailable: busy" in env.log()


def test_slow_server_times_out(env, server):
    configure(env, https_timeout="1s", minimal_backoff_time="300s")
    queue_id = env.queue_delivery(server.url("/slow"))
    env.start()

    deferred = env.wait_for_file("deferred", queue_id)
    error = read_header(deferred)["last-error"]
    assert "timed out while receiving the response (https_timeout)" in error


def test_redirect_not_followed(env, server):
    configure(env, minimal_backoff_time="300s")
    queue_id = env.queue_delivery(server.url("/redirect"))
    env.start()

    deferred = env.wait_for_file("deferred", queue_id)
    error = read_header(deferred)["last-error"]
    assert "HTTP/1.1 302 Found" in error
    assert 'redirect to "%s" not followed' % server.url("/ok") in error
    assert server.paths() == ["/redirect"]


def test_wrong_host_certificate_rejected(env, ca):
    wrong = HttpsServer(ca.server_context(*ca.wrong_host))
    try:
        configure(env, minimal_backoff_time="300s")
        queue_id = env.queue_delivery(wrong.url("/ok"))
        env.start()
        deferred = env.wait_for_file("deferred", queue_id)
    finally:
        wrong.close()
    error = read_header(deferred)["last-error"]
    assert ("TLS handshake with 127.0.0.1[127.0.0.1]:%d failed: certificate "
            "verification failed: IP address mismatch (https_verify = yes)"
            % wrong.port) == error
    assert wrong.paths() == []


def sni_recording_server(ca, cert_and_key):
    """Start an HttpsServer that records, in server_names, the SNI name of
    each TLS handshake (None for a client hello without SNI)."""
    context = ca.server_context(*cert_and_key)
    server_names = []

    def record(ssl_socket, server_name, context):
        server_names.append(server_name)

    context.sni_callback = record
    https = HttpsServer(context)
    https.server_names = server_names
    return https


def test_host_name_mismatch_rejected(env, ca):
    wrong = sni_recording_server(ca, ca.wrong_host)
    try:
        configure(env, minimal_backoff_time="300s")
        queue_id = env.queue_delivery(wrong.url("/ok", host="localhost"))
        env.start()
        # The mailer stores the file in its next directory before it
        # removes it from outgoing/.
        env.wait_for(lambda: not os.path.exists(env.path("outgoing",
                                                         queue_id)),
                     "the attempt")
    finally:
        wrong.close()
    assert not os.path.exists(env.path("sent", queue_id))
    error = read_header(env.path("deferred", queue_id))["last-error"]
    # Where localhost also has ::1, the error may name that attempt too.
    assert ("TLS handshake with localhost[127.0.0.1]:%d failed: certificate "
            "verification failed: hostname mismatch (https_verify = yes)"
            % wrong.port) in error
    # The mailer reached the server, so the handshake is what failed.
    assert wrong.connections == 1
    assert wrong.server_names == ["localhost"]
    assert wrong.paths() == []


def test_sni_sent_for_host_name(env, ca):
    https = sni_recording_server(ca, ca.localhost)
    try:
        configure(env)
        queue_id = env.queue_delivery(https.url("/ok", host="localhost"))
        env.start()
        env.wait_for_file("sent", queue_id)
    finally:
        https.close()
    assert https.server_names == ["localhost"]
    assert https.paths() == ["/ok"]
    _, headers, _ = https.requests[0]
    assert headers["Host"] == "localhost:%d" % https.port


def test_sni_omitted_for_address(env, ca):
    # RFC 6066 allows only host names in SNI, never IP addresses.
    https = sni_recording_server(ca, ca.localhost)
    try:
        configure(env)
        queue_id = env.queue_delivery(https.url("/ok"))
        env.start()
        env.wait_for_file("sent", queue_id)
    finally:
        https.close()
    assert https.server_names == [None]
    assert https.paths() == ["/ok"]


def test_wrong_host_accepted_without_verify(env, ca):
    wrong = HttpsServer(ca.server_context(*ca.wrong_host))
    try:
        configure(env, https_verify="no")
        queue_id = env.queue_delivery(wrong.url("/ok"))
        env.start()
        env.wait_for_file("sent", queue_id)
    finally:
        wrong.close()
    assert wrong.paths() == ["/ok"]


def test_unknown_ca_rejected(env, server):
    configure(env, https_ca_file="", minimal_backoff_time="300s")
    queue_id = env.queue_delivery(server.url("/ok"))
    env.start()

    deferred = env.wait_for_file("deferred", queue_id)
    assert "unable to get local issuer certificate" in read_header(deferred)[
        "last-error"]
    assert server.paths() == []


def test_userinfo_uri_failed(env, server):
    configure(env)
    queue_id = env.queue_delivery("https://user:pw@127.0.0.1:%d/ok"
                                  % server.port)
    env.start()

    failed = env.wait_for_file("failed", queue_id)
    assert "userinfo" in read_header(failed)["last-error"]
    assert server.paths() == []


def test_bad_ca_file_refuses_start(env):
    bad = os.path.join(env.base, "not-a-certificate.pem")
    with open(bad, "w") as handle:
        handle.write("not a certificate\n")
    configure(env, https_ca_file=bad)
    env.expect_clean_exit = False
    env.start()
    assert env.process.wait(WAIT_SECONDS) != 0
    assert bad in env.log()
    assert "https_ca_file" in env.log()


def queue_listing(env):
    result = subprocess.run([str(BIN / "tlsrpt-queue"), "-c", env.confdir,
                             "list"], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_loopback_rejected_by_default(env, server):
    configure(env, https_internal_addresses=None)
    destination = server.url("/ok")
    queue_id = env.queue_delivery(destination)
    env.start()

    failed = env.wait_for_file("failed", queue_id)
    reason = ("%s: address 127.0.0.1 is internal (loopback); not posting "
              "there (set https_internal_addresses = allow to permit it)"
              % destination)
    header = read_header(failed)
    assert header["last-error"] == reason
    assert header["attempts"] == "1"
    env.wait_for(lambda: "status=bounced" in env.log(), "the log line")
    assert ("%s: to=<%s>, relay=none, " % (queue_id, destination)
            in env.log())
    assert "status=bounced (%s)" % reason in env.log()
    listing = queue_listing(env)
    assert "%s failed" % queue_id in listing
    assert "(%s)" % reason in listing
    assert server.connections == 0
    assert server.paths() == []


def test_localhost_name_rejected(env, server):
    configure(env, https_internal_addresses="reject")
    destination = server.url("/ok", host="localhost")
    queue_id = env.queue_delivery(destination)
    env.start()

    failed = env.wait_for_file("failed", queue_id)
    error = read_header(failed)["last-error"]
    assert error.startswith(destination + ": ")
    # localhost may resolve to 127.0.0.1 alone or to ::1 as well.
    assert "localhost is internal" in error
    assert "127.0.0.1" in error
    assert "(loopback" in error
    assert error.endswith("(set https_internal_addresses = allow to "
                          "permit it)")
    assert server.connections == 0


def test_mapped_loopback_rejected(env, server):
    configure(env, https_internal_addresses="reject")
    destination = "https://[::ffff:127.0.0.1]:%d/ok" % server.port
    queue_id = env.queue_delivery(destination)
    env.start()

    failed = env.wait_for_file("failed", queue_id)
    assert read_header(failed)["last-error"] == (
        "%s: address ::ffff:127.0.0.1 is internal (loopback, IPv4-mapped); "
        "not posting there (set https_internal_addresses = allow to "
        "permit it)" % destination)
    assert server.connections == 0


def test_loopback_posted_when_allowed(env, server):
    configure(env, https_internal_addresses="allow")
    queue_id = env.queue_delivery(server.url("/ok"))
    env.start()

    env.wait_for_file("sent", queue_id)
    assert server.paths() == ["/ok"]
    assert server.connections == 1
