"""Floods: a million garbage datagrams fill neither corrupt/ nor the log.

The real suite runs with small caps on corrupt/. One process sends a
flood of invalid datagrams of every kind the receiver rejects: random
bytes, truncated JSON, JSON of the wrong shape or types, invalid UTF-8,
nesting and lengths over the limits, empty and oversized datagrams.
Valid datagrams go out at the same time, both inside the flood from the
same socket and from tlsrpt-send on a socket of its own. All sends
block while the socket queue is full, so the kernel drops nothing and
every valid datagram must be counted.

Afterwards corrupt/ contains at most receiver_corrupt_limit files and
receiver_corrupt_size_limit bytes. The receiver logged within its rate
limits (10 "rejected datagram" lines a minute, and one more about a full
corrupt/), its counters add up, and the day's counted sessions equal the
valid datagrams sent.

TLSRPTD_FLOOD_COUNT sets the number of garbage datagrams (default
1,000,000, about 5 to 20 seconds of sending on two CPUs).
"""

import itertools
import json
import os
import random
import socket
import subprocess
import time
from datetime import datetime, timedelta, timezone

import pytest

from suite import BIN, Suite, make_base_dir, wait_until
from test_pipeline import counted_sessions

FLOOD_COUNT = int(os.environ.get("TLSRPTD_FLOOD_COUNT", "1000000"))
POOL_SIZE = 5000
OVERSIZED_IN_POOL = 10          # 0.2 % of the flood, 70 kB each
VALID_EVERY = 100               # a valid datagram after every 100 bad ones
SENDER_VALID = 10000            # valid datagrams from tlsrpt-send
REJECT_LINES_PER_MINUTE = 10    # the receiver's rate limit


def valid_datagram(number):
    domain = f"flood{number % 20:02d}.example"
    return {"dpv": "1", "d": domain,
            "pr": f"v=TLSRPTv1; rua=mailto:tlsrpt@{domain}",
            "policies": [{"policy-type": 9, "policy-domain": domain,
                          "t": 0, "f": number % 2}]}


def encode(value):
    return json.dumps(value, separators=(",", ":")).encode()


# Values that each field must not have: a wrong type or out of range.
WRONG_VALUES = {
    "dpv": [1, None, [], {}, True],
    "d": [5, None, [], "", "-bad.example", "a..b.example", "example.123"],
    "pr": [1, None, [], {}, False],
    "policies": ["x", 1, None, [], [1], ["x"], {}],
    "policy-type": ["1", 3, 1.5, None, 0, 10],
    "f": [2, "0", -1, 0.5, True, None],
    "t": [-1, "1", 1.5, 2 ** 70, None],
    "policy-domain": [5, [], {}, None],
    "mx-host": ["mx.example", [1], {}, [None]],
    "failure-details": ["x", [1], {}, [None]],
    "c": [0, 199, 999, "201", None],
}


def wrong_type(rng):
    """A datagram in valid JSON with one field of a wrong type or range."""
    datagram = valid_datagram(rng.randrange(100))
    policy = datagram["policies"][0]
    field = rng.choice(sorted(WRONG_VALUES))
    value = rng.choice(WRONG_VALUES[field])
    if field in ("dpv", "d", "pr", "policies"):
        datagram[field] = value
    elif field == "c":
        policy["failure-details"] = [{"c": value}]
        policy["t"] = 1
    else:
        policy[field] = value
    return encode(datagram)


def garbage(kind, rng):
    """One invalid datagram of the given kind."""
    good = encode(valid_datagram(rng.randrange(100)))
    if kind == "random":
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 600)))
    if kind == "truncated":
        return good[:rng.randrange(1, len(good) - 1)]
    if kind == "types":
        return wrong_type(rng)
    if kind == "missing":
        datagram = valid_datagram(rng.randrange(100))
        del datagram[rng.choice(["dpv", "d", "pr", "policies"])]
        return encode(datagram)
    if kind == "utf8":
        return good.replace(b"flood", b"fl\xc3\x28od", 1)
    if kind == "deep":
        depth = rng.randrange(9, 200)
        return b'{"dpv":"1","x":' + b"[" * depth + b"]" * depth + b"}"
    if kind == "long":
        return good.replace(b'"pr":"', b'"pr":"' + b"a" * 9000, 1)
    if kind == "members":
        members = ",".join(f'"k{i}":{i}' for i in range(rng.randrange(65, 300)))
        return ('{"dpv":"1",' + members + "}").encode()
    if kind == "duplicate":
        return good[:-1] + b',"d":"other.example"}'
    if kind == "trailing":
        return good + rng.choice([b"x", b"{}", b" 1", b"\x00"])
    if kind == "not-object":
        return rng.choice([b"[]", b'"dpv"', b"123", b"null", b"true",
                           b"[" + good + b"]"])
    if kind == "empty":
        return b""
    raise ValueError(kind)


KINDS = ("random", "truncated", "types", "missing", "utf8", "deep", "long",
         "members", "duplicate", "trailing", "not-object", "empty")


def garbage_pool(seed):
    rng = random.Random(seed)
    pool = [garbage(KINDS[i % len(KINDS)], rng) for i in range(POOL_SIZE)]
    for i in range(OVERSIZED_IN_POOL):
        pool[rng.randrange(POOL_SIZE)] = b"{" + b" " * (65536 + i * 400) + b"}"
    return pool


