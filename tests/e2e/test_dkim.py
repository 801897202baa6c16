"""End to end: DKIM signatures on report mail, checked by a real verifier.

Keys are made with "openssl genpkey" at test time: RSA 2048 and Ed25519.
The real suite counts the sample datagrams, "tlsrptd report --dry-run"
writes the signed messages, and Debian's python3-dkim verifies each one,
with a lookup function in place of DNS that returns the key record an
administrator would publish. Tampered messages must fail.
"""

import base64
import re
import subprocess
import time
from datetime import datetime, timezone

import dkim
import pytest

from suite import Suite, make_base_dir, sample_files, wait_until

SUBMITTER = "reports.example.net"
SELECTOR = "tlsrpt2026"
KEY_TYPES = ("rsa", "ed25519")
ALGORITHMS = {"rsa": b"rsa-sha256", "ed25519": b"ed25519-sha256"}
REQUIRED_FIELDS = {b"from", b"to", b"subject", b"date", b"message-id",
                   b"tls-report-domain", b"tls-report-submitter"}


def make_key(directory, key_type):
    """Generate a private key; return (path, base64 p= value)."""
    path = directory / f"{key_type}.pem"
    options = ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"] \
        if key_type == "rsa" else ["-algorithm", "ED25519"]
    subprocess.run(["openssl", "genpkey", *options, "-out", str(path)],
                   check=True, capture_output=True)
    path.chmod(0o600)
    public = subprocess.run(["openssl", "pkey", "-in", str(path), "-pubout",
                             "-outform", "DER"],
                            check=True, capture_output=True).stdout

    # RSA keys are published as SubjectPublicKeyInfo, Ed25519 keys as the
    # raw 32-byte key (RFC 8463 section 4), the end of that structure.
    if key_type == "ed25519":
        public = public[-32:]
    return path, base64.b64encode(public).decode()


def key_lookup(key_type, public, services=None):
    """Return a dnsfunc for dkim.verify that serves one key record."""
    record = f"v=DKIM1; k={key_type}; "
    if services is not None:
        record += f"s={services}; "
    record += f"p={public}"

    def lookup(name, timeout=5):
        assert name == f"{SELECTOR}._domainkey.{SUBMITTER}.".encode()
        return record.encode()
    return lookup


def signature_tags(message):
    """Return the tags of the first DKIM-Signature field as a dict."""
    match = re.match(rb"DKIM-Signature:(.*?)\r\n(?![ \t])", message, re.S)
    assert match, "the message does not start with a DKIM-Signature field"
    value = re.sub(rb"\r\n[ \t]", b" ", match.group(1))
    tags = {}
    for item in value.split(b";"):
        if item.strip():
            name, _, tag_value = item.partition(b"=")
            assert name.strip() not in tags, f"tag {name!r} appears twice"
            tags[name.strip()] = re.sub(rb"\s+", b"", tag_value)
    return tags


def signed_messages(suite, directory):
    """Run a dry run into directory; return the bytes of each message."""
    directory.mkdir()
    day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    result = suite.command("report", "--day", day, "--dry-run",
                           str(directory), check=False)
    assert result.returncode == 0, result.stderr
    assert "DKIM-signed" in result.stdout
    return [path.read_bytes() for path in sorted(directory.glob("*.eml"))]


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    directory = tmp_path_factory.mktemp("dkim-keys")
    return {key_type: make_key(directory, key_type) for key_type in KEY_TYPES}


@pytest.fixture(scope="module")
def suite(keys):
    running = Suite(make_base_dir(), dkim_domain=SUBMITTER,
                    dkim_selector=SELECTOR,
                    dkim_private_key=str(keys["rsa"][0]))
    running.start()
    running.send(*sample_files())
    wait_until(lambda: running.command("report", "--day", "today",
                                       "--dry-run", str(running.base),
                                       check=False).returncode == 0
               and list(running.base.glob("*.eml")),
               timeout=30, what="report messages in a dry run")
    yield running
    running.cleanup()


