"""Text from members and providers cannot forge log lines, drive a terminal, leak a key or a path."""

from __future__ import annotations

import logging
import sys

from bot.logs import FORMAT, OneLineFormatter
from bot.safe_text import member_reason, one_line, redact

HOSTILE = "boom\nCRITICAL bot: forged line\x1b[31m red\x07\r\u202eevil\u2028x"


def test_one_line_escapes_controls_line_breaks_and_bidi_overrides() -> None:
    escaped = one_line(HOSTILE)
    assert escaped.isprintable()
    assert "\n" not in escaped and "\x1b" not in escaped and "\u202e" not in escaped
    assert escaped.startswith("boom\\nCRITICAL bot: forged line\\x1b[31m red\\x07\\r\\u202eevil\\u2028x")
    assert one_line("plain text, ünïcode ✓") == "plain text, ünïcode ✓"


def test_a_logged_provider_message_stays_one_line() -> None:
    formatter = OneLineFormatter(FORMAT)
    record = logging.LogRecord(
        "bot.jobs.runner", logging.WARNING, __file__, 1, "job %s failed: %s", ("J1", HOSTILE), None
    )
    line = formatter.format(record)
    assert "\n" not in line and "\x1b" not in line and "\r" not in line
    assert "job J1 failed: boom\\nCRITICAL" in line


def test_a_traceback_keeps_its_lines_but_loses_control_codes() -> None:
    formatter = OneLineFormatter(FORMAT)
    try:
        raise ValueError("bad \x1b[2J value")
    except ValueError:
        record = logging.LogRecord("bot", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    text = formatter.format(record)
    assert "Traceback" in text and "\n" in text
    assert "\x1b" not in text and "bad \\x1b[2J value" in text


def test_member_reason_drops_markup_and_server_paths() -> None:
    page = "<html><head><title>502</title></head><body><h1>Bad Gateway</h1><p>nginx</p></body></html>"
    assert member_reason(page) == "502 Bad Gateway nginx"
    probe = "abc.mp4 is not a readable video: [Errno 1094995529] Invalid data: '/srv/footage/data/clips/abc.mp4'"
    reason = member_reason(probe)
    assert "/srv" not in reason and "clips/" not in reason
    assert reason.endswith("'abc.mp4'")
    assert member_reason("x" * 1000).endswith("…") and len(member_reason("x" * 1000)) == 300
    assert "\n" not in member_reason(HOSTILE) and "\x1b" not in member_reason(HOSTILE)


def test_redact_removes_a_secret_and_each_long_part() -> None:
    key = "0b8e0f4e-6a2d-4d9f:3f9b2c7d8e1a4b5c6d7e"
    text = "id 0b8e0f4e-6a2d-4d9f, secret 3f9b2c7d8e1a4b5c6d7e, whole " + key
    assert redact(text, [key]) == "id ***, secret ***, whole ***"
