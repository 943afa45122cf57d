"""`pahara code` against two independent implementations, oathtool and pyotp, on random keys.

Every case is drawn from a seeded PRNG, so a failure can be replayed: the seed is printed at
the end of the run (PAHARA_INTEROP_SEED=N replays it, =random draws a new one, and
PAHARA_INTEROP_CASES=N changes how many).  Each case is asked of pahara twice, once with
options and once as an otpauth URI, and must give the same code as oathtool and pyotp.

oathtool only does HOTP with SHA-1.  For HOTP with SHA-256/512 we ask it for TOTP with a time
step of one second at time = counter, which is HOTP by definition (RFC 6238 §4.2: T = (time -
T0) / X).
"""

import base64
import concurrent.futures
import dataclasses
import hashlib
import os
import random
import subprocess
import urllib.parse

import pyotp
import pytest

from conftest import INTEROP_SEED, need_tool, run

CASES = int(os.environ.get("PAHARA_INTEROP_CASES", "1000"))
SAN_EVERY = 10  # the sanitizer build checks every tenth case (it starts several times slower)
DIGESTS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}
LABELS = ["alice", "alice@example.com", "Example:alice", "ACME Co:bob+2fa@example.org",
          "पहारा:राम", "Ünïcödé Bank:zoë", "🔐:x"]


@dataclasses.dataclass
class Case:
    n: int
    kind: str  # "totp" or "hotp"
    secret: bytes
    alg: str
    digits: int
    period: int
    moment: int  # unix time (totp) or counter (hotp)
    options: list  # pahara code arguments with options
    uri: list  # pahara code arguments with the same key as an otpauth URI

    @property
    def b32(self):
        return base64.b32encode(self.secret).decode().rstrip("=")

    def __str__(self):
        return (f"case {self.n}: {self.kind} {self.alg} digits={self.digits} "
                f"period={self.period} {'time' if self.kind == 'totp' else 'counter'}="
                f"{self.moment} secret={self.b32}")


