"""End-to-end tests of "make install" and of the installed documentation.

The install test runs the real install rule (make install DESTDIR=...
PREFIX=/usr, without rebuilding) into a temporary directory, edits the
installed main.cf for a temporary queue and socket, starts the installed
suite from the installed configuration, and sends it a datagram. The
documentation tests check that tlsrptd.conf(5) describes every parameter
of src/util/params.c and that every page renders without warnings.
"""

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from suite import REPO, ROOT, Suite, make_base_dir, sample_files, wait_until

MAN_PAGES = {
    "man1": ["tlsrpt-queue.1", "tlsrpt-send.1"],
    "man5": ["tlsrptd.conf.5", "tlsrptd-master.cf.5"],
    "man8": ["tlsrptd.8", "tlsrptd-master.8", "tlsrptd-receiver.8",
             "tlsrptd-aggregator.8", "tlsrptd-reporter.8", "tlsrptd-mailer.8"],
}


def make_install(destdir):
    """Run the install rule for the binaries of this build, without rebuilding."""
    return subprocess.run(
        ["make", "-C", str(REPO), "-o", "all", f"OUT={ROOT}",
         f"DESTDIR={destdir}", "PREFIX=/usr", "install"],
        capture_output=True, text=True, timeout=120)


def params_from_source():
    text = (REPO / "src" / "util" / "params.c").read_text()
    return re.findall(r'^\s*(?:STR|INT|TIME|SIZE|BOOL|MODE|REQUIRED)\("([a-z0-9_]+)"',
                      text, re.M)


def test_man_page_lists_every_parameter():
    page = (REPO / "man" / "tlsrptd.conf.5").read_text()
    names = params_from_source()
    assert len(names) > 40
    missing = [name for name in names if f"\\fB{name}\\fR (" not in page]
    assert not missing, f"tlsrptd.conf.5 does not describe {missing}"


@pytest.mark.skipif(shutil.which("groff") is None, reason="needs groff")
@pytest.mark.parametrize("page", sorted(p for pages in MAN_PAGES.values() for p in pages))
def test_man_page_renders_cleanly(page):
    result = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z",
                             str(REPO / "man" / page)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert result.stderr == ""


@pytest.fixture
def installed():
    base = make_base_dir()
    destdir = base / "dest"
    result = make_install(destdir)
    assert result.returncode == 0, result.stdout + result.stderr
    yield base, destdir
    shutil.rmtree(base, ignore_errors=True)


def test_install_layout(installed):
    base, destdir = installed
    for path in ("usr/sbin/tlsrptd", "usr/sbin/tlsrpt-queue", "usr/bin/tlsrpt-send",
                 "usr/libexec/tlsrptd/master", "usr/libexec/tlsrptd/receiver",
                 "usr/libexec/tlsrptd/aggregator", "usr/libexec/tlsrptd/reporter",
                 "usr/libexec/tlsrptd/mailer"):
        assert os.access(destdir / path, os.X_OK), path
    for name in ("main.cf", "master.cf", "tlsrptd-files"):
        assert (destdir / "etc/tlsrptd" / name).read_text() == \
            (REPO / "conf" / name).read_text()
    for section, pages in MAN_PAGES.items():
        for page in pages:
            assert (destdir / "usr/share/man" / section / page).read_text() == \
                (REPO / "man" / page).read_text()
    unit = (destdir / "usr/lib/systemd/system/tlsrptd.service").read_text()
    assert "\nExecStart=/usr/sbin/tlsrptd start-fg\n" in unit
    assert "@SBINDIR@" not in unit

    # A second install keeps the edited configuration.
    main_cf = destdir / "etc/tlsrptd/main.cf"
    main_cf.write_text("organization_name = edited\n")
    again = make_install(destdir)
    assert again.returncode == 0, again.stderr
    assert f"keeping existing {destdir}/etc/tlsrptd/main.cf" in again.stdout
    assert main_cf.read_text() == "organization_name = edited\n"


def test_installed_suite_handles_a_datagram(installed):
    base, destdir = installed
    etc = destdir / "etc/tlsrptd"

    # The installed main.cf, with the test settings of suite.py (accounts
    # when root, required parameters) and a queue and socket of this test.
    settings = Suite(base / "settings")
    queue = base / "queue"
    socket_path = base / "run" / "tlsrpt.sock"
    log_path = base / "maillog"
    overrides = dict(settings.parameters, queue_directory=str(queue),
                     receiver_socket=str(socket_path), maillog_file=str(log_path))
    with open(etc / "main.cf", "a") as main_cf:
        main_cf.write("\n# test settings\n")
        main_cf.writelines(f"{name} = {value}\n" for name, value in overrides.items())

    sbin = destdir / "usr/sbin"
    console = open(base / "console.log", "wb")
    process = subprocess.Popen([str(sbin / "tlsrptd"), "-c", str(etc), "start-fg"],
                               stdout=console, stderr=subprocess.STDOUT)
    try:
        status_file = queue / "pid" / "status"
        wait_until(lambda: process.poll() is not None or (
            status_file.exists() and status_file.read_text().count(" ready ") == 4),
            what="the installed suite to start")
        assert process.poll() is None, (base / "console.log").read_text()
        assert f"started {destdir}/usr/libexec/tlsrptd/receiver" in log_path.read_text()

        send = subprocess.run([str(destdir / "usr/bin/tlsrpt-send"), "-c", str(etc),
                               str(sample_files()[0])],
                              capture_output=True, text=True, timeout=30)
        assert send.returncode == 0, send.stderr
        try:
            wait_until(lambda: "datagrams=1 " in status_file.read_text(),
                       what="the aggregator to count the datagram")
        except AssertionError as error:
            raise AssertionError(f"{error}\n{status_file.read_text()}\n"
                                 f"{(base / 'console.log').read_text()}") from None

        # The receiver sends its counters at most once a second, so its
        # line may still be older than the aggregator's.
        def receiver_counted():
            status = subprocess.run([str(sbin / "tlsrptd"), "-c", str(etc), "status"],
                                    capture_output=True, text=True, timeout=30)
            return re.search(r"receiver\s+\d+\s+ready\s+0\s+received=1 ",
                             status.stdout)

        wait_until(receiver_counted, what="the receiver's counters in tlsrptd status")
        check = subprocess.run([str(sbin / "tlsrptd"), "-c", str(etc), "check"],
                               capture_output=True, text=True, timeout=30)
        assert "tlsrptd: check: 0 errors" in check.stdout, check.stdout + check.stderr
        assert check.returncode == 0
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        console.close()
