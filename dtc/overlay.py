"""Apply compiled overlays to a base DTB, byte-identical to dtc 1.6.1's fdtoverlay.

fdtoverlay reads the base and every overlay, then applies the overlays one
by one.  Each application starts from a fresh copy of the current base in
a buffer of ``buf_len`` bytes (at first the base's total size); if libfdt
runs out of room the copy is thrown away, the buffer grows by 64 KiB
(keeping its old contents, as realloc() does) and the application starts
again.  The buffer size carries over to the next overlay, and at the end
the blob is packed.  All of that shows in the output bytes (a new
property's padding holds stale bytes from the buffer), so it is reproduced
here exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import Diagnostic, DtcError
from .libfdt_ro import FDT_MAGIC, FDT_SW_MAGIC, BlobRangeError, FdtErr, FdtReader, strerror
from .libfdt_rw import FdtWriter, open_into
from .libfdt_walk import find_damage
from .overlay_apply import OverlayApplication, OverlayFailure

BUF_INCREMENT = 65536  # fdtoverlay's buffer growth step
_STRUCTURAL = {
    -FdtErr.BADSTRUCTURE,
    -FdtErr.TRUNCATED,
    -FdtErr.BADOFFSET,
    -FdtErr.INTERNAL,
    -FdtErr.BADLAYOUT,
    -FdtErr.BADMAGIC,
    -FdtErr.BADVERSION,
    -FdtErr.BADSTATE,
}


def apply_overlays(base: bytes, overlays: Sequence[tuple[str, bytes]], *, base_name: str = "base") -> bytes:
    """Apply ``overlays`` (file name, blob) in order to the ``base`` blob; returns the packed result.

    Raises DtcError, naming the file and the fragment, label or byte offset at
    fault, wherever fdtoverlay would fail (and where it would crash or loop).
    """
    if not overlays:
        raise DtcError(Diagnostic("error", "no overlays to apply", file=base_name))
    _check_complete(base_name, base, "base blob")
    blobs = []
    for name, blob in overlays:
        # fdtoverlay copies exactly totalsize bytes of each overlay before applying it
        blobs.append((name, blob[: _check_complete(name, blob, "overlay")]))
    buf_len = FdtReader(base).totalsize
    current: bytes | bytearray = base
    for name, blob in blobs:
        current, buf_len = _apply_one(current, blob, buf_len, name, base_name)
    result = FdtWriter(bytearray(current), base_name)
    result.pack()  # fdtoverlay ignores a failure here and writes the blob unpacked
    return bytes(result.buf[: result.totalsize])


def _check_complete(name: str, blob: bytes, what: str) -> int:
    """fdtoverlay's "is incomplete" check, plus the header sanity libfdt assumes; returns totalsize.

    fdtoverlay compares totalsize with its read buffer, which can be up to
    twice the file's size, and then reads uninitialised memory for the
    missing bytes; a blob shorter than its header says is refused here.
    """
    if len(blob) < 8:
        raise _file_error(name, 0, f"{len(blob)} bytes is too short to be a DTB")
    reader = FdtReader(blob)
    if reader.magic == FDT_SW_MAGIC:
        raise _file_error(name, 0, "this is an unfinished (sequential-write) blob, not a DTB")
    if reader.magic != FDT_MAGIC:
        raise _file_error(
            name,
            0,
            f"not a DTB: bad magic 0x{reader.magic:08x} (expected 0xd00dfeed)",
            f"fdtoverlay: {strerror(-FdtErr.BADMAGIC)}",
        )
    totalsize = reader.totalsize
    if totalsize > len(blob):
        raise _file_error(name, 4, f"{what} is incomplete ({len(blob)} / {totalsize} bytes read)")
    if totalsize < 40:
        raise _file_error(name, 4, f"total size {totalsize} is too small for a DTB header")
    return totalsize


def _apply_one(
    current: bytes | bytearray, overlay: bytes, buf_len: int, name: str, base_name: str
) -> tuple[bytearray, int]:
    """fdtoverlay's apply_one(): retry in a bigger buffer while libfdt runs out of room.

    Each retry starts again from a fresh copy of the base and of the
    overlay; the overlay-only steps give the same result every time, so
    their result is kept instead of recomputed.
    """
    buf = bytearray()
    prepared: bytes | None = None
    while True:
        buf.extend(bytes(buf_len - len(buf)))  # realloc(): old contents kept, the rest fresh
        err = _open(current, buf, base_name)
        if err:
            raise _base_error(current, base_name, err)
        base = FdtWriter(buf, base_name)
        fdto = FdtWriter(bytearray(prepared if prepared is not None else overlay), name)
        application = OverlayApplication(base, fdto)
        try:
            if prepared is None:
                application.prepare()
                prepared = bytes(fdto.buf)
            application.merge_into_base()
        except OverlayFailure as failure:
            if failure.code == -FdtErr.NOSPACE and base.out_of_room:
                buf_len += BUF_INCREMENT
                continue
            raise _failure_error(failure, name, overlay, current, base_name) from None
        except BlobRangeError as exc:
            raise _file_error(exc.name, exc.offset, f"damaged DTB: {exc}") from None
        return buf, buf_len


def _open(current: bytes | bytearray, buf: bytearray, base_name: str) -> int:
    try:
        return open_into(FdtReader(current, base_name), buf)
    except BlobRangeError:
        return -FdtErr.TRUNCATED


def _file_error(name: str, offset: int, message: str, hint: str = "") -> DtcError:
    return DtcError(Diagnostic("error", message, file=name, dtb_offset=offset, hint=hint))


def _damage_error(name: str, blob: bytes | bytearray, fallback: str, code: int) -> DtcError:
    damage = find_damage(blob)
    hint = f"fdtoverlay: {strerror(code)}"
    if damage is None:
        return DtcError(Diagnostic("error", fallback, file=name, hint=hint))
    return _file_error(name, damage.offset, f"damaged DTB: {damage.reason}", hint)


def _base_error(current: bytes | bytearray, base_name: str, code: int) -> DtcError:
    """fdt_open_into() refused the base ("Failed to make temporary copy")."""
    version = FdtReader(current).version
    if code == -FdtErr.BADVERSION and version < 16:
        return _file_error(
            base_name,
            20,
            f"DTB version {version} cannot be edited: libfdt needs version 16 or 17",
            f"fdtoverlay: {strerror(code)}",
        )
    return _damage_error(base_name, current, f"cannot copy the base tree for editing: {strerror(code)}", code)


def _failure_error(
    failure: OverlayFailure, name: str, overlay: bytes, current: bytes | bytearray, base_name: str
) -> DtcError:
    file, blob = (name, overlay) if failure.in_overlay else (base_name, current)
    if failure.code in _STRUCTURAL:
        damage = find_damage(blob)
        if damage is not None:
            return _file_error(
                file, damage.offset, f"damaged DTB: {damage.reason}", f"fdtoverlay: {strerror(failure.code)}"
            )
    message = failure.message if failure.in_overlay else f"{failure.message} (applying {name})"
    return DtcError(
        Diagnostic(
            "error",
            message,
            file=file,
            dtb_offset=failure.offset if failure.in_overlay else None,
            path=failure.path,
            hint=f"fdtoverlay: {strerror(failure.code)}",
        )
    )
