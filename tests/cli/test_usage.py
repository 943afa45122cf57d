"""`pahara` itself: help, version, and what happens with a command it does not know."""

import pathlib
import re
import subprocess

import pytest

from conftest import run

CODE_OPTIONS = ["--totp", "--hotp", "--algorithm", "--digits", "--period", "--time", "--counter",
                "--help"]
QR_OPTIONS = ["--invert", "--svg", "--help"]


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["help"]])
def test_help_lists_every_command(pahara, args):
    r = run(pahara, *args)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert r.stdout.startswith("usage: pahara COMMAND")
    for command in ["code", "qr", "help"]:
        assert re.search(rf"^  {command} ", r.stdout, re.M), command


@pytest.mark.parametrize("command,args,options", [
    ("code", ["code", "--help"], CODE_OPTIONS),
    ("code", ["code", "-h"], CODE_OPTIONS),
    ("code", ["help", "code"], CODE_OPTIONS),
    ("code", ["code", "JBSWY3DP", "--help"], CODE_OPTIONS),
    ("qr", ["qr", "--help"], QR_OPTIONS),
    ("qr", ["help", "qr"], QR_OPTIONS),
    ("qr", ["--help", "qr"], QR_OPTIONS),
])
def test_command_help_explains_every_option(pahara, command, args, options):
    r = run(pahara, *args)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert r.stdout.startswith(f"usage: pahara {command} ")
    for option in options:
        assert re.search(rf"^  (-h, )?{option}\b", r.stdout, re.M), option
    assert "Exit status" in r.stdout


def test_help_lines_fit_a_terminal(pahara):
    for args in (["--help"], ["code", "--help"], ["qr", "--help"]):
        for line in run(pahara, *args).stdout.splitlines():
            assert len(line) <= 80, line


@pytest.mark.parametrize("args", [["--version"], ["-V"]])
def test_version(pahara, args):
    r = run(pahara, *args)
    assert r.returncode == 0
    assert re.fullmatch(r"pahara \d+\.\d+\.\d+\n", r.stdout)


@pytest.mark.parametrize("args,message", [
    ([], "usage: pahara COMMAND"),
    (["frobnicate"], "pahara: unknown command 'frobnicate'"),
    (["--frobnicate"], "pahara: unknown option '--frobnicate'"),
    (["CODE"], "pahara: unknown command 'CODE'"),
    (["help", "frobnicate"], "pahara help: no such command 'frobnicate'"),
])
def test_unknown_command_prints_usage_to_stderr(pahara, args, message):
    r = run(pahara, *args)
    assert r.returncode == 2
    assert r.stdout == ""
    assert message in r.stderr
    assert "usage: pahara COMMAND" in r.stderr


def test_help_examples_are_true(pahara):
    """The examples in `pahara code --help` print what the help says they print."""
    text = run(pahara, "code", "--help").stdout
    examples = re.findall(r"^  \$ pahara code (.*)\n  (\d+)$", text, re.M)
    assert len(examples) >= 2
    for args, expected in examples:
        r = run(pahara, "code", *args.split())
        assert r.stdout == expected + "\n", args


def test_write_error_is_reported(pahara_rel):
    """A full disk is a failure (1), not a success with the code lost."""
    with open("/dev/full", "w") as full:
        r = subprocess.run([pahara_rel, "code", "--time", "0", "JBSWY3DPEHPK3PXP"], stdout=full,
                           stderr=subprocess.PIPE, text=True)
    assert r.returncode == 1
    assert "pahara code: cannot write the output" in r.stderr


@pytest.mark.parametrize("args", [["--help"], ["code", "--help"], ["qr", "--help"],
                                  ["serve", "--help"], ["admin", "--help"], ["help", "serve"]])
def test_help_write_error_is_reported(pahara_rel, args):
    """Help goes to stdout like any output: one that cannot be written is a failure (1);
    `pahara serve --help` said 0."""
    with open("/dev/full", "w") as full:
        r = subprocess.run([pahara_rel, *args], stdout=full, stderr=subprocess.PIPE, text=True)
    assert r.returncode == 1, (args, r.stderr)
    assert "cannot write the output" in r.stderr


@pytest.mark.parametrize("option", ["--config", "--listen", "--data", "--store"])
def test_serve_refuses_an_option_given_twice(pahara, tmp_path, option):
    """As `pahara code` and `pahara admin` do: the second --config silently replaced the
    first file (and --data the first directory), so a setting the operator gave was lost."""
    values = {"--config": [str(tmp_path / "a.conf"), str(tmp_path / "b.conf")],
              "--listen": ["127.0.0.1:0", "127.0.0.1:0"],
              "--data": [str(tmp_path / "a"), str(tmp_path / "b")],
              "--store": [str(tmp_path / "a"), str(tmp_path / "b")]}[option]
    for v in values:
        if v.endswith(".conf"):
            pathlib.Path(v).write_text("threads = 1\n")
    data = [] if option == "--data" else ["--data", str(tmp_path / "data")]
    # an address that cannot be bound: were the option taken, serve would stop there (1)
    listen = [] if option == "--listen" else ["--listen", "256.0.0.1:0"]
    r = run(pahara, "serve", *data, *listen, option, values[0], f"{option}={values[1]}")
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stdout == ""
    assert f"pahara serve: {option} is given twice" in r.stderr, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        pathlib.Path(v).name for v in values if v.endswith(".conf"))  # nothing made
