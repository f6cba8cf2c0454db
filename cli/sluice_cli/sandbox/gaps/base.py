"""A gap-filler's base class: a reversible patch of moto that records what it applied, and the
timers a filler runs on its own threads."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, ClassVar, Self

log = logging.getLogger(__name__)


class Gap:
    """A reversible patch of moto for one missing behaviour.

    A subclass's `_patch()` applies its patches with `_apply()` / `_add()`, which record them; the
    base `_unpatch()` reverts them in reverse order (a subclass with more to undo, such as threads or
    timers, overrides it and calls `super()._unpatch()`). When `_patch()` fails half-way, `install()`
    reverts what it had applied and re-raises.
    """

    name: ClassVar[str]
    reason: ClassVar[str]

    def __init__(self) -> None:
        self._installed = False
        self._applied: list[_Patch] = []  # in the order applied

    @property
    def installed(self) -> bool:
        return self._installed

    def install(self) -> None:
        if self._installed:
            return
        try:
            self._patch()
        except BaseException:
            self._revert_applied()
            raise
        self._installed = True

    def uninstall(self) -> None:
        if not self._installed:
            return
        self._unpatch()
        self._installed = False

    def pending(self) -> int:
        """Work the filler still has to do on its own threads (the router waits for it to be 0)."""
        return 0

    def _patch(self) -> None:
        raise NotImplementedError

    def _unpatch(self) -> None:
        self._revert_applied()

    def _apply(self, owner: Any, attribute: str, make: Callable[[Any], Any]) -> _MethodPatch:
        """Replace `owner.attribute` with `make(original)`, reverted by `_unpatch()`."""
        patch = _MethodPatch(owner, attribute, make)
        patch.apply()
        self._applied.append(patch)
        return patch

    def _add(self, owner: Any, attribute: str, value: Any) -> _AddedAttribute:
        """Add `owner.attribute` (which moto lacks), removed by `_unpatch()`."""
        added = _AddedAttribute(owner, attribute, value)
        added.apply()
        self._applied.append(added)
        return added

    def _revert_applied(self) -> None:
        """Revert the recorded patches, last applied first. A patch leaves the record only once reverted,
        so after a refusal (patched on top) a later call reverts what is left."""
        while self._applied:
            self._applied[-1].revert()
            self._applied.pop()

    @classmethod
    def still_present(cls) -> bool:
        """Run plain moto without this patch; True while moto still lacks the behaviour."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.install()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.uninstall()


class _MethodPatch:
    """Replace `owner.attribute` and put the previous value back (refusing if someone patched on top)."""

    def __init__(self, owner: Any, attribute: str, make: Callable[[Any], Any]) -> None:
        self.owner = owner
        self.attribute = attribute
        self.make = make
        self.original: Any = None
        self.replacement: Any = None

    def apply(self) -> None:
        self.original = self.owner.__dict__[self.attribute]
        self.replacement = self.make(self.original)
        setattr(self.owner, self.attribute, self.replacement)

    def revert(self) -> None:
        current = self.owner.__dict__[self.attribute]
        if current is not self.replacement:
            raise RuntimeError(
                f"{self.owner.__name__}.{self.attribute} was patched again on top of the sandbox; "
                "uninstall gap-fillers in reverse order"
            )
        setattr(self.owner, self.attribute, self.original)


class _AddedAttribute:
    """Add `owner.attribute`, which moto lacks, and remove it again. When moto has it by now, the sandbox
    keeps moto's (the gap's `still_present()` test then says the filler can go)."""

    def __init__(self, owner: Any, attribute: str, value: Any) -> None:
        self.owner = owner
        self.attribute = attribute
        self.value = value
        self.added = False

    def apply(self) -> None:
        if self.attribute in self.owner.__dict__:
            log.warning(
                "%s.%s exists in this moto: the sandbox keeps it (its gap-filler can go)",
                self.owner.__name__,
                self.attribute,
            )
            return
        setattr(self.owner, self.attribute, self.value)
        self.added = True

    def revert(self) -> None:
        if not self.added:
            return
        if self.owner.__dict__.get(self.attribute) is not self.value:
            raise RuntimeError(
                f"{self.owner.__name__}.{self.attribute} was replaced on top of the sandbox; "
                "uninstall gap-fillers in reverse order"
            )
        delattr(self.owner, self.attribute)
        self.added = False


_Patch = _MethodPatch | _AddedAttribute


class Timers:
    """Daemon timers a gap-filler owns: counted by `pending()`, cancelled and joined on uninstall."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._timers: set[threading.Timer] = set()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._timers)

    def start(self, delay: float, name: str, action: Callable[[], None]) -> None:
        def run() -> None:
            try:
                action()
            except Exception:
                log.exception("sandbox timer %s failed", name)
            finally:
                with self._lock:
                    self._timers.discard(threading.current_thread())

        timer = threading.Timer(delay, run)
        timer.daemon = True
        timer.name = f"{self.prefix}-{name}"
        with self._lock:
            self._timers.add(timer)
        timer.start()

    def cancel_all(self) -> None:
        with self._lock:
            timers, self._timers = set(self._timers), set()
        for timer in timers:
            timer.cancel()
        for timer in timers:
            if timer.is_alive() and timer is not threading.current_thread():
                timer.join(timeout=10)
