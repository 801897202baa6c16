"""End-to-end tests of the mailer's mail delivery beyond plain SMTP:
STARTTLS at each smtp_tls_security_level, AUTH over TLS, the sendmail
program, report_bcc copies and DKIM signatures checked by dkimpy.

The peers are real: aiosmtpd with a certificate from a test CA that
openssl makes at test time, scripted servers for what aiosmtpd cannot
do, and small shell programs standing in for sendmail. Everything runs
on 127.0.0.1 and in a temporary directory.
"""

import base64
import os
import shutil
import subprocess
import tempfile

import dkim
import pytest
from aiosmtpd.smtp import AuthResult

from test_mailer import (CONTACT, ENVELOPE_SENDER, SUBMITTER, WAIT_SECONDS,
                         MailerEnv, ScriptedServer, CertificateAuthority, check_report_message,
                         parse_message, read_header)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
DKIM_SELECTOR = "tlsrpt2026"
PASSWORD = "correct horse battery staple"


def scratch_directory(prefix):
    """A directory that the mailer's account can traverse and read."""
    directory = tempfile.mkdtemp(prefix=prefix)
    os.chmod(directory, 0o755)
    return directory


@pytest.fixture(scope="module")
def ca():
    directory = scratch_directory("tlsrptd-ca-")
    authority = CertificateAuthority(directory)
    authority.localhost = authority.issue("localhost",
                                          ["DNS:localhost", "IP:127.0.0.1"])
    yield authority
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def env():
    base = scratch_directory("tlsrptd-mailer-")
    environment = MailerEnv(base)
    yield environment
    environment.stop()
    if environment.expect_clean_exit:
        environment.check_clean_exit()
    shutil.rmtree(base, ignore_errors=True)


def tls_server(env, ca, **parameters):
    env.use_smtp(tls_context=ca.server_context(*ca.localhost), **parameters)


def test_starttls_used_when_offered(env, ca):
    tls_server(env, ca)
    env.write_config(smtp_tls_security_level="may")
    queue_id = env.queue_delivery("mailto:tlsrpt@example.com")
    env.start()

    env.wait_for_file("sent", queue_id)
    assert env.recorder.sessions == [(True, None)]
    check_report_message(env.recorder.messages[0][2], "example.com",
                         "tlsrpt@example.com")
    assert ("%s: Untrusted TLS connection established to "
            "127.0.0.1[127.0.0.1]:%d: TLSv1." % (queue_id, env.smtp_port)
            in env.log())


def test_level_none_stays_plain(env, ca):
    tls_server(env, ca)
    env.write_config(smtp_tls_security_level="none")
    queue_id = env.queue_delivery("mailto:tlsrpt@example.com")
    env.start()

    env.wait_for_file("sent", queue_id)
    assert env.recorder.sessions == [(False, None)]
    assert "TLS connection established" not in env.log()


def test_encrypt_delivers_over_starttls(env, ca):
    tls_server(env, ca, require_starttls=True)
    env.write_config(smtp_tls_security_level="encrypt")
    queue_id = env.queue_delivery("mailto:tlsrpt@example.com")
    env.start()

    env.wait_for_file("sent", queue_id)
    assert env.recorder.sessions == [(True, None)]


def test_encrypt_defers_without_starttls(env):
    env.write_config(smtp_tls_security_level="encrypt")
    queue_id = env.queue_delivery("mailto:tlsrpt@example.com")
    env.start()

    deferred = env.wait_for_file("deferred", queue_id)
    assert "did not offer STARTTLS" in read_header(deferred)["last-error"]
    assert env.recorder.messages == []


def test_failed_handshake_retried_in_plain_text(env):
    # The first connection ends right after "220" to STARTTLS, so the
    # handshake fails; level may then delivers on a new connection
    # without STARTTLS.
    server = ScriptedServer({
        "": b"220 mx.example.net ESMTP\r\n",
        "EHLO": b"250-mx.example.net\r\n250 STARTTLS\r\n",
        "STARTTLS": b"220 2.0.0 Ready to start TLS\r\n",
        "MAIL": b"250 2.1.0 Ok\r\n",
        "RCPT": b"250 2.1.5 Ok\r\n",
        "DATA": b"354 go ahead\r\n",
        ".": b"250 2.0.0 Ok: queued as PLAIN\r\n",
        "QUIT": b"221 2.0.0 Bye\r\n",
    }, connections=2, close_after=["STARTTLS"])
    env.write_config(relayhost="[127.0.0.1]:%d" % server.port,
                     smtp_tls_security_level="may")
    queue_id = env.queue_delivery("mailto:tlsrpt@example.com")
    env.start()
    try:
        env.wait_for_file("sent", queue_id)
    finally:
        server.close()
    assert server.commands.count("STARTTLS") == 1
    assert server.commands.count("EHLO reporter.example.net") == 2
    assert len(server.messages) == 1
    assert "delivering again without TLS" in env.log()
    assert "status=sent (250 2.0.0 Ok: queued as PLAIN)" in env.log()


