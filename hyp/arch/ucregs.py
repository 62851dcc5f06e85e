"""Register access to a unicorn engine without the Python binding's per-call overhead.

unicorn 2.1's ``Uc.reg_read`` picks a ctypes class by scanning register ranges,
builds a fresh ctypes object and wraps the C call for every access: about 4 µs.
A trap round trip touches thirty registers, so that binding cost, not the
emulation, set the hypervisor's exit rate. ``accelerate`` gives one engine
instance a ``reg_read``/``reg_write`` that call ``uc_reg_read``/``uc_reg_write``
directly with a reused buffer for the plain 64-bit registers and for
coprocessor (``UC_ARM64_REG_CP_REG``) tuples, and hands every other register
(the 128-bit Q/V registers) to the binding unchanged.
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Callable
from typing import Any

from unicorn import UC_HOOK_INSN, UC_HOOK_INTR, UcError
from unicorn import arm64_const as A
from unicorn.unicorn_py3.arch.types import uc_hook_h
from unicorn.unicorn_py3.unicorn import uclib

_CP = A.UC_ARM64_REG_CP_REG
_HOOK_INSN = UC_HOOK_INSN
_WIDE = frozenset(range(A.UC_ARM64_REG_Q0, A.UC_ARM64_REG_Q31 + 1)) | frozenset(
    range(A.UC_ARM64_REG_V0, A.UC_ARM64_REG_V31 + 1)
)


class _CpReg(ctypes.Structure):
    """The layout of unicorn's ``uc_arm64_cp_reg``."""

    _fields_ = (
        ("crn", ctypes.c_uint32),
        ("crm", ctypes.c_uint32),
        ("op0", ctypes.c_uint32),
        ("op1", ctypes.c_uint32),
        ("op2", ctypes.c_uint32),
        ("val", ctypes.c_uint64),
    )


def accelerate(uc: Any) -> None:
    """Replace ``uc.reg_read``/``uc.reg_write`` on this instance with direct C calls."""
    handle = uc._uch
    c_read, c_write = uclib.uc_reg_read, uclib.uc_reg_write
    slow_read: Callable[..., Any] = uc.reg_read
    slow_write: Callable[..., Any] = uc.reg_write
    word = ctypes.c_uint64()
    word_ref = ctypes.byref(word)
    cp = _CpReg()
    cp_ref = ctypes.byref(cp)
    wide = _WIDE

    def reg_read(reg_id: int, aux: Any = None) -> Any:
        if aux is None:
            if reg_id in wide:
                return slow_read(reg_id)
            status = c_read(handle, reg_id, word_ref)
            if status:
                raise UcError(status, reg_id)
            return word.value
        if reg_id == _CP and len(aux) == 5:
            cp.crn, cp.crm, cp.op0, cp.op1, cp.op2 = aux
            cp.val = 0
            status = c_read(handle, _CP, cp_ref)
            if status:
                raise UcError(status, reg_id)
            return cp.val
        return slow_read(reg_id, aux)

    def reg_write(reg_id: int, value: Any) -> None:
        if isinstance(value, int) and reg_id not in wide and reg_id != _CP:
            word.value = value
            status = c_write(handle, reg_id, word_ref)
        elif reg_id == _CP and isinstance(value, tuple) and len(value) == 6:
            cp.crn, cp.crm, cp.op0, cp.op1, cp.op2, cp.val = value
            status = c_write(handle, _CP, cp_ref)
        else:
            slow_write(reg_id, value)
            return
        if status:
            raise UcError(status, reg_id)

    uc.reg_read = reg_read
    uc.reg_write = reg_write


SysHook = Callable[[Any, int, _CpReg, Any], int]
_SYS_CFUNC = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p, ctypes.c_void_p)
Encoding = tuple[int, int, int, int, int]


