"""Read-only sequences whose items are made on demand from a compact form (chunk paths
from a folder and a count, strings from one buffer): a subclass says how many items
there are and how to make one; indexing, negative indices and slices are here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar, overload

T = TypeVar("T")


class MadeOnDemand(Sequence[T]):
    """A sequence of ``len(self)`` items, item ``i`` made by :meth:`item`."""

    __slots__ = ()

    def item(self, index: int) -> T:
        """The item at ``index`` (0 <= index < len)."""
        raise NotImplementedError

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[T]: ...

    def __getitem__(self, index: int | slice) -> T | Sequence[T]:
        if isinstance(index, slice):
            return [self.item(i) for i in range(*index.indices(len(self)))]
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        return self.item(index % len(self))