def test_data_after_starttls_reply_rejected(env):
    # Bytes that follow the 220 reply in plain text could be commands
    # injected before the handshake; the session must not use them.
    server = ScriptedServer({
        "": b"220 mx.example.net ESMTP\r\n",
        "EHLO": b"250-mx.example.net\r\n250 STARTTLS\r\n",
        "STARTTLS": b"220 Ready\r\n250 injected\r\n",
    })
    env.write_config(relayhost="[127.0.0.1]:%d" % server.port)
    queue_id = env.queue_delivery("mailto:tlsrpt@example.com")
    env.start()
    try:
        deferred = env.wait_for_file("deferred", queue_id)
    finally:
        server.close()
    assert "data after the reply to STARTTLS" in read_header(deferred)[
        "last-error"]


def write_password(env, text):
    path = os.path.join(env.base, "sasl_password")
    with open(path, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)
    return path


def authenticator(accepted):
    """An aiosmtpd authenticator that accepts the user "reporter" with
    PASSWORD when accepted is true."""
    def check(server, session, envelope, mechanism, auth_data):
        valid = (accepted and auth_data.login == b"reporter"
                 and auth_data.password == PASSWORD.encode())
        # handled=False lets aiosmtpd send the 535 reply itself.
        return AuthResult(success=valid, handled=False, auth_data=auth_data)
    return check


@pytest.mark.parametrize("mechanisms", [["LOGIN"], ["PLAIN"]])
def test_auth_over_starttls(env, ca, mechanisms):
    excluded = [name for name in ("PLAIN", "LOGIN") if name not in mechanisms]
    tls_server(env, ca, authenticator=authenticator(True), auth_required=True,
               auth_exclude_mechanism=excluded)
    env.write_config(smtp_sasl_username="reporter",
                     smtp_sasl_password_file=write_password(
                         env, PASSWORD + "\n"))
    queue_id = env.queue_delivery("mailto:tlsrpt@example.com")
    env.start()

    env.wait_for_file("sent", queue_id)
    assert env.recorder.sessions == [(True, b"reporter")]
    assert PASSWORD not in env.log()


def test_auth_rejected_deferred(env, ca):
    tls_server(env, ca, authenticator=authenticator(False), auth_required=True)
    env.write_config(smtp_sasl_username="reporter",
                     smtp_sasl_password_file=write_password(env, PASSWORD))
    queue_id = env.queue_delivery("mailto:tlsrpt@example.com")
    env.start()

    deferred = env.wait_for_file("deferred", queue_id)
    error = read_header(deferred)["last-error"]
    assert "SASL authentication failed" in error
    assert "535" in error
    assert PASSWORD not in error
    assert PASSWORD not in env.log()
    assert env.recorder.messages == []


def test_missing_password_file_refuses_start(env):
    missing = os.path.join(env.base, "no-such-password-file")
    env.write_config(smtp_sasl_username="reporter",
                     smtp_sasl_password_file=missing)
    env.expect_clean_exit = False
    env.start()
    assert env.process.wait(WAIT_SECONDS) != 0
    assert "cannot read smtp_sasl_password_file %s" % missing in env.log()


def test_report_bcc_copy_by_smtp(env):
    env.write_config(report_bcc="archive@reports.example.net")
    queue_id = env.queue_delivery("mailto:tlsrpt@example.com")
    env.start()

    env.wait_for_file("sent", queue_id)
    mail_from, rcpt_tos, _ = env.recorder.messages[0]
    assert mail_from == ENVELOPE_SENDER
    assert rcpt_tos == ["tlsrpt@example.com", "archive@reports.example.net"]


def test_invalid_report_bcc_refuses_start(env):
    env.write_config(report_bcc="not an address")
    env.expect_clean_exit = False
    env.start()
    assert env.process.wait(WAIT_SECONDS) != 0
    assert "invalid report_bcc" in env.log()


def fake_sendmail(env, exit_status, output=""):
    """Write a sendmail stand-in that records its arguments and input in
    env.base/sendmail.args and sendmail.input; return its path."""
    path = os.path.join(env.base, "sendmail")
    record = os.path.join(env.base, "record")
    os.mkdir(record)
    env.give(record)
    with open(path, "w") as handle:
        handle.write("#!/bin/sh\n"
                     "printf '%%s\\n' \"$@\" > %s/args\n"
                     "cat > %s/input\n"
                     "printf '%s' >&2\n"
                     "exit %d\n" % (record, record, output, exit_status))
    os.chmod(path, 0o755)
    return path, record


