"""`pahara qr`: every drawing must scan back to exactly the URI it was given.

The SVG is rendered to PNG by rsvg-convert; the terminal drawing is read back into a bitmap
here (each character is two modules stacked: "█" both, "▀" top, "▄" bottom, " " neither) and
written as a PGM image.  zbarimg decodes both.
"""

import re
import subprocess
import urllib.parse

import pytest

from conftest import need_tool, run

SECRET = "JBSWY3DPEHPK3PXP"
LONG_SECRET = "GEZDGNBVGY3TQOJQ" * 12  # 120 bytes


def otpauth(label, **params):
    query = urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
    return f"otpauth://totp/{urllib.parse.quote(label, safe=':@')}?{query}"


def near_capacity(total):
    """A valid URI of exactly total bytes, padded with an image= parameter (which apps add)."""
    head = otpauth("Example:" + "a" * 200, secret=LONG_SECRET, issuer="Example") + "&image="
    return head + "https://example.com/" + "x" * (total - len(head) - len("https://example.com/"))


def near_capacity_raw_utf8(total):
    """The same with raw (not percent-encoded) UTF-8 in the label: total counts bytes."""
    head = f"otpauth://totp/Ünïcödé:{'a' * 200}?secret={LONG_SECRET}&issuer=Ünïcödé&image="
    pad = total - len(head.encode()) - len("https://example.com/")
    return head + "https://example.com/" + "x" * pad


URIS = {
    "short": f"otpauth://totp/a?secret={SECRET}",
    "typical": otpauth("Example:alice@example.com", secret=SECRET, issuer="Example",
                       algorithm="SHA1", digits=6, period=30),
    "hotp": f"otpauth://hotp/Example:alice?secret={SECRET}&issuer=Example&counter=42",
    "percent-encoded UTF-8": otpauth("पहारा:राम", secret=SECRET, issuer="पहारा"),
    # raw UTF-8 needs the ECI designator, or scanners guess the charset wrong
    "raw UTF-8 Devanagari": f"otpauth://totp/पहारा:राम?secret={SECRET}&issuer=पहारा",
    "raw UTF-8 Latin": f"otpauth://totp/Ünïcödé%20Bank:zoë?secret={SECRET}&issuer=Ünïcödé%20Bank",
    "raw UTF-8 emoji": f"otpauth://totp/🔐%20Vault:x?secret={SECRET}&issuer=🔐%20Vault",
    "long secret sha512": otpauth("Example:alice", secret=LONG_SECRET, issuer="Example",
                                  algorithm="SHA512", digits=8, period=60),
    "long names": otpauth("Ünïcödé Bank of Everything:" + "zoë.quinn+" * 20 + "@example.org",
                          secret=LONG_SECRET, issuer="Ünïcödé Bank of Everything"),
    "1000 bytes": near_capacity(1000),
    "largest": near_capacity(2331),
    "largest with raw UTF-8": near_capacity_raw_utf8(2330),
}


def zbar(path):
    need_tool("zbarimg")
    r = subprocess.run(["zbarimg", "--raw", "-q", str(path)], capture_output=True, timeout=60)
    assert r.returncode == 0, f"zbarimg found no code in {path}: {r.stderr!r}"
    out = r.stdout.decode("utf-8")
    assert out.endswith("\n")
    return out[:-1]


def svg_side(svg):
    m = re.search(r'viewBox="0 0 (\d+) (\d+)"', svg)
    assert m and m.group(1) == m.group(2), svg[:300]
    return int(m.group(1))


def blocks_to_bitmap(text, invert):
    """The modules of a half-block drawing, True = dark, rows of equal length."""
    cells = {" ": (False, False), "█": (True, True), "▀": (True, False), "▄": (False, True)}
    lines = text.split("\n")
    assert lines[-1] == "", "the drawing ends with a newline"
    rows = []
    for line in lines[:-1]:
        assert set(line) <= set(cells), f"unexpected characters {set(line) - set(cells)}"
        pairs = [cells[c] for c in line]
        # a block is a light module, unless inverted
        rows.append([top == invert for top, _ in pairs])
        rows.append([bottom == invert for _, bottom in pairs])
    side = len(rows[0])
    assert all(len(r) == side for r in rows), "ragged lines"
    assert len(rows) == side + 1, "two module rows per line, plus one row of quiet zone"
    return rows[:side]


def write_pgm(bitmap, path, scale=4):
    side = len(bitmap)
    data = bytearray()
    for row in bitmap:
        line = bytearray()
        for dark in row:
            line += bytes([0 if dark else 255]) * scale
        data += bytes(line) * scale
    path.write_bytes(b"P5\n%d %d\n255\n" % (side * scale, side * scale) + bytes(data))