def interesting_time(rng, period):
    """A time near a boundary: a step edge, 2^31, 2^32, 2^33, or anywhere in 0..2^33."""
    base = rng.choice([0, 2**31, 2**32, 2**33 - 10 * period, rng.randrange(2**33),
                       rng.randrange(2**33) // period * period])
    return max(0, min(2**33, base + rng.randint(-2, 2) + rng.choice([0, 0, period - 1, period])))


def spell_secret(rng, secret):
    """The same secret written the ways a person might: padded, lower case, grouped."""
    padded = base64.b32encode(secret).decode()
    s = padded if rng.random() < 0.2 else padded.rstrip("=")
    if rng.random() < 0.2:
        s = s.lower()
    if rng.random() < 0.15:
        s = " ".join(s[i:i + 4] for i in range(0, len(s), 4))
    return s


def option(rng, name, value):
    return [f"{name}={value}"] if rng.random() < 0.5 else [name, str(value)]


def make_case(rng, n):
    kind = rng.choice(["totp", "hotp"])
    secret = rng.randbytes(rng.randint(10, 64))
    alg = rng.choice(list(DIGESTS))
    digits = rng.choice([6, 7, 8])
    period = rng.choice([30, 30, 60, 1, 300, rng.randint(1, 300)])
    if kind == "totp":
        moment = interesting_time(rng, period)
    else:
        moment = rng.choice([0, 1, 2**32 - 1, 2**32, 2**40, rng.randrange(2**40),
                             rng.randrange(1000)])

    # options in random order and spelling, defaults sometimes stated, the secret anywhere
    groups = []
    if kind == "hotp":
        groups += [["--hotp"], option(rng, "--counter", moment)]
    else:
        if rng.random() < 0.3:
            groups.append(["--totp"])
        groups.append(option(rng, "--time", moment))
        if period != 30 or rng.random() < 0.3:
            groups.append(option(rng, "--period", period))
    if alg != "sha1" or rng.random() < 0.3:
        groups.append(option(rng, "--algorithm", rng.choice([alg, alg.upper()])))
    if digits != 6 or rng.random() < 0.3:
        groups.append(option(rng, "--digits", digits))
    groups.append([spell_secret(rng, secret)])
    rng.shuffle(groups)
    opts = [arg for group in groups for arg in group]

    label = rng.choice(LABELS)
    params = [("secret", base64.b32encode(secret).decode().rstrip("="))]
    if ":" in label and rng.random() < 0.7:
        params.append(("issuer", label.split(":")[0]))
    if alg != "sha1" or rng.random() < 0.5:
        params.append(("algorithm", alg.upper()))
    if digits != 6 or rng.random() < 0.5:
        params.append(("digits", str(digits)))
    if kind == "totp" and (period != 30 or rng.random() < 0.5):
        params.append(("period", str(period)))
    if kind == "hotp":
        params.append(("counter", str(moment)))
    rng.shuffle(params)
    uri = (f"otpauth://{kind}/{urllib.parse.quote(label, safe=':@')}?"
           + urllib.parse.urlencode(params, quote_via=urllib.parse.quote))
    # the URI holds the counter of an HOTP key; a TOTP one needs the moment from --time
    uri_args = [uri] if kind == "hotp" else option(rng, "--time", moment) + [uri]
    return Case(n, kind, secret, alg, digits, period, moment, opts, uri_args)


def oathtool_code(case):
    if case.kind == "hotp" and case.alg == "sha1":
        args = ["--hotp", "-c", str(case.moment)]
    elif case.kind == "hotp":
        args = [f"--totp={case.alg.upper()}", "-s", "1s", "-N", f"@{case.moment}"]
    else:
        args = [f"--totp={case.alg.upper()}", "-s", f"{case.period}s", "-N", f"@{case.moment}"]
    r = subprocess.run(["oathtool", "-b", "-d", str(case.digits), *args, case.b32],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, f"oathtool failed on {case}: {r.stderr}"
    return r.stdout.strip()


def pyotp_code(case):
    digest = DIGESTS[case.alg]
    if case.kind == "hotp":
        return pyotp.HOTP(case.b32, digits=case.digits, digest=digest).at(case.moment)
    return pyotp.TOTP(case.b32, digits=case.digits, digest=digest,
                      interval=case.period).at(case.moment)


def pahara_code(binary, args):
    r = run(binary, "code", *args)
    if r.returncode != 0 or r.stderr:
        return f"<exit {r.returncode}: {r.stderr.strip()}>"
    return r.stdout


def check(case, rel, san):
    """Every disagreement of this case, as sentences; empty when all agree."""
    want = oathtool_code(case)
    problems = []
    if pyotp_code(case) != want:
        problems.append(f"{case}: oathtool {want} but pyotp {pyotp_code(case)}")
    binaries = [rel] + ([san] if case.n % SAN_EVERY == 0 else [])
    for binary in binaries:
        for args in (case.options, case.uri):
            got = pahara_code(binary, args)
            if got != want + "\n":
                problems.append(f"{case}: oathtool {want} but `pahara code {' '.join(args)}` "
                                f"({os.path.basename(os.path.dirname(binary))}) gave {got!r}")
    return problems


def test_cases_cover_the_space():
    """The generator really draws what it promises (a guard against a silently narrow sweep)."""
    rng = random.Random(INTEROP_SEED)
    cases = [make_case(rng, n) for n in range(CASES)]
    if CASES < 1000:
        pytest.skip("coverage is only checked on a full sweep")
    assert {c.kind for c in cases} == {"totp", "hotp"}
    assert {c.alg for c in cases} == set(DIGESTS)
    assert {c.digits for c in cases} == {6, 7, 8}
    assert {1, 30, 60, 300} <= {c.period for c in cases}
    assert min(len(c.secret) for c in cases) == 10 and max(len(c.secret) for c in cases) == 64
    assert max(c.moment for c in cases if c.kind == "totp") >= 2**32
    assert max(c.moment for c in cases if c.kind == "hotp") >= 2**39


def test_agrees_with_oathtool_and_pyotp(pahara_rel, pahara_san):
    need_tool("oathtool")
    rng = random.Random(INTEROP_SEED)
    cases = [make_case(rng, n) for n in range(CASES)]
    workers = 2 * (os.cpu_count() or 2)
    problems = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        for found in pool.map(lambda c: check(c, pahara_rel, pahara_san), cases):
            problems += found
    assert not problems, (f"seed {INTEROP_SEED}: {len(problems)} disagreements:\n"
                          + "\n".join(problems[:20]))