def test_sendmail_path_sent(env):
    path, record = fake_sendmail(env, 0)
    env.write_config(sendmail_path=path,
                     report_bcc="archive@reports.example.net")
    queue_id = env.queue_delivery("mailto:tlsrpt@example.com")
    env.start()

    env.wait_for_file("sent", queue_id)
    with open(os.path.join(record, "args")) as handle:
        assert handle.read().split("\n")[:-1] == [
            "-i", "-f", ENVELOPE_SENDER, "--", "tlsrpt@example.com",
            "archive@reports.example.net"]
    with open(os.path.join(record, "input"), "rb") as handle:
        message = handle.read()
    assert b"\r" not in message
    check_report_message(message.replace(b"\n", b"\r\n"), "example.com",
                         "tlsrpt@example.com")
    assert env.recorder.messages == []
    assert "relay=sendmail" in env.log()
    assert "status=sent (sent by %s)" % path in env.log()


def test_sendmail_tempfail_deferred(env):
    path, _ = fake_sendmail(env, 75, "queue file write error")
    env.write_config(sendmail_path=path)
    queue_id = env.queue_delivery("mailto:tlsrpt@example.com")
    env.start()

    deferred = env.wait_for_file("deferred", queue_id)
    error = read_header(deferred)["last-error"]
    assert "exited with status 75 (temporary failure)" in error
    assert "queue file write error" in error


def test_sendmail_failure_bounced(env):
    path, _ = fake_sendmail(env, 67, "user unknown")
    env.write_config(sendmail_path=path)
    queue_id = env.queue_delivery("mailto:tlsrpt@example.com")
    env.start()

    failed = env.wait_for_file("failed", queue_id)
    assert "exited with status 67: user unknown" in read_header(failed)[
        "last-error"]


def test_missing_sendmail_refuses_start(env):
    env.write_config(sendmail_path=os.path.join(env.base, "no-sendmail"))
    env.expect_clean_exit = False
    env.start()
    assert env.process.wait(WAIT_SECONDS) != 0
    assert "sendmail_path" in env.log()


@pytest.fixture(scope="module")
def dkim_key():
    """An RSA key made with openssl, and its DNS key record."""
    directory = scratch_directory("tlsrptd-dkim-")
    key = os.path.join(directory, "dkim.key")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:2048", "-out", key], check=True,
                   capture_output=True, timeout=60)
    public = subprocess.run(["openssl", "pkey", "-in", key, "-pubout",
                             "-outform", "DER"], check=True,
                            capture_output=True, timeout=60).stdout
    # dkimpy 1.0 compares s= as a whole, so it would reject the list
    # "email:tlsrpt" that RFC 6376 allows; the record leaves s= out.
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    yield key, record
    shutil.rmtree(directory, ignore_errors=True)


def verify_dkim(raw, record):
    """Verify the signature of raw; the key lookup returns record."""
    looked_up = []

    def lookup(name, timeout=5):
        looked_up.append(name)
        return record

    assert dkim.verify(raw, dnsfunc=lookup)
    assert looked_up == [("%s._domainkey.%s." % (DKIM_SELECTOR, SUBMITTER))
                         .encode()]


@pytest.mark.skipif(not os.path.exists(os.path.join(REPO, "src", "util",
                                                    "dkim.h")),
                    reason="DKIM signing is not in this tree")
def test_dkim_signature_verifies(env, dkim_key):
    key, record = dkim_key
    outdir = os.path.join(env.base, "out")
    os.mkdir(outdir)
    env.give(outdir)
    env.write_config(dkim_private_key=key, dkim_selector=DKIM_SELECTOR,
                     dkim_domain=SUBMITTER)
    mail_id = env.queue_delivery("mailto:tlsrpt@example.com")
    file_id = env.queue_delivery("file:" + outdir)
    env.start()

    env.wait_for_file("sent", mail_id)
    env.wait_for_file("sent", file_id)
    raw = env.recorder.messages[0][2]
    verify_dkim(raw, record)
    signature = parse_message(raw)["DKIM-Signature"]
    assert "l=" not in signature.replace(" ", "").split(";")
    assert "d=%s" % SUBMITTER in signature
    assert "DKIM on" in env.log()

    with open(os.path.join(outdir, file_id + ".eml"), "rb") as handle:
        verify_dkim(handle.read(), record)

    tampered = raw.replace(b"Report Domain: example.com",
                           b"Report Domain: example.org")
    assert tampered != raw
    assert not dkim.verify(tampered, dnsfunc=lambda name, timeout=5: record)


@pytest.mark.skipif(not os.path.exists(os.path.join(REPO, "src", "util",
                                                    "dkim.h")),
                    reason="DKIM signing is not in this tree")
def test_unreadable_dkim_key_refuses_start(env):
    missing = os.path.join(env.base, "missing.key")
    env.write_config(dkim_private_key=missing, dkim_selector=DKIM_SELECTOR,
                     dkim_domain=SUBMITTER)
    env.expect_clean_exit = False
    env.start()
    assert env.process.wait(WAIT_SECONDS) != 0
    assert missing in env.log()
    assert CONTACT
