"""One call run in a thread beside other work: for questions to an engine that each wait on a process.

(concurrent.futures would cost the warm path its import.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def in_background(function: Callable[..., T], *args: object) -> Callable[[], T]:
    """function(*args) started in a thread; the call returned waits for the result, or raises the function's
    exception in the caller's thread."""
    outcome: list = []
    thread = threading.Thread(target=lambda: outcome.append(_outcome(function, args)), daemon=True)
    thread.start()

    def result() -> T:
        thread.join()
        value, error = outcome[0]
        if error is not None:
            raise error
        return value

    return result


def _outcome(function: Callable, args: tuple) -> tuple[object, BaseException | None]:
    try:
        return function(*args), None
    except BaseException as error:  # raised again in the caller's thread
        return None, error
