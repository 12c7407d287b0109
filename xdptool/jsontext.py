"""Reading the JSON documents users give (map state files, the NIC's state) as data.

`json.loads` fails in three ways on hostile text: a syntax error (JSONDecodeError),
nesting deep enough to exhaust the recursion limit (RecursionError, ~1,000 levels)
and an integer longer than Python's conversion limit (ValueError, 4,300 digits).
Each is bad input, so each becomes one XdpError line naming the file.
"""

from __future__ import annotations

import json
import os
from typing import Any

from .errors import XdpError


def parse_json(text: str, where: str) -> Any:
    """The document in `text`; XdpError("WHERE: not JSON: ...") when it is not one."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise XdpError(f"{where}: not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise XdpError(f"{where}: not usable JSON: nested too deeply") from None
    except ValueError as exc:  # int max str digits
        raise XdpError(f"{where}: not usable JSON: {str(exc).split(';')[0]}") from None


def read_json(path: str | os.PathLike) -> Any:
    """parse_json of a file's text; a missing, unreadable or non-UTF-8 file is an XdpError."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise XdpError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise XdpError(f"{path}: is a directory") from None
    except OSError as exc:
        raise XdpError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise XdpError(f"{path}: cannot read: not UTF-8 text (byte {exc.start})") from None
    return parse_json(text, str(path))
