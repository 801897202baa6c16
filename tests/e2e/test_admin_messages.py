"""End-to-end tests of what an administrator sees from the commands.

Configuration mistakes that would stop a worker at its start are refused
by "tlsrptd check", "start" and "reload" and by the master itself, with
one "tlsrptd: error:" line per problem. A typo in main.cf does not lock
the administrator out of stop, status, flush and the queue commands.
Each command answers --help, says what it did, and gives hints only
where they apply. Most tests use the master test's small test daemons
(test_master.Setup); the report hints and tlsrpt-send use the real suite.
"""

import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from suite import BIN, REPO, ROOT, Suite, make_base_dir
from test_dkim import make_key
from test_master import Setup, wait_until


@pytest.fixture
def setup():
    instance = Setup()
    yield instance
    instance.cleanup()


def error_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("tlsrptd: error: ")]


@pytest.mark.parametrize("line, expected, located", [
    ("smtp_tls_security_level = verify",
     'invalid value "verify" for smtp_tls_security_level: expected none, may or encrypt',
     True),
    ("relayhost = 127.0.0.1:25:99", 'invalid relayhost "127.0.0.1:25:99"', True),
    ("delivery_redirect = /tmp/x",
     'invalid value "/tmp/x" for delivery_redirect: expected file:/DIRECTORY', True),
    ("receiver_authorized_users = no-such-user-tlsrptd",
     'receiver_authorized_users: unknown user "no-such-user-tlsrptd"', True),
    ("dkim_selector = s1",
     "DKIM signing needs dkim_private_key, dkim_selector and dkim_domain", False),
    ("report_envelope_sender = Reports <not an address>",
     'invalid value "Reports <not an address>" for report_envelope_sender',
     True),
])
def test_worker_fatal_values_refused(setup, line, expected, located):
    (setup.etc / "main.cf").write_text((setup.etc / "main.cf").read_text() + line + "\n")
    line_number = len((setup.etc / "main.cf").read_text().splitlines())

    check = setup.tlsrptd("check")
    assert check.returncode == 1
    assert expected in check.stderr
    if located:
        assert f"tlsrptd: error: {setup.etc}/main.cf line {line_number}: " in check.stderr

    for verb in ("start", "start-fg"):
        result = setup.tlsrptd(verb)
        assert result.returncode == 1, verb
        assert any(expected in text for text in error_lines(result.stderr)), result.stderr
    assert not setup.queue.exists()

    # The master refuses the same configuration when started directly.
    master = subprocess.run([str(setup.daemons / "master"), "-c", str(setup.etc), "-f", "-S"],
                            capture_output=True, text=True, timeout=10)
    assert master.returncode == 1
    assert expected in master.stderr
    assert "fatal: not starting: fix the configuration in" in master.stderr


def test_misspelled_command_refused(setup):
    setup.write_master("receiver dgram - - n - 1 testd\n"
                       "worker unix - - n - - tesd\n")
    for verb in ("check", "start-fg"):
        result = setup.tlsrptd(verb)
        assert result.returncode == 1, verb
        assert (f"tlsrptd: error: {setup.etc}/master.cf line 2: service worker: cannot "
                f"execute {setup.daemons}/tesd: No such file or directory; check the "
                "spelling") in result.stderr
    assert not setup.queue.exists()


def test_missing_standard_services_warned(setup):
    shutil.copy(REPO / "conf" / "tlsrptd-files", setup.etc / "tlsrptd-files")
    for program in ("receiver", "aggregator", "reporter"):
        (setup.daemons / program).symlink_to(setup.daemons / "testd")
    setup.write_master("receiver dgram - - n - 1 receiver\n"
                       "aggregator unix - - n - - aggregator\n"
                       "reporter unix - - n - - reporter\n")
    status, out, err = run_check(setup)
    assert (f"tlsrptd: warning: {setup.etc}/master.cf: no service runs the mailer, so no "
            "report is delivered") in err
    assert "runs the reporter" not in err
    assert status == 0, err