def flood(socket_path, pool, count):
    """Send count datagrams from the pool and a valid one after every
    VALID_EVERY of them; return the number of valid datagrams sent."""
    valid = [encode(valid_datagram(number)) for number in range(40)]
    sent_valid = 0
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        sock.connect(str(socket_path))
        send = sock.send
        for number, payload in zip(range(count), itertools.cycle(pool)):
            send(payload)
            if number % VALID_EVERY == VALID_EVERY - 1:
                send(valid[sent_valid % len(valid)])
                sent_valid += 1
    return sent_valid


def receiver_counters(suite):
    """The receiver's counters from pid/status, as integers."""
    for line in (suite.queue / "pid" / "status").read_text().splitlines():
        fields = line.split()
        if fields and fields[0] == "receiver":
            return {key: int(value) for key, value in
                    (word.split("=", 1) for word in fields[4:] if "=" in word)}
    return {}


def corrupt_usage(suite):
    files = suite.files("corrupt")
    return len(files), sum(path.stat().st_size for path in files)


def days_between(start, end):
    day, days = start.date(), []
    while day <= end.date():
        days.append(day.strftime("%Y-%m-%d"))
        day += timedelta(days=1)
    return days


# (file cap, byte cap, share of FLOOD_COUNT, the cap that binds)
CAPS = {
    "size-cap": (100000, 512 * 1024, 1, "receiver_corrupt_size_limit = 524288"),
    "file-cap": (300, 100 * 1024 * 1024, 10, "receiver_corrupt_limit = 300"),
}


@pytest.mark.parametrize("case", sorted(CAPS))
def test_garbage_flood_bounded(tmp_path, case):
    file_limit, size_limit, share, binding = CAPS[case]
    suite = Suite(make_base_dir(), receiver_corrupt_limit=str(file_limit),
                  receiver_corrupt_size_limit=str(size_limit))
    try:
        suite.start()
        run_flood(suite, tmp_path, FLOOD_COUNT // share, file_limit,
                  size_limit, binding)
    finally:
        suite.cleanup()


def run_flood(suite, tmp_path, count, file_limit, size_limit, binding):
    pool = garbage_pool(seed=count)
    valid_file = tmp_path / "valid.jsonl"
    valid_file.write_bytes(b"".join(encode(valid_datagram(number)) + b"\n"
                                    for number in range(SENDER_VALID)))
    log_before = len(suite.log().splitlines())

    # The flood and tlsrpt-send at the same time, every send blocking.
    started = datetime.now(timezone.utc)
    clock = time.monotonic()
    sender = subprocess.Popen([str(BIN / "tlsrpt-send"), "-s", str(suite.socket),
                               "-r", "5000", str(valid_file)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    in_flood = flood(suite.socket, pool, count)
    _, stderr = sender.communicate(timeout=300)
    seconds = time.monotonic() - clock
    print(f"{count} garbage and {in_flood + SENDER_VALID} valid datagrams "
          f"in {seconds:.1f} s")
    assert f"sent {SENDER_VALID} datagrams, 0 dropped" in stderr, stderr
    valid_total = in_flood + SENDER_VALID
    total = count + valid_total

    # The receive thread counts a datagram as received before it parses
    # it, so a status line may show the last datagram received but not
    # yet accepted or rejected. The next status line, a second or two
    # later, includes it.
    def all_classified():
        counters = receiver_counters(suite)
        return (counters.get("received") == total
                and counters["accepted"] + counters["rejected"] == total
                and counters)

    counters = wait_until(all_classified, timeout=120,
                          what=f"a receiver status line that classifies "
                               f"{total} datagrams")
    assert counters["accepted"] == valid_total, counters
    assert counters["rejected"] == count, counters
    for kind in ("size", "json", "utf8", "limit", "schema"):
        assert counters[f"rejected_{kind}"] > 0, counters
    assert counters["truncated"] > 0, counters

    # The commit thread saves or drops a rejected datagram after the
    # receive thread counted it, so the files in corrupt/ and
    # corrupt_dropped add up to the rejections a little later.
    def settled():
        counters = receiver_counters(suite)
        files, size = corrupt_usage(suite)
        return counters["corrupt_dropped"] == count - files and \
            (counters, files, size)

    counters, files, size = wait_until(
        settled, timeout=30,
        what=f"corrupt/ and corrupt_dropped to account for {count} rejections")

    # corrupt/ stays within both caps.
    print(f"corrupt/: {files} files, {size} bytes")
    assert files <= file_limit
    assert size <= size_limit

    # The log names the cap that is reached, even in the first minute.
    assert "not saved because corrupt/ holds" in suite.log()
    assert f"({binding})" in suite.log()

    # Every valid datagram is counted.
    days = days_between(started, datetime.now(timezone.utc))
    preview = tmp_path / "preview"
    preview.mkdir()
    wait_until(lambda: sum(counted_sessions(suite, day, preview)
                           for day in days) == valid_total,
               timeout=120, interval=0.5, what=f"{valid_total} counted sessions")

    # The log: rate-limited, and no line longer than a screenful.
    lines = suite.log().splitlines()[log_before:]
    receiver_lines = [line for line in lines if "tlsrptd/receiver[" in line]
    windows = int((time.monotonic() - clock) // 60) + 2
    rejected_lines = [line for line in receiver_lines
                      if "rejected datagram from" in line]
    # 10 lines a minute for saved datagrams, 1 for those over the cap.
    assert len(rejected_lines) <= (REJECT_LINES_PER_MINUTE + 1) * windows, \
        "\n".join(rejected_lines)
    assert len(receiver_lines) <= 20 * windows, "\n".join(receiver_lines)
    assert max(map(len, lines)) < 1000
    assert suite.process.poll() is None
