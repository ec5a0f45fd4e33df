"""Blocking work on a thread pool of its own."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


async def run_on(executor: ThreadPoolExecutor, call: Callable[..., T], *args: object) -> T:
    """`call` on the executor, under the caller's context (its correlation id)."""
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(
        executor, lambda: context.run(call, *args))