def test_no_dgram_service_refused(setup):
    setup.write_master("receiver unix - - n - 1 testd\n"
                       "worker unix - - n - - testd\n")
    expected = (f"{setup.etc}/master.cf defines no dgram service; nothing reads "
                "datagrams sent to receiver_socket, so they are lost; set the type of "
                "the receiver service to dgram")
    for verb in ("check", "start", "start-fg"):
        result = setup.tlsrptd(verb)
        assert result.returncode == 1, verb
        assert f"tlsrptd: error: {expected}" in result.stderr, verb
    assert not setup.queue.exists()

    master = subprocess.run([str(setup.daemons / "master"), "-c", str(setup.etc), "-f", "-S"],
                            capture_output=True, text=True, timeout=10)
    assert master.returncode == 1
    assert expected in master.stderr


def start_and_stop(setup):
    """Run "tlsrptd start" with a maillog_file; return (start's stderr, log)."""
    log_path = setup.base / "maillog"
    setup.write_main(maillog_file=str(log_path))
    start = setup.tlsrptd("start")
    try:
        assert start.returncode == 0, start.stderr
        wait_until(lambda: log_path.exists() and "daemon started" in log_path.read_text(),
                   what="the master's log")
    finally:
        stop = setup.tlsrptd("stop")
    assert stop.returncode == 0, stop.stderr
    return start.stderr, log_path.read_text()


def test_unknown_option_name_warned(setup):
    shutil.copy(REPO / "conf" / "tlsrptd-files", setup.etc / "tlsrptd-files")
    setup.write_master("receiver dgram - - n - 1 testd\n"
                       "  -o mail_ownr=tlsrptd-recv\n"
                       "worker unix - - n - - testd\n")
    warning = (f"{setup.etc}/master.cf line 1: service receiver: unknown parameter "
               '"mail_ownr" in "-o mail_ownr=tlsrptd-recv"; check the spelling')
    status, out, err = run_check(setup)
    assert status == 0, err
    assert f"tlsrptd: warning: {warning}" in err

    printed, log = start_and_stop(setup)
    assert f"tlsrptd: warning: {warning}" in printed
    assert f"warning: {warning}" in log


def test_start_warns_about_exposed_socket_and_key(setup, tmp_path):
    key, _ = make_key(tmp_path, "ed25519")
    key.chmod(0o644)
    setup.write_main(receiver_socket_mode="0666", dkim_domain="example.net",
                     dkim_selector="s1", dkim_private_key=str(key))
    socket_warning = ("receiver_socket_mode 0666 lets every local user send datagrams "
                      "and so forge the counts of the reports")
    key_warning = (f"dkim_private_key {key} can be read by every user (mode 0644); "
                   "make it mode 0600, owned by root")

    # check reports both as errors; start runs, but prints and logs a warning for each.
    status, out, err = run_check(setup)
    assert status == 1
    assert f"tlsrptd: error: {socket_warning}" in err
    assert f"tlsrptd: error: {key_warning}" in err

    printed, log = start_and_stop(setup)
    for warning in (socket_warning, key_warning):
        assert f"tlsrptd: warning: {warning}" in printed
        assert f"warning: {warning}" in log


@pytest.mark.skipif(os.geteuid() != 0, reason="the socket's accounts are set as root only")
@pytest.mark.parametrize("parameter, value, expected", [
    ("receiver_socket_group", "no-such-group-tlsrptd",
     'unknown group "no-such-group-tlsrptd" for receiver_socket_group; set it to '
     "the group of the MTA"),
    ("receiver_socket_owner", "no-such-user-tlsrptd",
     'unknown user "no-such-user-tlsrptd" for receiver_socket_owner'),
])
def test_unknown_socket_account_refused(setup, parameter, value, expected):
    shutil.copy(REPO / "conf" / "tlsrptd-files", setup.etc / "tlsrptd-files")
    setup.write_main(**{parameter: value})
    status, out, err = run_check(setup)
    assert status == 1
    assert any(expected in line for line in error_lines(err)), err

    for verb in ("start", "start-fg"):
        result = setup.tlsrptd(verb)
        assert result.returncode == 1, verb
        assert any(expected in line for line in error_lines(result.stderr)), result.stderr
    assert not setup.queue.exists()


def run_check(setup, *args):
    result = setup.tlsrptd("check", *args)
    return result.returncode, result.stdout, result.stderr


