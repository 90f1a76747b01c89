"""Showing a code by its words: every app's labels.py maps its codes to the words operators read."""


def label(table: dict, value) -> str:
    """The words for `value` in `table`; an unknown value is shown as it is, so a new code never breaks
    a page (the words test of the console, tests/console/test_console_words.py, finds it there)."""
    if value is None or value == "":
        return ""
    return str(table.get(str(value), value))
