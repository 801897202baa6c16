"""Permissions: "tlsrptd check" finds unsafe modes and owners, and
"tlsrptd check -f" repairs what it may.

Each test breaks one thing in a real suite's queue or configuration and
reads check's messages. Where check may repair, it then runs -f and
checks again. The broken things: a world-writable queue directory and
queue file, a receiver socket with an unsafe mode on disk or in main.cf,
a socket directory that every user may write, a DKIM key that others can
read, queue files and directories owned by the wrong account (as root
only), a symbolic link in the queue, which -f must not follow, and the
configuration files that the master reads as root.
"""

import os
import pwd
import re
import shutil
import stat
import subprocess

import pytest

from suite import BIN, REPO, TEST_ACCOUNT, Suite, make_base_dir
from test_dkim import make_key

root_only = pytest.mark.skipif(os.geteuid() != 0,
                               reason="owners are checked as root only")


def queue_id(number):
    return "%09X%05X%06X%04X" % (1, 0, 0, number)


def check(suite, *options):
    """Run tlsrptd check; return (exit status, stdout, stderr)."""
    result = suite.command("check", *options, check=False)
    return result.returncode, result.stdout, result.stderr


def errors(stderr):
    return [line for line in stderr.splitlines()
            if line.startswith("tlsrptd: error: ")]


def assert_clean(suite):
    status, out, err = check(suite)
    assert errors(err) == [], err
    assert status == 0
    assert "tlsrptd: check: 0 errors" in out


def give_to_suite(path):
    """As root, give a file to mail_owner, as the workers would write it."""
    if os.geteuid() == 0:
        account = pwd.getpwnam(TEST_ACCOUNT)
        os.lchown(path, account.pw_uid, account.pw_gid)


def new_suite(start=True, **parameters):
    suite = Suite(make_base_dir(), **parameters)
    shutil.copy(REPO / "conf" / "tlsrptd-files", suite.etc / "tlsrptd-files")
    if start:
        suite.start()
    return suite


@pytest.fixture
def suite():
    running = new_suite()
    yield running
    running.cleanup()


def test_fresh_suite_passes(suite):
    assert_clean(suite)


def test_world_writable_queue_repaired(suite):
    incoming = suite.queue / "incoming"
    held_file = suite.queue / "hold" / queue_id(1)
    held_file.write_text("a held delivery\n")
    give_to_suite(held_file)
    incoming.chmod(0o777)
    held_file.chmod(0o666)

    status, _, err = check(suite)
    assert status == 1
    assert f"{incoming} is writable by every user (mode 0777)" in err
    assert f"{incoming} has mode 0777, expected 1770" in err
    assert f"{held_file} is writable by every user (mode 0666)" in err
    assert f"{held_file} has mode 0666, expected 0640" in err

    status, out, err = check(suite, "-f")
    assert status == 0, err
    assert f"tlsrptd: repaired {incoming}: " in out
    assert f"tlsrptd: repaired {held_file}: " in out
    assert stat.S_IMODE(incoming.stat().st_mode) == 0o1770
    assert stat.S_IMODE(held_file.stat().st_mode) == 0o640
    assert_clean(suite)


def test_unsafe_socket_mode_repaired(suite):
    suite.socket.chmod(0o666)
    status, _, err = check(suite)
    assert status == 1
    assert f"{suite.socket} has mode 0666, expected 0660" in err

    status, out, err = check(suite, "-f")
    assert status == 0, err
    assert f"tlsrptd: repaired {suite.socket}: " in out
    assert stat.S_IMODE(suite.socket.stat().st_mode) == 0o660
    assert_clean(suite)


def test_socket_directory_writable_by_all(suite):
    directory = suite.socket.parent
    directory.chmod(0o777)
    try:
        status, _, err = check(suite)
        assert status == 1
        assert f"{directory}, the directory of receiver_socket, is " \
            "writable by every user, who could replace the socket" in err

        # The directory is the administrator's choice: -f leaves it.
        status, _, err = check(suite, "-f")
        assert status == 1
        assert f"{directory}, the directory of receiver_socket" in err
        assert stat.S_IMODE(directory.stat().st_mode) == 0o777

        # The sticky bit keeps others from replacing the socket.
        directory.chmod(0o1777)
        assert_clean(suite)
    finally:
        directory.chmod(0o755)


