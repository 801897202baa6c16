"""Checks for every report tlsrptd produces, and tests of those checks.

The end-to-end tests apply check_report() to each report payload. The
payload must be exactly one gzip member with nothing after it, holding
strict JSON: UTF-8, no duplicate member names, integers only, no NaN.
The report must be valid against tests/schema/tlsrpt-report.schema.json
(python3-jsonschema with its ipv4 and ipv6 format checks). It must also
follow the rules a schema cannot express: no null and no empty string
anywhere, a receiving-mx-helo without reply code or line break, and a
date-range of one whole UTC day.

The tests in this file prove that the checks reject what they must, and
hold the golden reports in tests/golden/ to the same checks.
"""

import copy
import gzip
import json
import re
import zlib
from calendar import timegm
from pathlib import Path

import jsonschema
import pytest

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden"
DATA = REPO / "tests" / "data"
SCHEMA = json.loads((REPO / "tests" / "schema" /
                     "tlsrpt-report.schema.json").read_text())
VALIDATOR = jsonschema.Draft7Validator(
    SCHEMA, format_checker=jsonschema.FormatChecker())
DAY_SECONDS = 86400


class ReportError(AssertionError):
    """A report that a strict receiver would reject."""


def gunzip_one_member(payload):
    """Return the data of a gzip payload that is exactly one member."""
    if payload[:2] != b"\x1f\x8b":
        raise ReportError("payload does not start with the gzip magic")
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    plain = decompressor.decompress(payload) + decompressor.flush()
    if not decompressor.eof:
        raise ReportError("gzip member is truncated")
    if decompressor.unused_data != b"":
        raise ReportError(f"{len(decompressor.unused_data)} bytes after "
                          "the gzip member")
    if gzip.decompress(payload) != plain:
        raise ReportError("Python's gzip module reads different data")
    return plain


def parse_strict(plain):
    """Parse report JSON as I-JSON: no duplicate names, integers only."""

    def no_duplicates(pairs):
        names = [name for name, _ in pairs]
        if len(names) != len(set(names)):
            raise ReportError(f"duplicate member names in {names}")
        return dict(pairs)

    def no_float(text):
        raise ReportError(f"number {text} is not an integer")

    def no_constant(name):
        raise ReportError(f"{name} is not JSON")

    try:
        text = plain.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ReportError(f"report is not UTF-8: {error}") from None
    return json.loads(text, object_pairs_hook=no_duplicates,
                      parse_float=no_float, parse_constant=no_constant)


def walk(value, path="report"):
    """Yield (path, value) for every value in a JSON tree."""
    yield path, value
    if isinstance(value, dict):
        for name, item in value.items():
            yield from walk(item, f"{path}.{name}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, f"{path}[{index}]")


def utc_seconds(text):
    match = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)Z", text)
    if not match:
        raise ReportError(f"{text!r} is not a UTC date-time")
    return timegm(tuple(int(part) for part in match.groups()))


def check_json(report):
    """Check a parsed report against the schema and the other rules."""
    errors = sorted(VALIDATOR.iter_errors(report), key=lambda e: e.path)
    if errors:
        raise ReportError("; ".join(
            f"{'/'.join(map(str, error.path))}: {error.message}"
            for error in errors))
    for path, value in walk(report):
        if value is None:
            raise ReportError(f"{path} is null")
        if value == "":
            raise ReportError(f"{path} is an empty string")
        if path.endswith(".receiving-mx-helo") and re.match(r"\d{3}[ -]",
                                                           value):
            raise ReportError(f"{path} {value!r} starts with a reply code")
    start = utc_seconds(report["date-range"]["start-datetime"])
    end = utc_seconds(report["date-range"]["end-datetime"])
    if start % DAY_SECONDS != 0 or end != start + DAY_SECONDS - 1:
        raise ReportError(f"date-range {report['date-range']} is not one "
                          "whole UTC day")
    return report


