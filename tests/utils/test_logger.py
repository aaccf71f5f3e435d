"""setup_logger: the console handler follows sys.stdout as it is at each record, so a logger set up
under one stdout (a notebook cell, a test's capture) still prints after that stream is replaced or closed."""

import io
import logging
import sys

from fastreid.utils.logger import setup_logger


def test_console_lines_go_to_the_current_stdout_even_after_the_first_one_is_closed(monkeypatch):
    first = io.StringIO()
    monkeypatch.setattr(sys, "stdout", first)
    logger = setup_logger(name="fastreid_test_console", color=False)
    logger.info("one")
    assert "one" in first.getvalue()
    first.close()
    second = io.StringIO()
    monkeypatch.setattr(sys, "stdout", second)
    errors = []
    monkeypatch.setattr(logging, "raiseExceptions", True)
    monkeypatch.setattr(logging.Handler, "handleError", lambda self, record: errors.append(record))
    logging.getLogger("fastreid_test_console.child").info("two")
    assert "two" in second.getvalue() and not errors