def test_unstarted_queue_is_one_warning(setup):
    shutil.copy(REPO / "conf" / "tlsrptd-files", setup.etc / "tlsrptd-files")
    status, out, err = run_check(setup)
    assert status == 0, err
    assert (f'tlsrptd: warning: queue_directory {setup.queue} does not exist yet; '
            '"tlsrptd start" or "tlsrptd check -f" creates it') in err
    assert "does not exist" not in err.replace(f"queue_directory {setup.queue} does not exist", "")

    status, out, err = run_check(setup, "-f")
    assert status == 0, err
    assert f"tlsrptd: repaired {setup.queue}/tmp: created" in out


def test_each_line_of_an_error_has_the_prefix(setup):
    shutil.copy(REPO / "conf" / "tlsrptd-files", setup.etc / "tlsrptd-files")
    setup.write_main(organization_name=None, contact_info=None)
    for args in (("check",), ("start",)):
        result = setup.tlsrptd(*args)
        assert result.returncode == 1
        lines = result.stderr.splitlines()
        assert any(line.startswith("tlsrptd: error: organization_name is not set")
                   for line in lines), result.stderr
        assert any(line.startswith("tlsrptd: error: contact_info is not set")
                   for line in lines), result.stderr


def test_continuation_without_indentation_hint(setup):
    setup.write_master("receiver dgram - - n - 1 testd\n-o mail_owner=nobody\n")
    result = setup.tlsrptd("start-fg")
    assert result.returncode == 1
    assert (f"{setup.etc}/master.cf line 2: expected 8 columns (service type private "
            "unpriv chroot wakeup maxproc command), found 2; a continuation line such as "
            '"-o name=value" must start with white space') in result.stderr


def test_typo_does_not_lock_out(setup):
    setup.write_master("receiver dgram - - n - 1 testd\n"
                       "mailer unix - - n - - testd fifo\n")
    process = setup.start_fg()
    setup.write_main(keep_days="abc")
    warning = f"tlsrptd: warning: {setup.etc}/main.cf line "
    tail = ('invalid value "abc" for keep_days: expected a whole number from 1 to 3660; '
            'using the default for this command')

    status = setup.tlsrptd("status")
    assert status.returncode == 0, status.stderr
    assert f"running (pid {process.pid})" in status.stdout
    assert status.stderr.count(tail) == 1
    assert status.stderr.startswith(warning)

    flush = setup.tlsrptd("flush")
    assert flush.returncode == 0, flush.stderr
    assert "tlsrptd: mailer asked to retry every deferred delivery now" in flush.stdout
    wait_until(lambda: (setup.out / "triggers").exists()
               and b"F" in (setup.out / "triggers").read_bytes(), what="the flush trigger")

    listing = subprocess.run([str(BIN / "tlsrpt-queue"), "-c", str(setup.etc), "list"],
                             capture_output=True, text=True, timeout=20)
    assert listing.returncode == 0, listing.stderr
    assert "Queue is empty" in listing.stdout
    assert listing.stderr.count(tail) == 1
    assert "use -c DIR" not in listing.stderr

    # start and reload must refuse what the relaxed commands accept.
    reload = setup.tlsrptd("reload")
    assert reload.returncode == 1
    assert "not reloading: the master keeps the configuration in use" in reload.stderr

    stop = setup.tlsrptd("stop")
    assert stop.returncode == 0, stop.stderr
    assert process.wait(timeout=10) == 0


def test_reload_keeps_config_on_invalid_value(setup):
    process = setup.start_fg()
    before = len(setup.starts())
    setup.write_main(smtp_tls_security_level="verify")
    process.send_signal(signal.SIGHUP)
    setup.wait_log(r"reload failed, keeping the old configuration: .*main.cf line \d+: "
                   r'invalid value "verify" for smtp_tls_security_level')
    time.sleep(0.5)
    assert len(setup.starts()) == before
    assert process.poll() is None


def test_reload_ignores_unknown_parameter(setup):
    process = setup.start_fg()
    before = len(setup.starts())
    setup.write_main(kep_days="5")
    process.send_signal(signal.SIGHUP)
    setup.wait_log('unknown parameter "kep_days"')
    time.sleep(1)
    assert "restarting every service" not in setup.log()
    assert len(setup.starts()) == before