def assert_quiet_zone(bitmap):
    side = len(bitmap)
    for y in range(side):
        for x in range(side):
            if min(x, y) < 4 or max(x, y) >= side - 4:
                assert not bitmap[y][x], f"dark module at ({x},{y}) in the quiet zone"


@pytest.mark.parametrize("name", URIS)
def test_svg_scans_back(pahara, tmp_path, name):
    need_tool("rsvg-convert")
    uri = URIS[name]
    r = run(pahara, "qr", "--svg", uri)
    assert (r.returncode, r.stderr) == (0, "")
    svg = r.stdout
    assert svg.count("<path") == 1
    assert 'shape-rendering="crispEdges"' in svg
    assert svg.rstrip().endswith("</svg>")
    side = svg_side(svg)
    (tmp_path / "qr.svg").write_text(svg, encoding="utf-8")
    subprocess.run(["rsvg-convert", "-w", str(side * 5), "-h", str(side * 5), "-o",
                    str(tmp_path / "qr.png"), str(tmp_path / "qr.svg")], check=True, timeout=60)
    assert zbar(tmp_path / "qr.png") == uri


@pytest.mark.parametrize("invert", [False, True], ids=["light-on-dark", "inverted"])
@pytest.mark.parametrize("name", URIS)
def test_blocks_scan_back(pahara, tmp_path, name, invert):
    uri = URIS[name]
    r = run(pahara, "qr", *(["--invert"] if invert else []), uri)
    assert (r.returncode, r.stderr) == (0, "")
    bitmap = blocks_to_bitmap(r.stdout, invert)
    assert_quiet_zone(bitmap)
    # the same modules as the SVG
    assert len(bitmap) == svg_side(run(pahara, "qr", "--svg", uri).stdout)
    write_pgm(bitmap, tmp_path / "qr.pgm")
    assert zbar(tmp_path / "qr.pgm") == uri


def test_default_draws_light_modules_as_blocks(pahara_rel):
    out = run(pahara_rel, "qr", URIS["short"]).stdout
    assert out.startswith("█" * 8)  # the quiet zone is light
    out = run(pahara_rel, "qr", "--invert", URIS["short"]).stdout
    assert out.startswith(" " * 8)


def test_uri_from_stdin(pahara, tmp_path):
    uri = URIS["typical"]
    assert run(pahara, "qr", "-", stdin=uri + "\n").stdout == run(pahara, "qr", uri).stdout
    assert run(pahara, "qr", "--svg", "-", stdin=uri).stdout == run(pahara, "qr", "--svg",
                                                                     uri).stdout


def test_options_in_any_order(pahara):
    uri = URIS["short"]
    want = run(pahara, "qr", "--invert", uri).stdout
    assert run(pahara, "qr", uri, "--invert").stdout == want
    assert run(pahara, "qr", "--invert", "--", uri).stdout == want


ERRORS = [
    (["hello"], "URI: "),
    ([SECRET], "URI: "),
    (["https://example.com/"], "URI: "),
    (["otpauth://totp/a"], "URI: "),
    ([f"otpauth://totp/a?secret={SECRET}&digits=5"], "URI: "),
    ([f"otpauth://totp/a?secret={SECRET}x"], "URI: "),
    ([near_capacity(2332)], "URI: 2332 bytes is too long for a QR code (at most 2331)"),
    (["--svg", near_capacity(2400)], "URI: 2400 bytes is too long for a QR code"),
    # the UTF-8 designator takes room: 2330 bytes at most, and the message says so
    ([near_capacity_raw_utf8(2331)], "URI: 2331 bytes is too long for a QR code (at most 2330 "
                                     "when it has UTF-8 that is not percent-encoded)"),
    (["--svg", near_capacity_raw_utf8(2331)], "(at most 2330 when it has UTF-8"),
    (["--svg", "--invert", URIS["short"]], "--invert is for the terminal drawing, not --svg"),
    ([], "missing the otpauth:// URI"),
    (["--invert"], "missing the otpauth:// URI"),
    ([URIS["short"], URIS["short"]], "unexpected argument"),
    (["--png", URIS["short"]], "unknown option '--png'"),
    (["--svg=yes", URIS["short"]], "--svg takes no value"),
]


@pytest.mark.parametrize("args,message", ERRORS, ids=[" ".join(a)[:50] for a, _ in ERRORS])
def test_bad_input_exits_2_and_names_the_problem(pahara, args, message):
    r = run(pahara, "qr", *args)
    assert r.returncode == 2, r.stderr
    assert r.stdout == ""
    assert r.stderr.startswith("pahara qr: "), r.stderr
    assert message in r.stderr, r.stderr


def test_bad_stdin(pahara):
    r = run(pahara, "qr", "-", stdin="")
    assert (r.returncode, r.stdout) == (2, "")
    assert "pahara qr: cannot read a URI from standard input" in r.stderr