@pytest.mark.parametrize("authorized", [False, True],
                         ids=["open-socket", "authorized-users"])
def test_socket_mode_setting_for_everyone(authorized):
    parameters = {"receiver_socket_mode": "0666"}
    if authorized:
        parameters["receiver_authorized_users"] = \
            pwd.getpwuid(os.geteuid()).pw_name
    suite = new_suite(start=False, **parameters)
    try:
        status, _, err = check(suite)
        message = "receiver_socket_mode 0666 lets every local user send " \
            "datagrams and so forge the counts of the reports"
        if authorized:
            assert message not in err
            assert errors(err) == [], err
            assert status == 0
        else:
            assert message in err
            assert status == 1
    finally:
        suite.cleanup()


def test_dkim_key_readable_by_others(tmp_path):
    key, _ = make_key(tmp_path, "ed25519")
    key.chmod(0o644)
    suite = new_suite(start=False, dkim_domain="reports.example.net",
                      dkim_selector="tlsrpt2026", dkim_private_key=str(key))
    try:
        status, _, err = check(suite)
        assert status == 1
        assert f"dkim_private_key {key} can be read by every user " \
            "(mode 0644); make it mode 0600, owned by root" in err

        status, out, err = check(suite, "-f")
        assert status == 0, err
        assert f"tlsrptd: repaired {key}: mode 0640, was 0644" in out
        assert stat.S_IMODE(key.stat().st_mode) == 0o640
        assert "dkim_private_key" not in check(suite)[2]
    finally:
        suite.cleanup()


@root_only
def test_wrong_owner_repaired(suite):
    nobody = pwd.getpwnam("nobody")
    account = pwd.getpwnam(TEST_ACCOUNT)
    held_file = suite.queue / "hold" / queue_id(2)
    held_file.write_text("a held delivery\n")
    held_file.chmod(0o640)
    os.chown(held_file, nobody.pw_uid, account.pw_gid)
    deferred = suite.queue / "deferred"
    os.chown(deferred, nobody.pw_uid, nobody.pw_gid)

    status, _, err = check(suite)
    assert status == 1
    assert f"{held_file} is owned by {nobody.pw_uid}:{account.pw_gid}, expected " \
        f"{TEST_ACCOUNT}:" in err
    assert f"{deferred} is owned by {nobody.pw_uid}:{nobody.pw_gid}, " \
        f"expected {TEST_ACCOUNT}:" in err

    status, out, err = check(suite, "-f")
    assert status == 0, err
    for path in (held_file, deferred):
        assert f"tlsrptd: repaired {path}: owner {account.pw_uid}:" \
            f"{account.pw_gid}" in out
        assert (path.stat().st_uid, path.stat().st_gid) == \
            (account.pw_uid, account.pw_gid)
    assert_clean(suite)


def test_repair_does_not_follow_links(suite):
    """A link planted in the queue is reported, and -f, run as root,
    changes neither the link's target nor its owner."""
    victim = suite.base / "victim"
    victim.write_text("outside the queue\n")
    victim.chmod(0o666)
    before = victim.stat()
    link = suite.queue / "hold" / queue_id(3)
    link.symlink_to(victim)
    give_to_suite(link)

    status, _, err = check(suite)
    assert status == 1
    assert f"{link} is a symbolic link, expected a regular file; remove " \
        "or rename it" in err

    status, _, err = check(suite, "-f")
    assert status == 1
    after = victim.stat()
    assert stat.S_IMODE(after.st_mode) == 0o666
    assert (after.st_uid, after.st_gid) == (before.st_uid, before.st_gid)

    link.unlink()
    assert_clean(suite)