def test_flush_without_mailer_fails(setup):
    setup.start_fg()
    result = setup.tlsrptd("flush")
    assert result.returncode == 1
    assert (f"the mailer's wakeup FIFO {setup.queue}/private/mailer does not exist; "
            "is there a mailer service in") in result.stderr


def test_queue_directory_is_a_file(setup):
    not_a_dir = setup.base / "queue-file"
    not_a_dir.write_text("")
    setup.write_main(queue_directory=str(not_a_dir))
    result = setup.tlsrptd("status")
    assert result.returncode == 1
    assert (f"tlsrptd: queue_directory {not_a_dir} is not a directory; set "
            "queue_directory in") in result.stderr
    assert "cannot check" not in result.stderr


@pytest.mark.parametrize("program", ["tlsrptd", "tlsrpt-queue", "tlsrpt-send"])
@pytest.mark.parametrize("option", ["--help", "-h"])
def test_help_on_stdout(program, option):
    result = subprocess.run([str(BIN / program), option], capture_output=True, text=True,
                            timeout=10)
    assert result.returncode == 0
    assert result.stdout.startswith(f"usage: {program} ")
    assert result.stderr == ""


def test_queue_hints(setup):
    setup.start_fg()
    queue = [str(BIN / "tlsrpt-queue"), "-c", str(setup.etc)]
    result = subprocess.run(queue + ["release", "ALL", "bogusq"], capture_output=True,
                            text=True, timeout=20)
    assert result.returncode == 2
    assert ('"release ALL bogusq": unknown queue "bogusq"; the queues are outgoing, '
            "deferred, hold, failed, sent, and release applies to hold") in result.stderr

    missing = setup.base / "nowhere"
    result = subprocess.run([str(BIN / "tlsrpt-queue"), "-c", str(missing), "list"],
                            capture_output=True, text=True, timeout=20)
    assert result.returncode == 1
    assert (f"cannot open {missing}/main.cf: No such file or directory; use -c DIR to "
            "name the configuration directory") in result.stderr


def test_queue_read_needs_no_maillog(setup):
    setup.start_fg()
    setup.write_main(maillog_file=str(setup.base / "no-such-dir" / "maillog"))
    queue = [str(BIN / "tlsrpt-queue"), "-c", str(setup.etc)]
    listing = subprocess.run(queue + ["list"], capture_output=True, text=True, timeout=20)
    assert listing.returncode == 0, listing.stderr
    assert "Queue is empty" in listing.stdout

    delete = subprocess.run(queue + ["delete", "ALL"], capture_output=True, text=True,
                            timeout=20)
    assert delete.returncode == 1
    assert (f"cannot write maillog_file {setup.base}/no-such-dir/maillog (needed to log "
            "queue changes)") in delete.stderr
    assert "run as root or as mail_owner" in delete.stderr


def test_send_counts_in_singular(tmp_path):
    path = tmp_path / "sink.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sink:
        sink.bind(str(path))
        result = subprocess.run([str(BIN / "tlsrpt-send"), "-s", str(path)],
                                input='{"dpv":"1"}\n', capture_output=True, text=True,
                                timeout=20)
        assert sink.recv(100) == b'{"dpv":"1"}'
    assert result.returncode == 0, result.stderr
    assert "tlsrpt-send: sent 1 datagram, 0 dropped" in result.stderr


def test_send_config_hint(tmp_path):
    result = subprocess.run([str(BIN / "tlsrpt-send"), "-c", str(tmp_path / "wrong")],
                            input="", capture_output=True, text=True, timeout=20)
    assert result.returncode == 1
    assert (f"cannot open {tmp_path}/wrong/main.cf: No such file or directory; name the "
            "configuration directory with -c DIR or the socket with -s SOCKET") \
        in result.stderr


