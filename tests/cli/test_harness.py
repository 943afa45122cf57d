"""The test harness itself: what must make a CLI test fail whatever the test looks at."""

import pytest

from conftest import run


def test_a_sanitizer_report_fails_the_run_whatever_the_exit_status(tmp_path):
    """A test that reads only stdout (help text, a QR code) still fails on a sanitizer report:
    run() reads stderr for one (the san build's reports went unread in such tests)."""
    fake = tmp_path / "pahara"
    fake.write_text("#!/bin/sh\necho 'usage: pahara COMMAND'\n"
                    "echo '==1==ERROR: LeakSanitizer: detected memory leaks' >&2\n")
    fake.chmod(0o755)
    with pytest.raises(AssertionError, match="sanitizer report"):
        run(str(fake), "--help")
    fake.write_text("#!/bin/sh\necho 'src/cli/pahara.c:1:2: runtime error: overflow' >&2\n")
    with pytest.raises(AssertionError, match="sanitizer report"):
        run(str(fake), "--help")