def check_report(payload):
    """Check a gzip'd report payload; return the parsed report."""
    return check_json(parse_strict(gunzip_one_member(payload)))


def check_filename(name, report, submitter, domain):
    """Check an RFC 8460 section 5.1 file name against its report."""
    match = re.fullmatch(r"([^!]+)!([^!]+)!(\d+)!(\d+)!([A-Za-z0-9]+)"
                         r"\.json\.gz", name)
    if not match:
        raise ReportError(f"file name {name!r} is not "
                          "submitter!domain!begin!end!id.json.gz")
    begin = utc_seconds(report["date-range"]["start-datetime"])
    expected = (submitter, domain, str(begin),
                str(begin + DAY_SECONDS - 1))
    if match.groups()[:4] != expected:
        raise ReportError(f"file name {name!r} does not match {expected}")


def golden_reports():
    return {path.stem: json.loads(path.read_text())
            for path in sorted(GOLDEN.glob("*.json"))}


def test_golden_files_pass_checks():
    reports = golden_reports()
    assert reports
    for domain, report in reports.items():
        check_json(report)
        assert report["report-id"].startswith(
            f"{report['date-range']['start-datetime'][:10]}.{domain}.")


def test_golden_files_cover_samples():
    """One golden report per recipient domain of the sample datagrams."""
    domains = set()
    for path in sorted(DATA.glob("*/*.json")):
        domains.add(json.loads(path.read_bytes())["d"].lower().rstrip("."))
    assert set(golden_reports()) == domains


def test_golden_postfix_values():
    """The facts RFC 8460 fixes, checked by hand once, kept here."""
    reports = golden_reports()

    # A DANE policy names the MX host's TLSA base domain.
    (entry,) = reports["dane-bad.test"]["policies"]
    assert entry["policy"]["policy-type"] == "tlsa"
    assert entry["policy"]["policy-domain"] == "mx.dane-bad.test"

    # The EHLO greeting name, from Postfix's whole multi-line reply.
    (detail,) = entry["failure-details"]
    assert detail["receiving-mx-helo"] == "mx-127.0.0.11"

    # No policy found without a policy-domain in the datagram: the
    # recipient domain; optional members the MTA did not send are absent.
    policies = {e["policy"]["policy-type"]: e
                for e in reports["example.com"]["policies"]}
    entry = policies["no-policy-found"]
    assert entry["policy"]["policy-domain"] == "example.com"
    assert entry["policy"]["mx-host"] == []
    assert "receiving-mx-hostname" not in entry["failure-details"][0]

    # mx-host is an array, also with a single pattern.
    (entry,) = reports["sts-fail.test"]["policies"]
    assert entry["policy"]["mx-host"] == ["*.sts-fail.test"]


def golden_sample():
    return copy.deepcopy(golden_reports()["example.com"])


def first_detail(report):
    for entry in report["policies"]:
        if entry["failure-details"]:
            return entry["failure-details"][0]
    raise AssertionError("no failure-details row")


def set_path(report, change):
    """Apply one change, given as a function of the report."""
    change(report)
    return report


