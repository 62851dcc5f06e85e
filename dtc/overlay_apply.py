"""libfdt 1.6.1's fdt_overlay_apply(), step by step, with errors that say what went wrong.

The steps and their order are libfdt's: shift the overlay's own phandles
above the base's highest one (and the references to them listed in
__local_fixups__), patch references to base labels (__fixups__ against the
base's __symbols__), merge every fragment's __overlay__ into its target, then
copy the overlay's __symbols__ into the base with fragment paths rewritten to
target paths.  Every edit goes through the libfdt emulation, so the blob
comes out as libfdt leaves it.

Where libfdt returns an error code, this raises ``OverlayFailure`` carrying
the same code plus a message naming the fragment, label or node at fault.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass

from .libfdt_ro import U32_MASK, FdtErr, strerror
from .libfdt_rw import FdtWriter


@dataclass
class OverlayFailure(Exception):
    """fdt_overlay_apply() would fail here with ``code``; ``message`` says why."""

    code: int
    message: str
    in_overlay: bool = True  # else the problem is in the base tree
    offset: int | None = None  # byte offset in the overlay blob, when it helps
    path: str = ""  # the overlay node at fault, when there is one

    def __str__(self) -> str:
        return f"{self.message} [{strerror(self.code)}]"


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "backslashreplace")


class OverlayApplication:
    """One fdt_overlay_apply(base, overlay) call; ``base`` is edited in place."""

    def __init__(self, base: FdtWriter, overlay: FdtWriter) -> None:
        self.fdt = base
        self.fdto = overlay

    def run(self) -> None:
        self.prepare()
        self.merge_into_base()

    def prepare(self) -> None:
        """The steps that edit only the overlay: its phandles, local references, base references.

        They read the base but do not change it, so their result is the same
        in every buffer fdtoverlay tries.
        """
        for blob, in_overlay in ((self.fdt, False), (self.fdto, True)):
            err = blob.ro_probe()
            if err < 0:
                raise OverlayFailure(
                    err,
                    f"libfdt refuses this header (version {blob.version}, "
                    f"last compatible version {blob.last_comp_version})",
                    in_overlay,
                    0,
                )
        err, delta = self.fdt.find_max_phandle()
        if err:
            raise OverlayFailure(err, "the base tree's structure is damaged", in_overlay=False)
        self.adjust_local_phandles(delta)
        self.update_local_references(delta)
        self.fixup_phandles()

    def merge_into_base(self) -> None:
        """The steps that edit the base: merge the fragments, then add the overlay's symbols."""
        self.merge()
        self.update_symbols()

    # -- helpers -----------------------------------------------------------

    def fail(self, code: int, message: str, node: int | None = None) -> OverlayFailure:
        """A failure in the overlay, located at ``node`` (a structure offset) if given."""
        if node is None or node < 0:
            return OverlayFailure(code, message, True)
        return OverlayFailure(code, message, True, self.fdto.off_dt_struct + node, self.overlay_path(node))

    def overlay_path(self, node: int) -> str:
        return self.fdto.path_of(node)

    def fragment_name(self, fragment: int) -> str:
        name, _ = self.fdto.get_name(fragment)
        return _text(name) if name is not None else "?"

    # -- step 1: the overlay's own phandles --------------------------------

    def adjust_local_phandles(self, delta: int) -> None:
        """overlay_adjust_local_phandles(): add ``delta`` to every phandle, depth first."""
        stack = [iter((0,))]
        while stack:
            node = next(stack[-1], None)
            if node is None:
                stack.pop()
                continue
            for name in (b"phandle", b"linux,phandle"):
                self.add_phandle_delta(node, name, delta)
            stack.append(self.fdto.subnodes(node))

    def add_phandle_delta(self, node: int, name: bytes, delta: int) -> None:
        fdto = self.fdto
        pos, length = fdto.getprop(node, name)
        if pos is None:
            if length == -FdtErr.NOTFOUND:
                return
            raise self.fail(length, f"cannot read {self.overlay_path(node)}:{_text(name)}", node)
        if length != 4:
            raise self.fail(
                -FdtErr.BADPHANDLE,
                f"{self.overlay_path(node)}: '{_text(name)}' is {length} bytes long, a phandle is 4",
                node,
            )
        value = fdto.u32(pos)
        adjusted = value + delta
        if adjusted > U32_MASK or adjusted == U32_MASK:
            raise self.fail(
                -FdtErr.NOPHANDLES,
                f"{self.overlay_path(node)}: phandle 0x{value:x} moved above the base's highest "
                f"phandle 0x{delta:x} leaves the 32-bit phandle range",
                node,
            )
        fdto.set_u32(pos, adjusted)

    # -- step 2: references to the overlay's own nodes ----------------------

    def update_local_references(self, delta: int) -> None:
        """overlay_update_local_references(): follow __local_fixups__ to every local reference."""
        fdto = self.fdto
        fixups = fdto.path_offset(b"/__local_fixups__")
        if fixups < 0:
            if fixups == -FdtErr.NOTFOUND:
                return
            raise self.fail(fixups, "cannot look up /__local_fixups__ in the overlay")
        stack = [(0, self.local_fixup_children(0, fixups, delta))]
        while stack:
            tree_node, children = stack[-1]
            fixup_child = next(children, None)
            if fixup_child is None:
                stack.pop()
                continue
            name, err = fdto.get_name(fixup_child)
            if name is None:
                raise self.fail(err, "a __local_fixups__ node has no readable name", fixup_child)
            tree_child = fdto.subnode_offset(tree_node, name)
            if tree_child < 0:
                code = -FdtErr.BADOVERLAY if tree_child == -FdtErr.NOTFOUND else tree_child
                raise self.fail(
                    code,
                    f"{self.overlay_path(fixup_child)} has no counterpart: "
                    f"{self.overlay_path(tree_node)} has no child '{_text(name)}'",
                    fixup_child,
                )
            stack.append((tree_child, self.local_fixup_children(tree_child, fixup_child, delta)))

    def local_fixup_children(self, tree_node: int, fixup_node: int, delta: int) -> Iterator[int]:
        """Apply one __local_fixups__ node's properties, then hand back its children."""
        for fixup_prop in self.fdto.properties(fixup_node):
            self.apply_local_fixup(tree_node, fixup_node, fixup_prop, delta)
        return self.fdto.subnodes(fixup_node)

    def apply_local_fixup(self, tree_node: int, fixup_node: int, fixup_prop: int, delta: int) -> None:
        """Add ``delta`` to each cell that one __local_fixups__ property lists."""
        fdto = self.fdto
        pos, name, fixup_len = fdto.getprop_by_offset(fixup_prop)

        def where() -> str:
            return f"{self.overlay_path(fixup_node)}:{_text(name)}"

        if pos is None:
            raise self.fail(fixup_len, f"cannot read a property of {self.overlay_path(fixup_node)}")
        if fixup_len % 4:
            raise self.fail(
                -FdtErr.BADOVERLAY,
                f"{where()}: {fixup_len} bytes is not a list of 32-bit offsets",
                fixup_node,
            )
        tree_pos, tree_len = fdto.getprop(tree_node, name)
        if tree_pos is None:
            code = -FdtErr.BADOVERLAY if tree_len == -FdtErr.NOTFOUND else tree_len
            raise self.fail(
                code, f"{where()}: {self.overlay_path(tree_node)} has no property '{_text(name)}'", fixup_node
            )
        for i in range(fixup_len // 4):
            index = fdto.u32(pos + 4 * i)
            if index + 4 > tree_len:
                raise self.fail(
                    -FdtErr.BADOVERLAY,
                    f"{where()}: offset {index} is outside the {tree_len}-byte property "
                    f"{self.overlay_path(tree_node)}:{_text(name)}",
                    fixup_node,
                )
            value = (fdto.u32(tree_pos + index) + delta) & U32_MASK
            err = fdto.setprop_inplace_partial(tree_node, name, index, value.to_bytes(4, "big"))
            if err:
                raise self.fail(err, f"{where()}: cannot patch offset {index}", fixup_node)

    # -- step 3: references to base labels ----------------------------------

    def fixup_phandles(self) -> None:
        """overlay_fixup_phandles(): resolve each __fixups__ label through the base's __symbols__."""
        fdto = self.fdto
        fixups = fdto.path_offset(b"/__fixups__")
        if fixups == -FdtErr.NOTFOUND:
            return
        if fixups < 0:
            raise self.fail(fixups, "cannot look up /__fixups__ in the overlay")
        symbols = self.fdt.path_offset(b"/__symbols__")
        if symbols < 0 and symbols != -FdtErr.NOTFOUND:
            raise OverlayFailure(symbols, "cannot look up /__symbols__ in the base tree", in_overlay=False)
        for prop in fdto.properties(fixups):
            self.fixup_label(symbols, fixups, prop)

    def fixup_label(self, symbols: int, fixups: int, prop: int) -> None:
        """overlay_fixup_phandle(): one label, one or more '<path>:<property>:<offset>' entries."""
        fdto = self.fdto
        pos, label, length = fdto.getprop_by_offset(prop)
        if pos is None:
            code = -FdtErr.INTERNAL if length == -FdtErr.NOTFOUND else length
            raise self.fail(code, "cannot read a /__fixups__ property", fixups)
        value = bytes(fdto.buf[pos : pos + length])
        while True:
            nul = value.find(b"\0")
            if nul < 0:
                raise self.fail(
                    -FdtErr.BADOVERLAY,
                    f"/__fixups__/{_text(label)}: entry '{_text(value)}' is not NUL-terminated",
                    fixups,
                )
            entry, value = value[:nul], value[nul + 1 :]
            path, prop_name, index = self.parse_fixup(label, entry, fixups)
            self.fixup_one(symbols, label, entry, path, prop_name, index)
            if not value:
                return

    def parse_fixup(self, label: bytes, entry: bytes, fixups: int) -> tuple[bytes, bytes, int]:
        bad = self.fail(
            -FdtErr.BADOVERLAY,
            f"/__fixups__/{_text(label)}: malformed entry '{_text(entry)}' "
            f"(expected '<node path>:<property>:<byte offset>')",
            fixups,
        )
        first = entry.find(b":")
        if first < 0 or first == len(entry) - 1:
            raise bad
        second = entry.find(b":", first + 1)
        if second < 0 or second == first + 1:
            raise bad
        index = _strtoul(entry[second + 1 :])
        if index is None:
            raise bad
        return entry[:first], entry[first + 1 : second], index

    def fixup_one(
        self, symbols: int, label: bytes, entry: bytes, path: bytes, name: bytes, index: int
    ) -> None:
        """overlay_fixup_one_phandle(): write the base node's phandle into the overlay."""
        fdt, fdto = self.fdt, self.fdto
        where = f"{_fragment_of(path)}: " if _fragment_of(path) else ""
        what = f"{where}label '{_text(label)}'"
        if symbols < 0:
            raise self.fail(
                symbols,
                f"{what} cannot be resolved: the base tree has no /__symbols__ node (compile it with dtc -@)",
            )
        symbol_pos, symbol_len = fdt.getprop(symbols, label)
        if symbol_pos is None:
            raise self.fail(
                symbol_len, f"{what} is not in the base tree's __symbols__{self.suggest_label(label)}"
            )
        symbol_path = fdt.cstring(symbol_pos)
        target = fdt.path_offset(symbol_path)
        if target < 0:
            raise OverlayFailure(
                target,
                f"{what}: the base's __symbols__ maps it to '{_text(symbol_path)}', "
                f"which is not a node of the base tree",
                in_overlay=False,
            )
        phandle = fdt.get_phandle(target)
        if not phandle:
            raise OverlayFailure(
                -FdtErr.NOTFOUND,
                f"{what}: base node '{_text(symbol_path)}' has no phandle to refer to",
                in_overlay=False,
            )
        node = fdto.path_offset(path)
        if node < 0:
            code = -FdtErr.BADOVERLAY if node == -FdtErr.NOTFOUND else node
            raise self.fail(code, f"/__fixups__/{_text(label)}: '{_text(path)}' is not a node of the overlay")
        err = fdto.setprop_inplace_partial(node, name, index, phandle.to_bytes(4, "big"))
        if err == -FdtErr.NOSPACE:
            _, length = fdto.getprop(node, name)
            raise self.fail(
                err,
                f"{what}: fixup '{_text(entry)}' writes past the end of the {length}-byte property "
                f"(fdtoverlay 1.6.1 keeps growing its buffer and never succeeds)",
                node,
            )
        if err:
            raise self.fail(
                err,
                f"{what}: fixup '{_text(entry)}' names property '{_text(name)}', which {_text(path)} lacks",
                node,
            )

    def suggest_label(self, label: bytes) -> str:
        symbols = self.fdt.path_offset(b"/__symbols__")
        names = []
        for prop in self.fdt.properties(symbols):
            _, name, _ = self.fdt.getprop_by_offset(prop)
            names.append(_text(name))
        close = difflib.get_close_matches(_text(label), names, n=1, cutoff=0.6)
        return f" (did you mean '{close[0]}'?)" if close else ""

    # -- step 4: merging fragments ------------------------------------------

    def target_of(self, fragment: int) -> tuple[int, bytes | None]:
        """overlay_get_target(): the base node a fragment applies to, and its target-path if any."""
        fdt, fdto = self.fdt, self.fdto
        frag = self.fragment_name(fragment)
        pos, length = fdto.getprop(fragment, b"target")
        phandle = 0
        if pos is not None:
            phandle = fdto.u32(pos) if length == 4 else U32_MASK
            if phandle == U32_MASK:
                detail = "is unresolved (0xffffffff)" if length == 4 else f"is {length} bytes, not one cell"
                raise self.fail(-FdtErr.BADPHANDLE, f"{frag}: target {detail}", fragment)
        if phandle:
            target = fdt.node_offset_by_phandle(phandle)
            if target < 0:
                raise self.fail(
                    target, f"{frag}: no base node has the target phandle 0x{phandle:x}", fragment
                )
            return target, None
        pos, length = fdto.getprop(fragment, b"target-path")
        if pos is None:
            code = -FdtErr.BADOVERLAY if length == -FdtErr.NOTFOUND else length
            raise self.fail(
                code, f"{frag}: has an __overlay__ but neither 'target' nor 'target-path'", fragment
            )
        path = fdto.cstring(pos)
        target = fdt.path_offset(path)
        if target < 0:
            raise self.fail(target, f"{frag}: target-path '{_text(path)}' is not in the base tree", fragment)
        return target, path

    def merge(self) -> None:
        """overlay_merge(): every fragment with an __overlay__ node, in order."""
        fdto = self.fdto
        for fragment in fdto.subnodes(0):
            overlay = fdto.subnode_offset(fragment, b"__overlay__")
            if overlay == -FdtErr.NOTFOUND:
                continue
            if overlay < 0:
                raise self.fail(
                    overlay, f"{self.fragment_name(fragment)}: cannot look up __overlay__", fragment
                )
            target, _ = self.target_of(fragment)
            self.apply_node(target, overlay)

    def apply_node(self, target: int, node: int) -> None:
        """overlay_apply_node(): properties first, then subnodes, depth first."""
        stack = [(target, self.apply_properties(target, node))]
        while stack:
            parent, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                continue
            name, err = self.fdto.get_name(child)
            if name is None:
                raise self.fail(err, "an overlay node has no readable name", child)
            merged = self.fdt.add_subnode(parent, name)
            if merged == -FdtErr.EXISTS:
                merged = self.fdt.subnode_offset(parent, name)
                if merged == -FdtErr.NOTFOUND:
                    merged = -FdtErr.INTERNAL
            if merged < 0:
                raise self.fail(merged, f"{self.overlay_path(child)}: cannot add it to the base tree", child)
            stack.append((merged, self.apply_properties(merged, child)))

    def apply_properties(self, target: int, node: int) -> Iterator[int]:
        fdt, fdto = self.fdt, self.fdto
        for prop in fdto.properties(node):
            pos, name, length = fdto.getprop_by_offset(prop)
            if pos is None:
                code = -FdtErr.INTERNAL if length == -FdtErr.NOTFOUND else length
                raise self.fail(code, f"{self.overlay_path(node)}: cannot read a property", node)
            err = fdt.setprop(target, name, bytes(fdto.buf[pos : pos + length]))
            if err:
                raise self.fail(
                    err, f"{self.overlay_path(node)}: cannot set '{_text(name)}' in the base", node
                )
        return fdto.subnodes(node)

    # -- step 5: symbols ------------------------------------------------------

    def update_symbols(self) -> None:
        """overlay_symbol_update(): overlay labels become base labels, at their merged paths."""
        fdt, fdto = self.fdt, self.fdto
        overlay_symbols = fdto.subnode_offset(0, b"__symbols__")
        if overlay_symbols < 0:
            return
        symbols = fdt.subnode_offset(0, b"__symbols__")
        if symbols == -FdtErr.NOTFOUND:
            symbols = fdt.add_subnode(0, b"__symbols__")
        if symbols < 0:
            raise OverlayFailure(
                symbols, "cannot find or add /__symbols__ in the base tree", in_overlay=False
            )
        for prop in fdto.properties(overlay_symbols):
            self.update_symbol(symbols, overlay_symbols, prop)

    def update_symbol(self, symbols: int, overlay_symbols: int, prop: int) -> None:
        fdt, fdto = self.fdt, self.fdto
        pos, name, length = fdto.getprop_by_offset(prop)
        if pos is None:
            raise self.fail(length, "cannot read a /__symbols__ property", overlay_symbols)
        value = bytes(fdto.buf[pos : pos + length])
        where = f"/__symbols__/{_text(name)}"
        if length < 1 or value.find(b"\0") != length - 1:
            raise self.fail(-FdtErr.BADVALUE, f"{where}: the value is not a single string", overlay_symbols)
        if value[0] != ord("/"):
            raise self.fail(
                -FdtErr.BADVALUE, f"{where}: '{_text(value[:-1])}' is not an absolute path", overlay_symbols
            )
        slash = value.find(b"/", 1, length - 1)
        if slash < 0:
            return  # a label outside any fragment: it does not reach the base
        marker = b"/__overlay__/"
        rest = length - slash
        if rest > len(marker) and value[slash : slash + len(marker)] == marker:
            relative = value[slash + len(marker) : length - 1]
        elif rest == len(marker) and value[slash : slash + len(marker) - 1] == marker[:-1]:
            relative = b""
        else:
            return  # not inside an __overlay__ node: it does not reach the base
        frag_name = value[1:slash]
        fragment = fdto.subnode_offset(0, frag_name)
        if fragment < 0:
            raise self.fail(
                -FdtErr.BADOVERLAY,
                f"{where}: the overlay has no fragment '{_text(frag_name)}'",
                overlay_symbols,
            )
        if fdto.subnode_offset(fragment, b"__overlay__") < 0:
            raise self.fail(
                -FdtErr.BADOVERLAY,
                f"{where}: fragment '{_text(frag_name)}' has no __overlay__ node",
                fragment,
            )
        target, target_path = self.target_of(fragment)
        if target_path is None:
            path_len = self.path_length(target)
        else:
            path_len = len(target_path)
        if path_len < 1:
            raise self.fail(-FdtErr.BADVALUE, f"{where}: the fragment's target-path is empty", fragment)
        size = path_len + (1 if path_len > 1 else 0) + len(relative) + 1
        err, out = fdt.setprop_placeholder(symbols, name, size)
        if err:
            raise OverlayFailure(err, f"cannot set {where} in the base tree", in_overlay=False)
        if target_path is None:
            target, target_path = self.target_of(fragment)  # the placeholder may have moved it
        if path_len > 1:
            if target_path is None:
                err, full = fdt.get_path(target, path_len + 1)
                if err:
                    raise OverlayFailure(err, f"{where}: cannot work out the target's path", in_overlay=False)
                fdt.write(out, full + b"\0")
            else:
                fdt.write(out, target_path + b"\0")
        else:
            path_len = 0
        fdt.write(out + path_len, b"/" + relative + b"\0")

    def path_length(self, node: int) -> int:
        """get_path_len(): the length of a base node's path, walking up through parents."""
        fdt = self.fdt
        length = 0
        while True:
            name, err = fdt.get_name(node)
            if name is None:
                raise OverlayFailure(err, "cannot work out a target's path", in_overlay=False)
            if not name:
                break
            node = fdt.parent_offset(node)
            if node < 0:
                raise OverlayFailure(node, "cannot work out a target's path", in_overlay=False)
            length += len(name) + 1
        return length or 1


def _fragment_of(path: bytes) -> str:
    """The fragment a fixup path lies in: '/fragment@0/__overlay__/x' -> 'fragment@0'."""
    parts = [p for p in path.split(b"/") if p]
    return _text(parts[0]) if parts else ""


def _strtoul(text: bytes) -> int | None:
    """The byte offset of a fixup entry, as libfdt gets it: strtoul(text, &end, 10) into a uint32.

    Returns None where libfdt rejects the entry (no digits, or anything after
    them).  White space and a sign before the digits pass, as in strtoul; the
    value saturates at 64 bits, wraps when negated and is cut to 32 bits.
    """
    rest = text.lstrip(b" \t\n\v\f\r")
    negative = rest[:1] == b"-"
    if rest[:1] in (b"+", b"-"):
        rest = rest[1:]
    if not rest or not rest.isdigit():
        return None
    value = min(int(rest), (1 << 64) - 1)
    if negative:
        value = -value % (1 << 64)
    return value & U32_MASK
