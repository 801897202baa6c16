#!/usr/bin/python3
"""Write a backlog of receiver batch files for the aggregator benchmark.

Usage: bench/aggregator_batches.py --queue DIR [--datagrams N]
           [--domains N] [--batch-size N] [--day YYYY-MM-DD] [--seed N]

Writes --datagrams datagrams (default 1,000,000) as batch files of
--batch-size lines (default 10,000, the default receiver_batch_size)
into DIR/incoming/. Each file is written under DIR/tmp/ first and
renamed into place. The format is the receiver's: a version line, a
header, one "RECEIVE-TIME JSON" line per datagram and an end record with
the count.
File names are queue IDs in ascending order, so the aggregator counts
them in the order written.

The traffic is a model, not a capture. It is meant to be typical of a
sending platform:
- --domains recipient domains (default 10,000), each with a TLSRPT record
  of its own. Domain popularity follows Zipf's law (weight 1/rank), so a
  few large providers get most of the traffic and most domains few
  sessions.
- Each domain has one fixed policy profile: 60 % no-policy-found, 25 %
  MTA-STS (enforce or testing, one or two mx patterns), 10 % DANE (one or
  two TLSA records for the MX host), 5 % both MTA-STS and DANE in one
  datagram (two policies), as Postfix reports for a DANE domain that
  also publishes MTA-STS.
- Sessions fail with a probability of 1 % (no-policy-found: the server
  offers no STARTTLS), 4 % (MTA-STS) or 2 % (DANE). A failure carries one
  failure-detail with a result code typical of the policy type, the
  sending IP (one of four), the MX host name, its EHLO reply as Postfix
  sends it, and the receiving IP.
- Receive times are spread over the day's hours 00:00 to 23:59 UTC.
The stream of datagrams is the same for the same --seed.
"""
import argparse
import calendar
import json
import os
import pathlib
import random
import sys
import time

POLICY_TLSA, POLICY_STS, POLICY_NONE = 1, 2, 9
SENDING_IPS = ("192.0.2.10", "192.0.2.11", "2001:db8::25", "2001:db8::26")
STS_CODES = (202, 203, 204, 301, 303)
TLSA_CODES = (304, 305, 205, 202)
PROFILES = (("none", 60), ("sts", 25), ("tlsa", 10), ("both", 5))
FAILURE_RATES = {POLICY_NONE: 0.01, POLICY_STS: 0.04, POLICY_TLSA: 0.02}


def domain_name(index):
    return f"d{index}.example"


class Domain:
    """The fixed policies of one recipient domain and its datagrams."""

    def __init__(self, index, chance):
        name = domain_name(index)
        self.name = name
        self.record = f"v=TLSRPTv1; rua=mailto:tlsrpt@{name}"
        self.mx = f"mx{1 + index % 3}.{name}"
        self.ip = f"198.51.{index // 250 % 256}.{index % 250 + 1}"

        profile = chance.choices([p for p, _ in PROFILES],
                                 [w for _, w in PROFILES])[0]
        self.policies = []
        if profile == "none":
            self.policies.append({"policy-type": POLICY_NONE,
                                  "policy-domain": name})
        if profile in ("sts", "both"):
            patterns = [f"*.{name}"] + ([f"backup.{name}"]
                                         if chance.random() < 0.3 else [])
            mode = "enforce" if chance.random() < 0.8 else "testing"
            self.policies.append({
                "policy-type": POLICY_STS, "policy-domain": name,
                "policy-string": ["version: STSv1", f"mode: {mode}"]
                + [f"mx: {pattern}" for pattern in patterns]
                + ["max_age: 604800"],
                "mx-host": patterns})
        if profile in ("tlsa", "both"):
            records = [f"3 1 1 {chance.getrandbits(256):064x}"
                       for _ in range(1 + (chance.random() < 0.4))]
            self.policies.append({"policy-type": POLICY_TLSA,
                                  "policy-domain": self.mx,
                                  "policy-string": records})

        self.success = self._encode(None, None)
        self.ehlo = (f"250-{self.mx}\r\n250-PIPELINING\r\n250-SIZE 52428800"
                     f"\r\n250-STARTTLS\r\n250 SMTPUTF8")

    def _encode(self, failed_index, detail):
        policies = []
        for index, policy in enumerate(self.policies):
            entry = dict(policy)
            if index == failed_index:
                entry["failure-details"] = [detail]
                entry["t"] = 1
                entry["f"] = 1
            else:
                entry["t"] = 0
                entry["f"] = 0
            policies.append(entry)
        return json.dumps({"dpv": "1", "d": self.name, "pr": self.record,
                           "policies": policies}, separators=(",", ":"))

    def datagram(self, chance):
        """Return one session's datagram: usually the cached success."""
        for index, policy in enumerate(self.policies):
            kind = policy["policy-type"]
            if chance.random() >= FAILURE_RATES[kind]:
                continue
            if kind == POLICY_NONE:
                code = 201
            elif kind == POLICY_STS:
                code = chance.choice(STS_CODES)
            else:
                code = chance.choice(TLSA_CODES)
            detail = {"c": code, "s": chance.choice(SENDING_IPS),
                      "n": self.mx, "h": self.ehlo, "r": self.ip}
            return self._encode(index, detail)
        return self.success


