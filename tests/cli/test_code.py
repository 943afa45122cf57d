"""`pahara code`: the RFC test vectors, every way of giving the same key, and every error.

The random sweep against oathtool and pyotp is in test_interop.py; this file holds the cases
a person would think of, each with the exact behaviour we promise.
"""

import base64
import hashlib
import time

import pyotp
import pytest

from conftest import run

# RFC 6238 Appendix B: the seeds are ASCII digits, of the hash's natural key length.
SEEDS = {
    "sha1": b"12345678901234567890",
    "sha256": b"12345678901234567890123456789012",
    "sha512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
RFC6238 = [  # time, sha1, sha256, sha512 (8 digits, 30 s)
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]
# RFC 4226 Appendix D: counters 0..9 of the SHA-1 seed, 6 digits.
RFC4226 = ["755224", "287082", "359152", "969429", "338314",
           "254676", "287922", "162583", "399871", "520489"]


def b32(raw):
    return base64.b32encode(raw).decode().rstrip("=")


SHA1_SECRET = b32(SEEDS["sha1"])  # GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ


def ok(binary, *args, stdin=None):
    r = run(binary, *args, stdin=stdin)
    assert (r.returncode, r.stderr) == (0, ""), args
    return r.stdout


@pytest.mark.parametrize("t,sha1,sha256,sha512", RFC6238)
def test_rfc6238_vectors(pahara, t, sha1, sha256, sha512):
    for alg, want in (("sha1", sha1), ("sha256", sha256), ("sha512", sha512)):
        secret = b32(SEEDS[alg])
        assert ok(pahara, "code", "--algorithm", alg, "--digits", "8", "--time", str(t),
                  secret) == want + "\n"
        uri = f"otpauth://totp/RFC:6238?secret={secret}&algorithm={alg.upper()}&digits=8"
        assert ok(pahara, "code", "--time", str(t), uri) == want + "\n"


def test_rfc4226_vectors(pahara):
    for counter, want in enumerate(RFC4226):
        assert ok(pahara, "code", "--hotp", "--counter", str(counter), SHA1_SECRET) == want + "\n"
        uri = f"otpauth://hotp/RFC:4226?secret={SHA1_SECRET}&counter={counter}"
        assert ok(pahara, "code", uri) == want + "\n"


@pytest.mark.parametrize("args", [
    ["--digits=8", "--time=59", SHA1_SECRET],
    ["--digits", "8", "--time", "59", SHA1_SECRET],
    [SHA1_SECRET, "--digits", "8", "--time=59"],
    ["--totp", "--algorithm=SHA1", "--period=30", "--digits=8", "--time=59", SHA1_SECRET],
    ["--algorithm", "sha-1", "--digits", "8", "--time", "59", "--", SHA1_SECRET],
    ["--digits", "08", "--time", "0059", SHA1_SECRET],
    ["--digits=8", "--time=59", SHA1_SECRET.lower()],
    ["--digits=8", "--time=59", "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ"],
    ["--digits=8", "--time=59", "gezd-gnbv-gy3t-qojq-gezd-gnbv-gy3t-qojq"],
    ["--digits=8", "--time=59", base64.b32encode(SEEDS["sha1"]).decode()],
])
def test_every_spelling_of_the_same_request(pahara, args):
    assert ok(pahara, "code", *args) == "94287082\n"


@pytest.mark.parametrize("secret", ["AE======", "AE", "ae"])
def test_short_secrets_with_and_without_padding(pahara, secret):
    want = pyotp.HOTP("AE======").at(7)
    assert ok(pahara, "code", "--hotp", "--counter", "7", secret) == want + "\n"


def test_default_time_is_now(pahara):
    totp = pyotp.TOTP(SHA1_SECRET)
    before = time.time()
    code = ok(pahara, "code", SHA1_SECRET).strip()
    after = time.time()
    assert code in {totp.at(before), totp.at(after)}


def test_default_time_is_now_with_period_and_uri(pahara):
    totp = pyotp.TOTP(SHA1_SECRET, digits=7, digest=hashlib.sha256, interval=5)
    before = time.time()
    code = ok(pahara, "code",
              f"otpauth://totp/a?secret={SHA1_SECRET}&algorithm=SHA256&digits=7&period=5").strip()
    after = time.time()
    assert code in {totp.at(before), totp.at(after)}


def test_largest_counter_and_time(pahara):
    top = 2**64 - 1
    assert ok(pahara, "code", "--hotp", "--counter", str(top), SHA1_SECRET) == \
        pyotp.HOTP(SHA1_SECRET).at(top) + "\n"
    # the last second a signed 64-bit time can hold, in steps of 30 s
    step = (2**63 - 1) // 30
    assert ok(pahara, "code", "--time", str(2**63 - 1), SHA1_SECRET) == \
        pyotp.HOTP(SHA1_SECRET).at(step) + "\n"


URI_TOTP = f"otpauth://totp/Example:alice?secret={SHA1_SECRET}&issuer=Example&digits=8"
URI_HOTP = f"otpauth://hotp/Example:alice?secret={SHA1_SECRET}&issuer=Example&counter=5"


@pytest.mark.parametrize("args,want", [
    ([URI_TOTP, "--time", "59"], "94287082"),
    (["--time=59", URI_TOTP], "94287082"),
    # options that agree with the URI (including its defaults) are allowed
    (["--totp", "--digits", "8", "--algorithm", "sha1", "--period", "30", "--time", "59",
      URI_TOTP], "94287082"),
    ([URI_HOTP], RFC4226[5]),
    (["--hotp", URI_HOTP], RFC4226[5]),
    # --counter replaces the URI's counter
    (["--counter", "2", URI_HOTP], RFC4226[2]),
    (["--hotp", "--counter=9", "--digits=6", URI_HOTP], RFC4226[9]),
])
def test_uri_with_options(pahara, args, want):
    assert ok(pahara, "code", *args) == want + "\n"


def test_secret_and_uri_from_stdin(pahara):
    assert ok(pahara, "code", "--digits", "8", "--time", "59", "-",
              stdin=SHA1_SECRET + "\n") == "94287082\n"
    assert ok(pahara, "code", "--time", "59", "-", stdin=URI_TOTP + "\r\n") == "94287082\n"
    assert ok(pahara, "code", "--counter", "3", "-", stdin=URI_HOTP) == RFC4226[3] + "\n"
    # only the first line is read
    assert ok(pahara, "code", "--counter", "3", "-", stdin=URI_HOTP + "\nJUNK\n") == \
        RFC4226[3] + "\n"


TOO_LONG_SECRET = b32(bytes(range(129)))
MAX_SECRET = b32(bytes(range(128)))


def test_longest_secret(pahara):
    assert ok(pahara, "code", "--hotp", "--counter", "1", MAX_SECRET) == \
        pyotp.HOTP(MAX_SECRET).at(1) + "\n"


# Each bad input: exit 2, nothing on stdout, and a message on stderr naming the problem.
ERRORS = [
    # the secret
    (["JBS1Y3DP"], "secret: character '1' at position 4 is not base32 (A-Z, 2-7)"),
    (["JBSWY3D8"], "secret: character '8' at position 8 is not base32"),
    (["JBSW.Y3DP"], "secret: character '.' at position 5 is not base32"),
    (["JBSWY3DP\t"], "secret: character 0x09 at position 9 is not base32"),
    (["JBSWY3DPÉ"], "secret: character 0xC3 at position 9 is not base32"),
    ([""], "secret: it is empty"),
    (["  --  "], "secret: it is empty"),
    (["A"], "secret: its length cannot be base32"),
    (["ABC"], "secret: its length cannot be base32"),
    (["AB"], "secret: its last character 'B' (position 2) has bits left over"),
    (["AE=A"], "secret: the '=' padding"),
    ([TOO_LONG_SECRET], "secret: longer than 128 bytes"),
    # numbers, strictly
    (["--digits", "5", SHA1_SECRET], "--digits must be 6, 7 or 8, not '5'"),
    (["--digits", "9", SHA1_SECRET], "--digits must be 6, 7 or 8, not '9'"),
    (["--digits=6x", SHA1_SECRET], "--digits must be 6, 7 or 8, not '6x'"),
    (["--digits=-6", SHA1_SECRET], "--digits must be 6, 7 or 8, not '-6'"),
    (["--digits=+6", SHA1_SECRET], "--digits must be 6, 7 or 8, not '+6'"),
    (["--digits= 6", SHA1_SECRET], "--digits must be 6, 7 or 8, not ' 6'"),
    (["--digits=", SHA1_SECRET], "--digits must be 6, 7 or 8, not ''"),
    (["--digits=4294967302", SHA1_SECRET], "--digits must be 6, 7 or 8"),
    (["--period", "0", SHA1_SECRET], "--period must be a whole number of seconds from 1 to 3600"),
    (["--period", "3601", SHA1_SECRET], "--period must be"),
    (["--period", "30s", SHA1_SECRET], "--period must be"),
    (["--time", "-1", SHA1_SECRET], "--time must be a whole number of seconds from 0 to"),
    (["--time", "1.5", SHA1_SECRET], "--time must be"),
    (["--time", "now", SHA1_SECRET], "--time must be"),
    (["--time", str(2**63), SHA1_SECRET], "--time must be"),
    (["--time", "99999999999999999999999", SHA1_SECRET], "--time must be"),
    (["--hotp", "--counter", "-1", SHA1_SECRET], "--counter must be a whole number from 0 to"),
    (["--hotp", "--counter", str(2**64), SHA1_SECRET], "--counter must be"),
    (["--hotp", "--counter", "0x10", SHA1_SECRET], "--counter must be"),
    (["--algorithm", "md5", SHA1_SECRET], "--algorithm must be sha1, sha256 or sha512, not 'md5'"),
    (["--algorithm=", SHA1_SECRET], "--algorithm must be"),
    # combinations
    (["--hotp", SHA1_SECRET], "--hotp needs --counter N"),
    (["--counter", "1", SHA1_SECRET], "--counter is for HOTP"),
    (["--totp", "--counter", "1", SHA1_SECRET], "--counter is for HOTP"),
    (["--hotp", "--counter", "1", "--period", "60", SHA1_SECRET], "--period is for TOTP"),
    (["--hotp", "--counter", "1", "--time", "60", SHA1_SECRET], "--time is for TOTP"),
    (["--totp", "--hotp", "--counter", "1", SHA1_SECRET], "--totp and --hotp cannot be used"),
    (["--digits", "6", "--digits", "8", SHA1_SECRET], "--digits is given more than once"),
    (["--digits=6", "--digits=6", SHA1_SECRET], "--digits is given more than once"),
    (["--totp", "--totp", SHA1_SECRET], "--totp is given more than once"),
    # usage
    ([], "missing the secret"),
    (["--time", "5"], "missing the secret"),
    ([SHA1_SECRET, SHA1_SECRET], f"unexpected argument '{SHA1_SECRET}'"),
    (["--frobnicate", SHA1_SECRET], "unknown option '--frobnicate'"),
    (["--frobnicate=1", SHA1_SECRET], "unknown option '--frobnicate'"),
    (["-d", "8", SHA1_SECRET], "unknown option '-d'"),
    (["--dig", "8", SHA1_SECRET], "unknown option '--dig'"),
    ([SHA1_SECRET, "--digits"], "--digits needs a value"),
    (["--totp=yes", SHA1_SECRET], "--totp takes no value"),
    # URIs: the parser's sentence follows "URI: "
    (["http://example.com/"], "URI: "),
    (["otpauth:/totp/x?secret=JBSWY3DP"], "URI: "),
    (["otpauth://totp/x"], "URI: "),
    (["otpauth://totp/x?secret=JBS1Y3DP"], "URI: "),
    (["otpauth://totp/x?secret=JBSWY3DP&digits=9"], "URI: "),
    (["otpauth://totp/x?secret=JBSWY3DP&digits=6&digits=6"], "URI: "),
    (["otpauth://totp/x?secret=JBSWY3DP&frob=1"], "URI: "),
    (["otpauth://hotp/x?secret=JBSWY3DP"], "URI: "),
    (["otpauth://sotp/x?secret=JBSWY3DP"], "URI: "),
    (["otpauth://totp/x?secret=JBSWY3DP&algorithm=MD5"], "URI: "),
    (["otpauth://totp/x%ZZ?secret=JBSWY3DP"], "URI: "),
    # URIs and options that disagree
    (["--digits", "8", "otpauth://totp/x?secret=JBSWY3DP"],
     "--digits 8 conflicts with the URI's digits 6"),
    (["--algorithm", "sha256", URI_TOTP], "--algorithm SHA256 conflicts with the URI's algorithm SHA1"),
    (["--period", "60", URI_TOTP], "--period 60 conflicts with the URI's period 30"),
    (["--hotp", URI_TOTP], "--hotp conflicts with the URI, which is totp"),
    (["--totp", URI_HOTP], "--totp conflicts with the URI, which is hotp"),
    (["--counter", "1", URI_TOTP], "--counter is for HOTP"),
    (["--time", "1", URI_HOTP], "--time is for TOTP"),
    (["--period", "30", URI_HOTP], "--period is for TOTP"),
]


@pytest.mark.parametrize("args,message", ERRORS, ids=[" ".join(a)[:60] for a, _ in ERRORS])
def test_bad_input_exits_2_and_names_the_problem(pahara, args, message):
    r = run(pahara, "code", *args)
    assert r.returncode == 2, r.stderr
    assert r.stdout == ""
    assert r.stderr.startswith("pahara code: "), r.stderr
    assert message in r.stderr, r.stderr


@pytest.mark.parametrize("stdin,message", [
    ("", "cannot read a secret or URI from standard input"),
    ("A" * 5000, "cannot read a secret or URI from standard input"),
    ("JBSW\0Y3DP\n", "cannot read a secret or URI from standard input"),
    ("\n", "secret: it is empty"),
    ("JBS1Y3DP\n", "secret: character '1' at position 4"),
])
def test_bad_stdin(pahara, stdin, message):
    r = run(pahara, "code", "-", stdin=stdin)
    assert r.returncode == 2
    assert r.stdout == ""
    assert message in r.stderr, r.stderr