BAD_REPORTS = [
    ("null contact-info", lambda r: r.update({"contact-info": None})),
    ("missing contact-info", lambda r: r.pop("contact-info")),
    ("mx-host as a string", lambda r: r["policies"][1]["policy"].update(
        {"mx-host": "*.mail.company-y.example"})),
    ("unregistered result-type", lambda r: first_detail(r).update(
        {"result-type": "quantum-failure"})),
    ("row without result-type", lambda r: first_detail(r).pop("result-type")),
    ("date-time without offset", lambda r: r["date-range"].update(
        {"start-datetime": "2026-03-01T00:00:00"})),
    ("date-time with numeric offset", lambda r: r["date-range"].update(
        {"start-datetime": "2026-03-01T00:00:00+00:00"})),
    ("count above 2^53 - 1", lambda r: r["policies"][0]["summary"].update(
        {"total-successful-session-count": 2 ** 53})),
    ("negative count", lambda r: first_detail(r).update(
        {"failed-session-count": -1})),
    ("descriptive key mx-host-pattern", lambda r: r["policies"][1][
        "policy"].update({"mx-host-pattern": []})),
    ("descriptive key additional-info-uri", lambda r: first_detail(r).update(
        {"additional-info-uri": "https://example.com/"})),
    ("empty sending-mta-ip", lambda r: first_detail(r).update(
        {"sending-mta-ip": ""})),
    ("IPv4 with leading zero", lambda r: first_detail(r).update(
        {"sending-mta-ip": "192.168.025.25"})),
    ("IPv6 in upper case", lambda r: first_detail(r).update(
        {"receiving-ip": "2001:DB8::1"})),
    ("multi-line EHLO reply", lambda r: first_detail(r).update(
        {"receiving-mx-helo": "250-mx.example.com\r\n250 PIPELINING"})),
    ("EHLO with reply code", lambda r: first_detail(r).update(
        {"receiving-mx-helo": "250 mx.example.com"})),
    ("report-id with ':' and no '@'", lambda r: r.update(
        {"report-id": "2026-03-01T00:00:00Z_example.com"})),
    ("no policies", lambda r: r.update({"policies": []})),
    ("policy without policy-domain", lambda r: r["policies"][0][
        "policy"].pop("policy-domain")),
    ("unknown policy-type", lambda r: r["policies"][0]["policy"].update(
        {"policy-type": "dane"})),
    ("tlsa without policy-string", lambda r: r["policies"][3][
        "policy"].pop("policy-string")),
    ("policy-domain in U-labels", lambda r: r["policies"][0][
        "policy"].update({"policy-domain": "b\u00fccher.example"})),
    ("end-datetime on the next day", lambda r: r["date-range"].update(
        {"end-datetime": "2026-03-02T00:00:00Z"})),
    ("null optional member", lambda r: first_detail(r).update(
        {"failure-reason-code": None})),
]


@pytest.mark.parametrize("change", [change for _, change in BAD_REPORTS],
                         ids=[name for name, _ in BAD_REPORTS])
def test_check_rejects(change):
    report = golden_sample()
    check_json(copy.deepcopy(report))
    with pytest.raises(ReportError):
        check_json(set_path(report, change))


@pytest.mark.parametrize("text", [
    b'{"a":1,"a":2}',
    b'{"a":1.0}',
    b'{"a":NaN}',
    b'{"a":"\xff"}',
], ids=["duplicate member", "float", "NaN", "invalid UTF-8"])
def test_parse_rejects(text):
    with pytest.raises(ReportError):
        parse_strict(text)


def test_gzip_members_checked():
    plain = json.dumps(golden_sample()).encode()
    member = gzip.compress(plain)
    assert check_report(member)["report-id"].startswith("2026-03-01.")
    with pytest.raises(ReportError, match="2 bytes after"):
        gunzip_one_member(member + b"\r\n")
    with pytest.raises(ReportError, match="bytes after"):
        gunzip_one_member(member + member)
    with pytest.raises(ReportError, match="truncated"):
        gunzip_one_member(member[:-4])
    with pytest.raises(ReportError, match="magic"):
        gunzip_one_member(plain)


def test_filename_checked():
    report = golden_sample()
    begin = timegm((2026, 3, 1, 0, 0, 0))
    good = (f"reports.example.net!example.com!{begin}!{begin + 86399}!"
            "dbffddf062baa4b3.json.gz")
    check_filename(good, report, "reports.example.net", "example.com")
    for bad in (good.replace("!dbff", "!db-ff"),
                good.replace(str(begin + 86399), str(begin + 86400)),
                good.replace("reports.example.net", "tlsrptd test suite"),
                good.replace(".json.gz", ".gz")):
        with pytest.raises(ReportError):
            check_filename(bad, report, "reports.example.net", "example.com")