def use_key(suite, keys, key_type):
    """Point main.cf at one key; the report command reads it per run."""
    suite.parameters["dkim_private_key"] = str(keys[key_type][0])
    suite.write_config()


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_dkim_signature_verifies(suite, keys, key_type, tmp_path):
    use_key(suite, keys, key_type)
    public = keys[key_type][1]
    started = int(time.time())
    messages = signed_messages(suite, tmp_path / "messages")
    assert messages

    for message in messages:
        tags = signature_tags(message)
        assert tags[b"v"] == b"1"
        assert tags[b"a"] == ALGORITHMS[key_type]
        assert tags[b"c"] == b"relaxed/relaxed"
        assert tags[b"d"] == SUBMITTER.encode()
        assert tags[b"s"] == SELECTOR.encode()
        assert b"l" not in tags
        assert started - 5 <= int(tags[b"t"]) <= time.time() + 5
        assert REQUIRED_FIELDS <= set(tags[b"h"].lower().split(b":"))

        verifier = dkim.DKIM(message)
        assert verifier.verify(dnsfunc=key_lookup(key_type, public))
        signed = {name.lower() for name, _ in verifier.signed_headers}
        assert REQUIRED_FIELDS <= signed
        assert {b"mime-version", b"content-type", b"auto-submitted",
                b"tls-required"} <= signed


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_dkim_key_record_services(suite, keys, key_type, tmp_path):
    use_key(suite, keys, key_type)
    public = keys[key_type][1]
    message = signed_messages(suite, tmp_path / "messages")[0]

    for services in (None, "*", "email"):
        assert dkim.verify(message, dnsfunc=key_lookup(key_type, public,
                                                       services))

    # A key for tlsrpt alone serves reports, but an ordinary mail
    # verifier (tlsrpt=False, the default) must ignore it.
    tlsrpt_only = key_lookup(key_type, public, "tlsrpt")
    assert dkim.verify(message, dnsfunc=tlsrpt_only, tlsrpt="strict")
    assert not dkim.verify(message, dnsfunc=tlsrpt_only)


@pytest.mark.xfail(strict=True, reason=(
    "python3-dkim 1.1.4 compares the whole s= value with single service "
    "names instead of splitting the colon-separated list that RFC 6376 "
    "section 3.6.1 defines, so it ignores a key with s=email:tlsrpt"))
def test_dkim_service_list_email_tlsrpt(suite, keys, tmp_path):
    use_key(suite, keys, "ed25519")
    message = signed_messages(suite, tmp_path / "messages")[0]
    lookup = key_lookup("ed25519", keys["ed25519"][1], "email:tlsrpt")

    assert dkim.verify(message, dnsfunc=lookup, tlsrpt=True)


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_dkim_tampered_message_fails(suite, keys, key_type, tmp_path):
    use_key(suite, keys, key_type)
    lookup = key_lookup(key_type, keys[key_type][1])
    message = signed_messages(suite, tmp_path / "messages")[0]
    assert dkim.verify(message, dnsfunc=lookup)

    # Relaxed canonicalisation tolerates changed white space...
    respaced = message.replace(b"TLS-Report-Domain: ",
                               b"TLS-Report-Domain:  \t")
    body_start = respaced.index(b"\r\n\r\n") + 4
    respaced = respaced[:body_start] + \
        respaced[body_start:].replace(b"\r\n", b" \r\n") + b"\r\n\r\n"
    assert dkim.verify(respaced, dnsfunc=lookup)

    # ...but not changed content in a signed field or in the body.
    domain = re.search(rb"TLS-Report-Domain: (\S+)", message).group(1)
    changed_field = message.replace(b"TLS-Report-Domain: " + domain,
                                    b"TLS-Report-Domain: x" + domain)
    assert not dkim.verify(changed_field, dnsfunc=lookup)
    submitter_gone = re.sub(rb"TLS-Report-Submitter: [^\r]*\r\n", b"",
                            message)
    assert not dkim.verify(submitter_gone, dnsfunc=lookup)
    changed_body = message[:-20] + message[-20:].replace(b"-", b"+", 1)
    assert changed_body != message
    assert not dkim.verify(changed_body, dnsfunc=lookup)
    second_from = message.replace(b"\r\nFrom: ",
                                  b"\r\nFrom: <boss@example.com>\r\nFrom: ",
                                  1)
    assert not dkim.verify(second_from, dnsfunc=lookup)


def dry_run_error(tmp_path, **parameters):
    """Run a dry run with only this configuration; return stderr."""
    suite = Suite(make_base_dir(), **parameters)
    try:
        directory = tmp_path / "messages"
        directory.mkdir()
        result = suite.command("report", "--day", "today", "--dry-run",
                               str(directory), check=False)
        assert result.returncode == 1
        assert not list(directory.iterdir())
        return result.stderr
    finally:
        suite.cleanup()


def test_dkim_partial_configuration(tmp_path):
    error = dry_run_error(tmp_path, dkim_domain=SUBMITTER)
    assert "dkim_private_key, dkim_selector are not set" in error


def test_dkim_domain_not_reporting_domain(tmp_path, keys):
    error = dry_run_error(tmp_path, dkim_domain="other.example",
                          dkim_selector=SELECTOR,
                          dkim_private_key=str(keys["rsa"][0]))
    assert 'dkim_domain "other.example"' in error
    assert "neither the report submitter domain" in error


def test_dkim_missing_key_file(tmp_path):
    missing = tmp_path / "absent.pem"
    error = dry_run_error(tmp_path, dkim_domain="example.net",
                          dkim_selector=SELECTOR,
                          dkim_private_key=str(missing))
    assert f"cannot open DKIM private key {missing}" in error