def test_ordinary_user_checks_modes_only():
    """Run by another user than root, check reports that it leaves owners alone."""
    suite = new_suite(start=False)
    try:
        command = [str(BIN / "tlsrptd"), "-c", str(suite.etc), "check"]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "nobody", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True,
                                timeout=60)
        assert "not running as root: checking modes, not owners" in \
            result.stdout, result.stdout + result.stderr
    finally:
        suite.cleanup()


def test_config_files_writable_by_others():
    suite = new_suite(start=False)
    main_cf, master_cf = suite.etc / "main.cf", suite.etc / "master.cf"
    try:
        main_cf.chmod(0o666)
        master_cf.chmod(0o646)
        suite.etc.chmod(0o777)
        status, _, err = check(suite)
        assert status == 1
        for path, mode in ((main_cf, "0666"), (master_cf, "0646"), (suite.etc, "0777")):
            assert f"tlsrptd: error: {path} is writable by every user (mode {mode}); " \
                'run "tlsrptd check -f"' in err

        status, out, err = check(suite, "-f")
        assert status == 0, err
        assert f"tlsrptd: repaired {main_cf}: mode 0664, was 0666" in out
        assert stat.S_IMODE(master_cf.stat().st_mode) == 0o644
        assert stat.S_IMODE(suite.etc.stat().st_mode) == 0o775
        assert_clean(suite)
    finally:
        suite.cleanup()


@root_only
def test_config_file_not_owned_by_root():
    suite = new_suite(start=False)
    main_cf = suite.etc / "main.cf"
    nobody = pwd.getpwnam("nobody")
    try:
        os.chown(main_cf, nobody.pw_uid, 0)
        message = f"tlsrptd: error: {main_cf} is owned by user ID {nobody.pw_uid}, " \
            'not by root, but the master runs as root and reads it; run "chown root'
        status, _, err = check(suite)
        assert status == 1
        assert message in err

        # -f leaves the owner of configuration files to the administrator.
        status, _, err = check(suite, "-f")
        assert status == 1
        assert message in err
        assert main_cf.stat().st_uid == nobody.pw_uid
    finally:
        suite.cleanup()


@root_only
def test_unknown_owner_once_per_manifest_line(suite):
    for number in range(4, 8):
        held_file = suite.queue / "hold" / queue_id(number)
        held_file.write_text("a held delivery\n")
        held_file.chmod(0o640)
        give_to_suite(held_file)
    suite.stop()
    suite.parameters["mail_owner"] = "no-such-user-tlsrptd"
    suite.write_config()

    status, _, err = check(suite)
    assert status == 1
    unknown = [line for line in errors(err) if '"no-such-user-tlsrptd"' in line]
    manifest_lines = [re.search(r"tlsrptd-files line (\d+)", line).group(1)
                      for line in unknown if "tlsrptd-files line" in line]
    assert f'{suite.queue}/hold: owner "no-such-user-tlsrptd" (tlsrptd-files line' in err
    assert len(manifest_lines) == len(set(manifest_lines)), err
    assert f"{suite.queue}/hold/" not in err


def test_unwritable_redirect_directory_warned(tmp_path):
    redirect = tmp_path / "redirect"
    redirect.mkdir()
    redirect.chmod(0o755 if os.geteuid() == 0 else 0o555)
    tmp_path.chmod(0o755)
    suite = new_suite(start=False, delivery_redirect=f"file:{redirect}")
    try:
        status, _, err = check(suite)
        assert status == 0, err
        if os.geteuid() == 0:
            assert f"tlsrptd: warning: delivery_redirect directory {redirect} (owner " \
                f"0:0, mode 0755) is not writable by mail_owner {TEST_ACCOUNT}; the " \
                'mailer defers every report with "Permission denied"' in err
            account = pwd.getpwnam(TEST_ACCOUNT)
            os.chown(redirect, account.pw_uid, account.pw_gid)
        else:
            assert f"tlsrptd: warning: delivery_redirect directory {redirect}: " \
                "Permission denied" in err
            redirect.chmod(0o755)
        status, _, err = check(suite)
        assert "delivery_redirect" not in err
    finally:
        suite.cleanup()