def test_empty_days_explained():
    """The real suite: reports and day status of days without counters."""
    base = make_base_dir()
    suite = Suite(base, keep_days="10")
    try:
        suite.start()
        report = suite.command("report", "--day", "2099-01-01", check=False)
        assert report.returncode == 0, report.stderr
        assert "tlsrptd: nothing counted for 2099-01-01 (a day in the future)" \
            in report.stdout

        status = suite.command("status", "--day", "2001-02-03", check=False)
        assert status.returncode == 0, status.stderr
        assert "nothing counted for 2001-02-03 (older than keep_days = 10: expired)" \
            in status.stdout

        dry_run = base / "dry-run"
        dry_run.mkdir()
        today = suite.command("report", "--day", "today", "--dry-run", str(dry_run),
                              check=False)
        assert today.returncode == 0, today.stderr
        assert "(no datagrams counted that day)" in today.stdout
    finally:
        suite.cleanup()


def test_uninstall_keeps_configuration():
    from test_install import make_install
    base = make_base_dir()
    destdir = base / "dest"
    try:
        result = make_install(destdir)
        assert result.returncode == 0, result.stdout + result.stderr
        main_cf = destdir / "etc/tlsrptd/main.cf"
        main_cf.write_text("organization_name = kept\n")

        result = subprocess.run(
            ["make", "-C", str(REPO), "-o", "all", f"OUT={ROOT}", f"DESTDIR={destdir}",
             "PREFIX=/usr", "uninstall"], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        left = sorted(str(path.relative_to(destdir)) for path in destdir.rglob("*")
                      if not path.is_dir())
        assert left == ["etc/tlsrptd/main.cf", "etc/tlsrptd/master.cf"]
        assert main_cf.read_text() == "organization_name = kept\n"
        assert not (destdir / "usr/libexec/tlsrptd").exists()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def start_reporter(config_dir, main_cf):
    """Write main_cf into config_dir and start the reporter on it, logging
    to standard error; return the finished process."""
    (config_dir / "main.cf").write_text(main_cf)
    return subprocess.run([str(ROOT / "libexec" / "tlsrptd" / "reporter"),
                           "-c", str(config_dir), "-S"],
                          capture_output=True, text=True, timeout=10)


def test_worker_logs_one_line_per_problem(tmp_path):
    """A worker started on a main.cf with two invalid values logs one
    error line for each, then one fatal line that names the directory."""
    result = start_reporter(tmp_path, "contact_info = mailto:tlsrpt@example.net\n"
                                      "keep_days = forever\n"
                                      "report_max_failure_details = 0\n")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    errors = [line for line in lines if ": error: " in line]
    assert len(errors) == 2, result.stderr
    assert "main.cf line 2" in errors[0]
    assert '"forever"' in errors[0]
    assert "main.cf line 3" in errors[1]
    assert "report_max_failure_details" in errors[1]
    assert lines[-1].endswith(f"fatal: not starting: fix the configuration in "
                              f"{tmp_path} (\"tlsrptd check\" lists every problem)")


def test_own_account_only_for_receiver(setup):
    """Only the dgram service may run as another account than mail_owner;
    check and start reject it for any other service."""
    setup.write_master("receiver dgram - - n - 1 testd\n"
                       "worker unix - - n - - testd\n"
                       "  -o mail_owner=other-account\n")
    expected = (f"{setup.etc}/master.cf line 2: service worker: only the dgram "
                "service (the receiver) may run as its own account")
    check = setup.tlsrptd("check")
    assert check.returncode == 1
    assert any(expected in line for line in error_lines(check.stderr)), check.stderr

    result = setup.tlsrptd("start-fg")
    assert result.returncode == 1
    assert expected in result.stderr
    assert '"-o mail_owner=other-account"' in result.stderr


def test_unknown_parameter_gets_suggestion(tmp_path):
    """A misspelled parameter name gets the known name that is one or two
    edits away. A name far from all of them gets the plain warning."""
    result = start_reporter(tmp_path, "organisation_name = Example\n"
                                      "keep_dayz = 3\n"
                                      "foo_bar_baz = 1\n")
    assert ('main.cf line 1: unknown parameter "organisation_name"; did you '
            'mean "organization_name"?') in result.stderr
    assert ('main.cf line 2: unknown parameter "keep_dayz"; did you mean '
            '"keep_days"?') in result.stderr
    assert ('main.cf line 3: unknown parameter "foo_bar_baz"; check the '
            'spelling') in result.stderr
