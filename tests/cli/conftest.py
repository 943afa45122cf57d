"""Shared fixtures for the end-to-end tests of the `pahara` command line.

`make cli-tests` runs these with PAHARA=build/rel/pahara (the release build) and
PAHARA_SAN=build/san/pahara (the same code under AddressSanitizer + UBSan).  Most tests run
against both; the large interoperability sweep runs the release build on every case and the
sanitizer build on a sample, because a sanitized process takes several times longer to start.
"""

import os
import pathlib
import random
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

# The seed of the random interoperability sweep (test_interop.py): fixed, so that every run
# checks the same cases and a failure replays; PAHARA_INTEROP_SEED=random draws a fresh one.
_seed = os.environ.get("PAHARA_INTEROP_SEED", "6238")
INTEROP_SEED = random.SystemRandom().randrange(2**32) if _seed == "random" else int(_seed)

# What ASan, LeakSanitizer and UBSan print on finding something (the sanitizer build).
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error", "ERROR: LeakSanitizer")


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(f"interop seed: {INTEROP_SEED} "
                                f"(replay with PAHARA_INTEROP_SEED={INTEROP_SEED})")


def _binary(env_name, default):
    path = pathlib.Path(os.environ.get(env_name, default))
    if not path.is_absolute():
        path = ROOT / path
    if not path.is_file():
        pytest.exit(f"{env_name}: no binary at {path}; run `make cli-tests`", returncode=2)
    return str(path)


@pytest.fixture(scope="session")
def pahara_rel():
    return _binary("PAHARA", "build/rel/pahara")


@pytest.fixture(scope="session")
def pahara_san():
    return _binary("PAHARA_SAN", "build/san/pahara")


@pytest.fixture(scope="session", params=["rel", "san"])
def pahara(request):
    """The binary under test: each test using it runs once per build variant."""
    if request.param == "rel":
        return request.getfixturevalue("pahara_rel")
    return request.getfixturevalue("pahara_san")


def run(binary, *args, stdin=None, timeout=60):
    """Run binary with args; stdin is text or None. Returns the CompletedProcess (text)."""
    env = dict(os.environ)
    # A sanitizer report must fail loudly, never pass unnoticed in stderr.
    env.setdefault("ASAN_OPTIONS", "abort_on_error=0:exitcode=86:detect_leaks=1")
    env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:exitcode=87:print_stacktrace=1")
    r = subprocess.run(
        [binary, *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        env=env,
    )
    # The exit status alone is not enough: many tests look only at stdout (help text, a QR
    # code), and a report there went unread while the test passed.
    for mark in SANITIZER_MARKS:
        assert mark not in r.stderr, f"sanitizer report from {binary} {args}:\n{r.stderr[-8000:]}"
    return r


def need_tool(name):
    if shutil.which(name) is None:
        pytest.fail(f"{name} is not installed: run scripts/deps.sh check")
    return name