def add_sys_hook(uc: Any, insn: int, wanted: Callable[[Encoding], bool], callback: SysHook) -> int:
    """An MRS/MSR hook that costs little for the registers nobody asked about.

    unicorn calls the hook for every MRS (or MSR) executed, and Linux runs
    millions of them (``current`` is SP_EL0, IRQ flags are DAIF).  The
    binding's wrapper builds a named tuple per call; here the raw C callback
    keys a cache on the instruction's 20 encoding bytes and goes to Python
    proper only when ``wanted(encoding)`` says so.  Exceptions are recorded on
    the engine and stop it, as the binding does, so ``emu_start`` re-raises them.
    """
    encodings: dict[bytes, Encoding] = {}
    raw_at, from_address, unpack = (ctypes.c_char * 20).from_address, _CpReg.from_address, _unpack5

    def raw(_handle: int, reg: int, ptr: int, _key: int) -> int:
        try:
            key = raw_at(ptr).raw
            enc = encodings.get(key)
            if enc is None:
                crn, crm, op0, op1, op2 = unpack(key)
                enc = encodings[key] = (op0, op1, crn, crm, op2)
            if not wanted(enc):
                return 0
            return callback(uc, reg, from_address(ptr), None)
        except BaseException as e:  # recorded; emu_start re-raises it
            if uc._hook_exception is None:
                uc._hook_exception = e
            uc.emu_stop()
            return 0

    fptr = _SYS_CFUNC(raw)
    handle = uc_hook_h()
    status = uclib.uc_hook_add(
        uc._uch, ctypes.byref(handle), _HOOK_INSN, fptr, ctypes.c_void_p(0),
        ctypes.c_uint64(1), ctypes.c_uint64(0), ctypes.c_int(insn),
    )  # fmt: skip
    if status:
        raise UcError(status)
    uc._callbacks[handle.value] = fptr  # keep the C callback alive as long as the engine
    return handle.value


def _unpack5(raw: bytes) -> tuple[int, int, int, int, int]:
    return struct.unpack_from("<5I", raw)  # type: ignore[return-value]


_INTR_CFUNC = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p)


def add_intr_hook(uc: Any, callback: Callable[[Any, int, Any], None]) -> int:
    """UC_HOOK_INTR without the binding's per-call wrapper (HVC and SMC exits go through it)."""

    def raw(_handle: int, intno: int, _key: int) -> None:
        try:
            callback(uc, intno, None)
        except BaseException as e:  # recorded; emu_start re-raises it
            if uc._hook_exception is None:
                uc._hook_exception = e
            uc.emu_stop()

    fptr = _INTR_CFUNC(raw)
    handle = uc_hook_h()
    status = uclib.uc_hook_add(
        uc._uch, ctypes.byref(handle), UC_HOOK_INTR, fptr, ctypes.c_void_p(0), ctypes.c_uint64(1), ctypes.c_uint64(0)
    )
    if status:
        raise UcError(status)
    uc._callbacks[handle.value] = fptr
    return handle.value


def word_reader(uc: Any) -> Callable[[int], int | None]:
    """A 32-bit little-endian read of physical memory through uc_mem_read with a reused buffer."""
    handle, c_read = uc._uch, uclib.uc_mem_read
    buf = ctypes.create_string_buffer(4)
    word = ctypes.c_uint32.from_buffer(buf)  # a view of the same 4 bytes (little-endian host)

    def read(address: int) -> int | None:
        if c_read(handle, address, buf, 4):
            return None
        return word.value

    return read


_MMIO_READ = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint, ctypes.c_void_p)
_MMIO_WRITE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint, ctypes.c_uint64, ctypes.c_void_p)


def mmio_map(
    uc: Any, address: int, size: int, read: Callable[[int, int], int], write: Callable[[int, int, int], None]
) -> None:
    """``uc.mmio_map`` with raw C callbacks: every device register access goes through here."""

    def raw_read(_handle: int, offset: int, width: int, _key: int) -> int:
        try:
            return read(offset, width)
        except BaseException as e:  # recorded; emu_start re-raises it
            if uc._hook_exception is None:
                uc._hook_exception = e
            uc.emu_stop()
            return 0

    def raw_write(_handle: int, offset: int, width: int, value: int, _key: int) -> None:
        try:
            write(offset, width, value)
        except BaseException as e:
            if uc._hook_exception is None:
                uc._hook_exception = e
            uc.emu_stop()

    rd, wr = _MMIO_READ(raw_read), _MMIO_WRITE(raw_write)
    status = uclib.uc_mmio_map(uc._uch, address, size, rd, None, wr, None)
    if status:
        raise UcError(status)
    uc._mmio_callbacks[(address, address + size)] = (rd, wr)  # kept alive with the mapping, as the binding does