def queue_id(seconds, counter):
    """Return a queue ID (24 hex digits) that sorts by counter."""
    return "%09X%05X%06X%04X" % (seconds & 0xFFFFFFFFF, counter >> 16 & 0xFFFFF,
                                  os.getpid() & 0xFFFFFF, counter & 0xFFFF)


def write_batch(queue, batch_id, lines, created):
    body = "".join(lines)
    text = (f"tlsrptd-batch 1\ncreated: {created}\nhost: bench.example\n\n"
            f"{body}end {len(lines)}\n")
    tmp = queue / "tmp" / f"bench.{batch_id}"
    tmp.write_text(text)
    os.chmod(tmp, 0o644)
    os.rename(tmp, queue / "incoming" / batch_id)
    return len(text)


def generate(queue, datagrams, domains, batch_size, day, seed):
    """Write the batches; return (batch count, bytes written, count of
    domains that got at least one datagram)."""
    chance = random.Random(seed)
    table = [Domain(index, chance) for index in range(domains)]
    weights = [1.0 / (rank + 1) for rank in range(domains)]
    cumulative = []
    total = 0.0
    for weight in weights:
        total += weight
        cumulative.append(total)
    start = calendar.timegm(time.strptime(day, "%Y-%m-%d"))
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + 86399))
    now = int(time.time())
    batches = 0
    size = 0
    written = 0
    seen = set()
    while written < datagrams:
        count = min(batch_size, datagrams - written)
        picks = chance.choices(table, cum_weights=cumulative, k=count)
        seen.update(domain.name for domain in picks)
        lines = []
        for offset, domain in enumerate(picks):
            when = start + (written + offset) * 86400 // datagrams
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
            lines.append(f"{stamp} {domain.datagram(chance)}\n")
        size += write_batch(queue, queue_id(now, batches), lines, created)
        batches += 1
        written += count
    return batches, size, len(seen)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queue", required=True, type=pathlib.Path,
                        help="queue directory with tmp/ and incoming/")
    parser.add_argument("--datagrams", type=int, default=1_000_000)
    parser.add_argument("--domains", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--day", default=time.strftime("%Y-%m-%d",
                                                       time.gmtime()),
                        help="UTC day of the receive times (default today)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    for name in ("tmp", "incoming"):
        if not (args.queue / name).is_dir():
            sys.exit(f"aggregator_batches: {args.queue / name} is not a "
                     f"directory")
    batches, size, seen = generate(args.queue, args.datagrams, args.domains,
                                   args.batch_size, args.day, args.seed)
    print(f"wrote {batches} batches, {args.datagrams} datagrams to {seen} "
          f"domains, {size} bytes into {args.queue / 'incoming'}")


if __name__ == "__main__":
    main()
