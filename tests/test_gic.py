"""The GIC models against the architecture: GICv2 (Arm IHI 0048), GICv3 (Arm IHI 0069), the VM's vGIC.

Everything is driven through the register interfaces a guest uses (GICD/GICC
MMIO, GICR frames, ICC_* system registers), and the end-to-end test runs a
payload that takes the EL1 virtual timer's interrupt through a GICv3.
"""

from __future__ import annotations

import mmap
import os

import pytest
from armboot.hyp.arch.cpu import Cpu
from armboot.hyp.arch.gic import SPURIOUS, GicConfigError
from armboot.hyp.arch.gicv2 import GicV2
from armboot.hyp.arch.gicv3 import SGI_BASE, GicV3
from armboot.hyp.arch.gicv3_cpuif import pfr0_with_gic
from armboot.hyp.arch.sysregs import BY_NAME, SysregAccess, encode_sysreg
from armboot.hyp.arch.vgic import ListEntry, Maintenance, VGic
from armboot.hyp.platform.devices import Window
from unicorn import arm64_const as A

HERE = os.path.dirname(__file__)
PAYLOADS = os.path.join(HERE, "gic_payloads")

# GICD / GICC offsets (IHI 0048 4.1.2, 4.1.3)
CTLR, TYPER, IIDR = 0x000, 0x004, 0x008
IGROUPR, ISENABLER, ICENABLER, ISPENDR, ICPENDR = 0x80, 0x100, 0x180, 0x200, 0x280
ISACTIVER, ICACTIVER = 0x300, 0x380
IPRIORITYR, ITARGETSR, ICFGR, SGIR, CPENDSGIR, SPENDSGIR = 0x400, 0x800, 0xC00, 0xF00, 0xF10, 0xF20
C_CTLR, C_PMR, C_BPR, C_IAR, C_EOIR, C_RPR, C_HPPIR, C_DIR = 0x00, 0x04, 0x08, 0x0C, 0x10, 0x14, 0x18, 0x1000


# GICv2 helpers


def v2(ncpus: int = 2) -> GicV2:
    g = GicV2(ncpus)
    g.dist_write(0, CTLR, 4, 1)
    for cpu in range(ncpus):
        g.cpu_write(cpu, C_CTLR, 4, 1)
        g.cpu_write(cpu, C_PMR, 4, 0xF0)
    return g


def set_bit(g: GicV2, family: int, intid: int, cpu: int = 0) -> None:
    g.dist_write(cpu, family + intid // 32 * 4, 4, 1 << (intid % 32))


def bit(g: GicV2, family: int, intid: int, cpu: int = 0) -> bool:
    return bool(g.dist_read(cpu, family + intid // 32 * 4, 4) >> (intid % 32) & 1)


def spi(g: GicV2, intid: int, priority: int, cpu: int = 0, edge: bool = False) -> None:
    """An SPI targeted at ``cpu``, enabled, at ``priority``."""
    g.dist_write(0, ITARGETSR + intid, 1, 1 << cpu)
    g.dist_write(0, IPRIORITYR + intid, 1, priority)
    if edge:
        g.dist_write(0, ICFGR + intid // 16 * 4, 4, 2 << (2 * (intid % 16)))
    set_bit(g, ISENABLER, intid)


# GICv2: identification and reset


def test_v2_reset_values() -> None:
    g = GicV2(2, nirqs=96)
    assert g.dist_read(0, CTLR, 4) == 0
    typer = g.dist_read(0, TYPER, 4)
    assert typer & 0x1F == 96 // 32 - 1  # ITLinesNumber
    assert typer >> 5 & 7 == 1  # CPUNumber = CPUs - 1
    assert typer >> 10 & 1  # SecurityExtn: we are the non-secure view
    assert g.dist_read(0, 0xFE8, 4) >> 4 & 0xF == 2  # ICPIDR2.ArchRev
    assert g.cpu_read(0, 0xFC, 4) >> 16 & 0xF == 2  # GICC_IIDR architecture version
    assert g.cpu_read(0, C_CTLR, 4) == 0
    assert g.cpu_read(0, C_PMR, 4) == 0
    assert g.cpu_read(0, C_RPR, 4) == 0xFF  # idle
    assert g.cpu_read(0, C_IAR, 4) == SPURIOUS
    assert g.cpu_read(0, C_HPPIR, 4) == SPURIOUS
    assert g.dist_read(0, ISENABLER, 4) == 0xFFFF  # SGIs enabled, PPIs not


def test_v2_rejects_more_than_eight_cpus() -> None:
    with pytest.raises(GicConfigError):
        GicV2(9)


def test_v2_igroupr_is_raz_wi_in_the_non_secure_view() -> None:
    g = v2()
    g.dist_write(0, IGROUPR + 4, 4, 0xFFFFFFFF)
    assert g.dist_read(0, IGROUPR + 4, 4) == 0
    spi(g, 40, 0x80)
    set_bit(g, ISPENDR, 40)
    assert g.irq_pending(0)  # still signalled as IRQ


def test_v2_enable_registers_are_write_one_to_set_and_clear() -> None:
    g = v2()
    g.dist_write(0, ISENABLER + 4, 4, 0b0101)
    g.dist_write(0, ISENABLER + 4, 4, 0b0010)  # zeros leave the others alone
    assert g.dist_read(0, ICENABLER + 4, 4) == 0b0111  # both views read the enable state
    g.dist_write(0, ICENABLER + 4, 4, 0b0001)
    assert g.dist_read(0, ISENABLER + 4, 4) == 0b0110
    g.dist_write(0, ICENABLER, 4, 0xFFFF)  # SGIs cannot be disabled on a GIC-400
    assert g.dist_read(0, ISENABLER, 4) & 0xFFFF == 0xFFFF


def test_v2_priority_is_byte_accessible_with_unimplemented_bits_raz() -> None:
    g = v2()
    g.dist_write(0, IPRIORITYR + 40, 4, 0x10_27_FF_81)  # INTIDs 40..43
    assert g.dist_read(0, IPRIORITYR + 40, 4) == 0x10_20_F8_80  # 5 bits: [2:0] RAZ/WI
    g.dist_write(0, IPRIORITYR + 42, 1, 0x48)
    assert g.dist_read(0, IPRIORITYR + 42, 1) == 0x48
    assert g.dist_read(0, IPRIORITYR + 40, 4) == 0x10_48_F8_80
    g.dist_write(1, IPRIORITYR + 27, 1, 0x30)  # a PPI's priority is banked per CPU
    assert g.dist_read(1, IPRIORITYR + 27, 1) == 0x30
    assert g.dist_read(0, IPRIORITYR + 27, 1) == 0


def test_v2_targets_banked_read_only_and_spis_byte_accessible() -> None:
    g = v2(ncpus=3)
    assert g.dist_read(1, ITARGETSR, 4) == 0x02020202  # INTIDs 0-31: the reading CPU's own bit
    g.dist_write(1, ITARGETSR + 4, 4, 0x01010101)
    assert g.dist_read(1, ITARGETSR + 4, 4) == 0x02020202
    g.dist_write(0, ITARGETSR + 33, 1, 0xFF)  # only implemented CPUs stick
    assert g.dist_read(0, ITARGETSR + 32, 4) == 0x00000700


def test_v2_uniprocessor_targets_raz_wi_and_spis_reach_cpu0() -> None:
    g = v2(ncpus=1)
    g.dist_write(0, ITARGETSR + 32, 4, 0x02020202)
    assert g.dist_read(0, ITARGETSR + 32, 4) == 0
    g.dist_write(0, IPRIORITYR + 32, 1, 0x80)
    set_bit(g, ISENABLER, 32)
    set_bit(g, ISPENDR, 32)
    assert g.cpu_read(0, C_IAR, 4) == 32


def test_v2_config_sgis_edge_read_only_spis_programmable() -> None:
    g = v2()
    assert g.dist_read(0, ICFGR, 4) == 0xAAAAAAAA
    g.dist_write(0, ICFGR, 4, 0)
    assert g.dist_read(0, ICFGR, 4) == 0xAAAAAAAA
    g.dist_write(0, ICFGR + 8, 4, 0x8)  # INTID 33 edge
    assert g.dist_read(0, ICFGR + 8, 4) == 0x8


# GICv2: SGIs


def test_v2_sgi_target_filters_and_source_in_iar() -> None:
    g = v2(ncpus=3)
    g.dist_write(0, SGIR, 4, (0 << 24) | (0b110 << 16) | 5)  # list: CPUs 1, 2
    assert g.cpu_read(1, C_IAR, 4) == (0 << 10) | 5
    assert g.cpu_read(2, C_IAR, 4) == (0 << 10) | 5
    assert g.cpu_read(0, C_IAR, 4) == SPURIOUS
    g.dist_write(2, SGIR, 4, (1 << 24) | 7)  # everyone but me
    assert g.cpu_read(0, C_IAR, 4) == (2 << 10) | 7
    assert g.cpu_read(1, C_HPPIR, 4) == (2 << 10) | 7
    assert not bit(g, ISPENDR, 7, cpu=2)
    g.dist_write(1, SGIR, 4, (2 << 24) | 3)  # me
    assert g.cpu_read(1, C_HPPIR, 4) == (1 << 10) | 3


def test_v2_sgi_pends_per_source_and_is_taken_once_per_source() -> None:
    g = v2(ncpus=3)
    g.dist_write(1, SGIR, 4, (0b001 << 16) | 2)
    g.dist_write(2, SGIR, 4, (0b001 << 16) | 2)
    assert g.dist_read(0, SPENDSGIR, 4) == 0b110 << 16  # byte 2: SGI 2, a bit per source
    first = g.cpu_read(0, C_IAR, 4)
    assert first == (1 << 10) | 2
    assert bit(g, ISACTIVER, 2) and bit(g, ISPENDR, 2)  # active and pending (the other source)
    g.cpu_write(0, C_EOIR, 4, first)
    assert g.cpu_read(0, C_IAR, 4) == (2 << 10) | 2
    assert g.dist_read(0, SPENDSGIR, 4) == 0


def test_v2_sgi_pending_only_through_the_sgi_pending_registers() -> None:
    g = v2()
    g.dist_write(0, ISPENDR, 4, 1 << 4)  # WI for SGIs
    assert not bit(g, ISPENDR, 4)
    g.dist_write(0, SPENDSGIR + 4, 1, 0b10)  # as if CPU 1 had sent SGI 4
    assert g.dist_read(0, CPENDSGIR + 4, 1) == 0b10
    assert g.cpu_read(0, C_HPPIR, 4) == (1 << 10) | 4
    g.dist_write(0, CPENDSGIR + 4, 1, 0b10)
    assert g.cpu_read(0, C_HPPIR, 4) == SPURIOUS


# GICv2: signalling, priority, preemption


def test_v2_spurious_unless_distributor_interface_and_mask_allow() -> None:
    g = GicV2(1)
    spi(g, 40, 0x80)
    set_bit(g, ISPENDR, 40)
    assert g.cpu_read(0, C_IAR, 4) == SPURIOUS and not g.irq_pending(0)  # distributor off
    g.dist_write(0, CTLR, 4, 1)
    assert g.cpu_read(0, C_IAR, 4) == SPURIOUS  # CPU interface off
    g.cpu_write(0, C_CTLR, 4, 1)
    g.cpu_write(0, C_PMR, 4, 0x80)  # priority must be strictly below the mask
    assert g.cpu_read(0, C_IAR, 4) == SPURIOUS and not g.irq_pending(0)
    assert g.cpu_read(0, C_HPPIR, 4) == 40  # but it is the highest pending one
    g.cpu_write(0, C_PMR, 4, 0x88)
    assert g.irq_pending(0)
    assert g.cpu_read(0, C_IAR, 4) == 40


def test_v2_highest_priority_first_ties_to_lowest_intid() -> None:
    g = v2()
    for intid, prio in ((50, 0x80), (45, 0x40), (41, 0x40)):
        spi(g, intid, prio)
        set_bit(g, ISPENDR, intid)
    assert [g.cpu_read(0, C_IAR, 4) for _ in range(3)] == [41, SPURIOUS, SPURIOUS]  # 45 cannot preempt 41
    g.cpu_write(0, C_EOIR, 4, 41)
    assert g.cpu_read(0, C_IAR, 4) == 45
    g.cpu_write(0, C_EOIR, 4, 45)
    assert g.cpu_read(0, C_IAR, 4) == 50


def test_v2_preemption_by_group_priority_and_running_priority() -> None:
    g = v2()
    spi(g, 40, 0x80)
    spi(g, 41, 0x78)
    spi(g, 42, 0x70)
    set_bit(g, ISPENDR, 40)
    assert g.cpu_read(0, C_IAR, 4) == 40
    assert g.cpu_read(0, C_RPR, 4) == 0x80
    g.cpu_write(0, C_BPR, 4, 4)  # group priority [7:4]: 0x78 and 0x80 differ, 0x78 preempts
    set_bit(g, ISPENDR, 41)
    assert g.irq_pending(0)
    assert g.cpu_read(0, C_IAR, 4) == 41
    assert g.cpu_read(0, C_RPR, 4) == 0x70  # the running priority is the group priority
    set_bit(g, ISPENDR, 42)  # 0x70 is 0x78's group priority: equal does not preempt
    assert not g.irq_pending(0)
    g.cpu_write(0, C_EOIR, 4, 41)  # drop back to 0x80: now 0x70 preempts
    assert g.cpu_read(0, C_RPR, 4) == 0x80
    assert g.cpu_read(0, C_IAR, 4) == 42


def test_v2_bpr_minimum_and_reset() -> None:
    g = v2()
    assert g.cpu_read(0, C_BPR, 4) == 3  # non-secure copy: minimum 3 with 5 priority bits
    g.cpu_write(0, C_BPR, 4, 0)
    assert g.cpu_read(0, C_BPR, 4) == 3


def test_v2_level_interrupt_follows_its_line_and_goes_active_and_pending() -> None:
    g = v2()
    spi(g, 40, 0x80)
    g.set_level(40, True)
    assert bit(g, ISPENDR, 40)
    assert g.cpu_read(0, C_IAR, 4) == 40
    assert bit(g, ISACTIVER, 40) and bit(g, ISPENDR, 40)  # line still high
    g.dist_write(0, ICPENDR + 4, 4, 1 << 8)  # clearing pending cannot beat an asserted line
    assert bit(g, ISPENDR, 40)
    g.set_level(40, False)
    assert not bit(g, ISPENDR, 40) and bit(g, ISACTIVER, 40)
    g.cpu_write(0, C_EOIR, 4, 40)
    assert not bit(g, ISACTIVER, 40)
    g.set_level(40, True)
    g.set_level(40, False)  # a pulse on a level input is gone when the line drops
    assert not bit(g, ISPENDR, 40)


def test_v2_edge_interrupt_latches_and_repends_while_active() -> None:
    g = v2()
    spi(g, 33, 0x80, edge=True)
    g.set_level(33, True)
    g.set_level(33, False)
    assert bit(g, ISPENDR, 33)  # latched
    assert g.cpu_read(0, C_IAR, 4) == 33
    assert not bit(g, ISPENDR, 33)  # acknowledge clears an edge
    g.set_level(33, True)  # a second edge while active
    assert bit(g, ISACTIVER, 33) and bit(g, ISPENDR, 33)
    assert g.cpu_read(0, C_IAR, 4) == SPURIOUS  # not taken again while active
    g.cpu_write(0, C_EOIR, 4, 33)
    assert g.cpu_read(0, C_IAR, 4) == 33


def test_v2_eoimode_splits_priority_drop_and_deactivation() -> None:
    g = v2()
    spi(g, 40, 0x80)
    set_bit(g, ISPENDR, 40)
    g.cpu_write(0, C_DIR, 4, 40)  # ignored: nothing active yet, and EOImode is 0
    g.cpu_write(0, C_CTLR, 4, 1 | 1 << 9)
    assert g.cpu_read(0, C_CTLR, 4) == 1 | 1 << 9
    assert g.cpu_read(0, C_IAR, 4) == 40
    g.cpu_write(0, C_EOIR, 4, 40)
    assert g.cpu_read(0, C_RPR, 4) == 0xFF and bit(g, ISACTIVER, 40)  # dropped, still active
    g.cpu_write(0, C_DIR, 4, 40)
    assert not bit(g, ISACTIVER, 40)


def test_v2_dir_is_ignored_with_eoimode_zero() -> None:
    g = v2()
    spi(g, 40, 0x80)
    set_bit(g, ISPENDR, 40)
    assert g.cpu_read(0, C_IAR, 4) == 40
    g.cpu_write(0, C_DIR, 4, 40)
    assert bit(g, ISACTIVER, 40)


def test_v2_active_registers_set_and_clear() -> None:
    g = v2()
    spi(g, 40, 0x80)
    set_bit(g, ISPENDR, 40)
    set_bit(g, ISACTIVER, 40)
    assert g.cpu_read(0, C_IAR, 4) == SPURIOUS  # an active interrupt is not taken again
    set_bit(g, ICACTIVER, 40)
    assert g.cpu_read(0, C_IAR, 4) == 40


def test_v2_ppis_are_banked_per_cpu() -> None:
    g = v2()
    g.dist_write(1, ISENABLER, 4, 1 << 27)
    g.dist_write(1, IPRIORITYR + 27, 1, 0x80)
    g.set_level(27, True, cpu=0)
    g.set_level(27, True, cpu=1)
    assert not g.irq_pending(0)  # CPU 0 never enabled its copy
    assert g.irq_pending(1)
    assert g.cpu_read(1, C_IAR, 4) == 27


# GICv3 helpers: the QEMU virt layout, reached through the windows a machine maps

GICD_BASE, GICR_BASE = 0x0800_0000, 0x080A_0000
RD = 0x20000


class V3:
    """A GICv3 and its windows, with accessors by physical address."""

    def __init__(self, mpidrs: list[int], regions: list[tuple[int, int]] | None = None) -> None:
        self.gic = GicV3(len(mpidrs), mpidrs)
        self.windows = self.gic.windows(regions or [(GICD_BASE, 0x10000), (GICR_BASE, 0xF60000)])
        self.cpus = [FakeCpu(i) for i in range(len(mpidrs))]
        for cpu in self.cpus:
            self.gic.install(cpu)  # type: ignore[arg-type]

    def _window(self, address: int) -> tuple[Window, int]:
        for w in self.windows:
            if w.base <= address < w.base + w.size:
                return w, address - w.base
        raise AssertionError(f"nothing at 0x{address:x}")

    def read(self, address: int, size: int = 4, cpu: int = 0) -> int:
        w, off = self._window(address)
        return w.read(cpu, off, size)

    def write(self, address: int, value: int, size: int = 4, cpu: int = 0) -> None:
        w, off = self._window(address)
        w.write(cpu, off, size, value)

    def sgi_base(self, cpu: int) -> int:
        return GICR_BASE + cpu * RD + SGI_BASE

    def icc(self, cpu: int, name: str) -> int:
        c = self.cpus[cpu]
        return c.sysreg_read[BY_NAME[name]](c)

    def set_icc(self, cpu: int, name: str, value: int) -> None:
        c = self.cpus[cpu]
        c.sysreg_write[BY_NAME[name]](c, value)

    def bring_up(self, cpu: int) -> None:
        """What Linux does for a CPU: wake the redistributor, group 1 everywhere, PMR, IGRPEN1."""
        waker = GICR_BASE + cpu * RD + 0x14
        self.write(waker, self.read(waker) & ~2)
        self.write(self.sgi_base(cpu) + IGROUPR, 0xFFFFFFFF)
        self.set_icc(cpu, "ICC_PMR_EL1", 0xF0)
        self.set_icc(cpu, "ICC_IGRPEN1_EL1", 1)


class FakeCpu:
    """Just what ``install`` touches: the handler tables, PC, the index."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.pc = 0
        self.sysreg_read: dict = {}
        self.sysreg_write: dict = {}
        self.id_overrides: dict = {}


def v3(ncpus: int = 2) -> V3:
    m = V3(list(range(ncpus)))
    m.write(GICD_BASE + CTLR, 0x13)  # ARE | G1 | G0, as Linux writes it
    for cpu in range(ncpus):
        m.bring_up(cpu)
    return m


def v3_spi(m: V3, intid: int, priority: int, route: int = 0) -> None:
    igroupr = GICD_BASE + IGROUPR + intid // 32 * 4
    m.write(igroupr, m.read(igroupr) | 1 << (intid % 32))
    m.write(GICD_BASE + IPRIORITYR + intid, priority, size=1)
    m.write(GICD_BASE + 0x6000 + 8 * intid, route, size=8)
    m.write(GICD_BASE + ISENABLER + intid // 32 * 4, 1 << (intid % 32))


# GICv3: distributor


def test_v3_distributor_reset_and_identification() -> None:
    m = V3([0, 1])
    assert m.read(GICD_BASE + CTLR) == 0x50  # DS (single security state) and ARE, nothing enabled
    typer = m.read(GICD_BASE + TYPER)
    assert typer & 0x1F == 288 // 32 - 1
    assert typer >> 19 & 0x1F == 15  # IDbits: 16-bit INTIDs
    assert typer >> 24 & 1  # A3V: Aff3 in SGI targets
    assert not typer >> 17 & 1  # no LPIs
    assert m.read(GICD_BASE + 0xFFE8) >> 4 & 0xF == 3  # PIDR2.ArchRev: Linux checks it
    m.write(GICD_BASE + CTLR, 0)  # ARE is RAO/WI without legacy support
    assert m.read(GICD_BASE + CTLR) == 0x50
    m.write(GICD_BASE + CTLR, 0x3)
    assert m.read(GICD_BASE + CTLR) == 0x53


def test_v3_distributor_private_interrupt_registers_are_raz_wi() -> None:
    m = V3([0, 1])
    m.write(GICD_BASE + ISENABLER, 0xFFFFFFFF)
    m.write(GICD_BASE + IPRIORITYR, 0xFFFFFFFF)
    assert m.read(GICD_BASE + ISENABLER) == 0
    assert m.read(GICD_BASE + IPRIORITYR) == 0
    assert m.read(m.sgi_base(0) + ISENABLER) == 0  # nothing leaked into a redistributor
    assert m.read(GICD_BASE + ITARGETSR + 32) == 0  # ITARGETSR: RAZ/WI under affinity routing


def test_v3_irouter_64_bit_and_halves_reserved_bits_raz() -> None:
    m = V3([0, 1])
    r40 = GICD_BASE + 0x6000 + 8 * 40
    assert m.read(r40, size=8) == 0  # reset: affinity 0.0.0.0
    m.write(r40, 0xFFFF_FFFF_FFFF_FFFF, size=8)
    assert m.read(r40, size=8) == 0xFF_80FF_FFFF  # Aff3, IRM, Aff2..Aff0
    m.write(r40 + 4, 0, size=4)
    assert m.read(r40, size=8) == 0x80FF_FFFF
    assert m.read(r40 + 4, size=4) == 0
    assert m.read(GICD_BASE + 0x6000 + 8 * 31, size=8) == 0  # no IROUTER below 32


def test_v3_spi_routing_by_affinity_and_one_of_n() -> None:
    mpidrs = [0x0, 0x1, 0x100, 0x1_0000_0000]  # Aff0, Aff1, Aff3 differ
    m = V3(mpidrs)
    m.write(GICD_BASE + CTLR, 0x13)
    for cpu in range(4):
        m.bring_up(cpu)
    for intid, route, cpu in ((40, 0x100, 2), (41, 0x1_0000_0000, 3), (42, 0x1, 1)):
        v3_spi(m, intid, 0x80, route)
        m.write(GICD_BASE + ISPENDR + 4, 1 << (intid - 32))
        assert [m.gic.irq_pending(c) for c in range(4)] == [c == cpu for c in range(4)]
        assert m.icc(cpu, "ICC_IAR1_EL1") == intid
        m.set_icc(cpu, "ICC_EOIR1_EL1", intid)
    v3_spi(m, 43, 0x80, 0x2)  # nobody has affinity 0.0.0.2: not delivered
    m.write(GICD_BASE + ISPENDR + 4, 1 << 11)
    assert not any(m.gic.irq_pending(c) for c in range(4))
    m.write(GICD_BASE + 0x6000 + 8 * 43, 1 << 31, size=8)  # IRM: any one CPU
    assert all(m.gic.irq_pending(c) for c in range(4))
    assert m.icc(2, "ICC_IAR1_EL1") == 43
    assert not any(m.gic.irq_pending(c) for c in range(4))  # taken once


# GICv3: redistributors


def test_v3_redistributor_typer_affinity_number_and_last() -> None:
    m = V3([0x0, 0x1_0000_0201])
    t0 = m.read(GICR_BASE + 0x8, size=8)
    t1 = m.read(GICR_BASE + RD + 0x8, size=8)
    assert t0 >> 32 == 0 and t0 >> 8 & 0xFFFF == 0 and not t0 & 1 << 4
    assert t1 >> 32 == 0x01_00_02_01  # Aff3.Aff2.Aff1.Aff0
    assert t1 >> 8 & 0xFFFF == 1 and t1 & 1 << 4  # Processor_Number; Last
    assert m.read(GICR_BASE + RD + 0xC) == 0x01_00_02_01  # the upper half alone
    assert not t1 & 1  # no physical LPIs
    assert m.read(GICR_BASE + 0xFFE8) >> 4 & 0xF == 3
    assert m.read(GICR_BASE + 2 * RD + 0xFFE8) == 0  # beyond the last frame: nothing


def test_v3_redistributors_over_several_regions_each_end_with_last() -> None:
    regions = [(GICD_BASE, 0x10000), (GICR_BASE, 2 * RD), (0x0900_0000, 0x100000)]
    m = V3([0, 1, 2], regions)
    last = [bool(m.read(base + 0x8) & 1 << 4) for base in (GICR_BASE, GICR_BASE + RD, 0x0900_0000)]
    assert last == [False, True, True]
    assert m.read(0x0900_0000 + 0xC) == 2
    with pytest.raises(GicConfigError):
        GicV3(3, [0, 1, 2]).windows([(GICD_BASE, 0x10000), (GICR_BASE, 2 * RD)])


def test_v3_waker_handshake_and_no_forwarding_while_asleep() -> None:
    m = V3([0])
    waker = GICR_BASE + 0x14
    assert m.read(waker) == 0x6  # ProcessorSleep, ChildrenAsleep
    m.write(GICD_BASE + CTLR, 0x13)
    m.write(m.sgi_base(0) + IGROUPR, 0xFFFFFFFF)
    m.write(m.sgi_base(0) + ISENABLER, 1 << 27)
    m.set_icc(0, "ICC_PMR_EL1", 0xF0)
    m.set_icc(0, "ICC_IGRPEN1_EL1", 1)
    m.gic.set_level(27, True, cpu=0)
    assert not m.gic.irq_pending(0) and m.icc(0, "ICC_IAR1_EL1") == SPURIOUS
    m.write(waker, 0x4)  # ChildrenAsleep is read-only: it follows ProcessorSleep
    assert m.read(waker) == 0
    assert m.gic.irq_pending(0)


def test_v3_redistributor_sgi_ppi_registers() -> None:
    m = v3()
    sgi0 = m.sgi_base(0)
    m.write(sgi0 + ISENABLER, 0x0800_0003)
    m.write(sgi0 + ICENABLER, 0x1)  # SGIs can be disabled on a GICv3
    assert m.read(sgi0 + ISENABLER) == 0x0800_0002
    assert m.read(m.sgi_base(1) + ISENABLER) == 0  # banked per redistributor
    m.write(sgi0 + IPRIORITYR + 27, 0xA7, size=1)
    assert m.read(sgi0 + IPRIORITYR + 24) == 0xA0 << 24
    assert m.read(sgi0 + ICFGR) == 0xAAAAAAAA  # ICFGR0: SGIs edge, read-only
    m.write(sgi0 + ICFGR, 0)
    assert m.read(sgi0 + ICFGR) == 0xAAAAAAAA
    m.write(sgi0 + ICFGR + 4, 2 << 22)  # ICFGR1: INTID 27 edge
    assert m.read(sgi0 + ICFGR + 4) == 2 << 22
    m.write(sgi0 + ISPENDR, 1 << 27)
    assert m.read(sgi0 + ISPENDR) == 1 << 27
    m.write(sgi0 + ICPENDR, 1 << 27)
    assert m.read(sgi0 + ISPENDR) == 0
    m.write(sgi0 + ISPENDR + 4, 0xFFFFFFFF)  # only one word: INTIDs 0-31
    assert m.read(sgi0 + ISPENDR + 4) == 0


# GICv3: the CPU interface (ICC_*)


def test_v3_icc_reset_values_and_identification() -> None:
    m = V3([0])
    assert m.icc(0, "ICC_SRE_EL1") == 0x7  # SRE, DFB, DIB: RAO
    m.set_icc(0, "ICC_SRE_EL1", 0)
    assert m.icc(0, "ICC_SRE_EL1") == 0x7
    ctlr = m.icc(0, "ICC_CTLR_EL1")
    assert ctlr >> 8 & 7 == 4  # PRIbits: 5 bits of priority
    assert ctlr >> 11 & 7 == 0  # IDbits: 16
    assert ctlr >> 15 & 1  # A3V
    assert ctlr & 3 == 0  # CBPR, EOImode
    assert m.icc(0, "ICC_PMR_EL1") == 0
    assert m.icc(0, "ICC_RPR_EL1") == 0xFF
    assert m.icc(0, "ICC_BPR0_EL1") == 2 and m.icc(0, "ICC_BPR1_EL1") == 3
    assert m.icc(0, "ICC_IGRPEN1_EL1") == 0 and m.icc(0, "ICC_IGRPEN0_EL1") == 0
    assert m.icc(0, "ICC_IAR1_EL1") == SPURIOUS and m.icc(0, "ICC_HPPIR1_EL1") == SPURIOUS


def test_v3_icc_write_only_and_read_only_registers() -> None:
    cpu = V3([0]).cpus[0]
    for name in ("ICC_EOIR1_EL1", "ICC_EOIR0_EL1", "ICC_DIR_EL1", "ICC_SGI1R_EL1", "ICC_SGI0R_EL1"):
        assert BY_NAME[name] not in cpu.sysreg_read and BY_NAME[name] in cpu.sysreg_write
    for name in ("ICC_IAR1_EL1", "ICC_IAR0_EL1", "ICC_HPPIR1_EL1", "ICC_HPPIR0_EL1", "ICC_RPR_EL1"):
        assert BY_NAME[name] in cpu.sysreg_read and BY_NAME[name] not in cpu.sysreg_write


def test_v3_icc_handlers_step_pc() -> None:
    m = V3([0])
    cpu = m.cpus[0]
    cpu.pc = 0x1000
    m.icc(0, "ICC_PMR_EL1")
    m.set_icc(0, "ICC_PMR_EL1", 0x80)
    assert cpu.pc == 0x1008


def test_v3_pmr_priority_bits_and_linux_group0_probe() -> None:
    m = V3([0])
    m.set_icc(0, "ICC_PMR_EL1", 0xFF)
    assert m.icc(0, "ICC_PMR_EL1") == 0xF8
    m.set_icc(0, "ICC_PMR_EL1", 1 << (8 - 5))  # gic_has_group0(): the lowest implemented bit sticks
    assert m.icc(0, "ICC_PMR_EL1") == 0x08


def test_v3_binary_points_minimum_and_cbpr() -> None:
    m = V3([0])
    m.set_icc(0, "ICC_BPR1_EL1", 0)  # Linux writes 0 to restore the reset value
    m.set_icc(0, "ICC_BPR0_EL1", 0)
    assert m.icc(0, "ICC_BPR1_EL1") == 3 and m.icc(0, "ICC_BPR0_EL1") == 2
    m.set_icc(0, "ICC_BPR0_EL1", 6)
    m.set_icc(0, "ICC_CTLR_EL1", 1)  # CBPR: BPR1 reads BPR0 + 1 (saturated), writes ignored
    assert m.icc(0, "ICC_BPR1_EL1") == 7
    m.set_icc(0, "ICC_BPR1_EL1", 4)
    m.set_icc(0, "ICC_CTLR_EL1", 0)
    assert m.icc(0, "ICC_BPR1_EL1") == 3


def test_v3_acknowledge_running_priority_active_priorities_and_eoi() -> None:
    m = v3(1)
    sgi0 = m.sgi_base(0)
    m.write(sgi0 + IPRIORITYR + 27, 0xA0, size=1)
    m.write(sgi0 + ISENABLER, 1 << 27)
    m.gic.set_level(27, True, cpu=0)
    assert m.gic.irq_pending(0)
    assert m.icc(0, "ICC_HPPIR1_EL1") == 27
    assert m.icc(0, "ICC_IAR1_EL1") == 27  # no source field in GICv3
    assert m.icc(0, "ICC_RPR_EL1") == 0xA0
    assert m.icc(0, "ICC_AP1R0_EL1") == 1 << (0xA0 >> 3)
    assert not m.gic.irq_pending(0)  # active (and still pending: level)
    assert m.read(sgi0 + ISACTIVER) == 1 << 27 and m.read(sgi0 + ISPENDR) == 1 << 27
    m.gic.set_level(27, False, cpu=0)
    m.set_icc(0, "ICC_EOIR1_EL1", 27)
    assert m.icc(0, "ICC_RPR_EL1") == 0xFF and m.icc(0, "ICC_AP1R0_EL1") == 0
    assert m.read(sgi0 + ISACTIVER) == 0


def test_v3_eoimode_drop_then_dir() -> None:
    m = v3(1)
    sgi0 = m.sgi_base(0)
    m.write(sgi0 + ISENABLER, 1 << 3)
    m.write(sgi0 + IPRIORITYR + 3, 0x40, size=1)
    m.set_icc(0, "ICC_CTLR_EL1", 2)  # EOImode: drop only (what Linux uses at EL2)
    m.set_icc(0, "ICC_SGI1R_EL1", (3 << 24) | 1)
    assert m.icc(0, "ICC_IAR1_EL1") == 3
    m.set_icc(0, "ICC_EOIR1_EL1", 3)
    assert m.icc(0, "ICC_RPR_EL1") == 0xFF and m.read(sgi0 + ISACTIVER) == 1 << 3
    m.set_icc(0, "ICC_DIR_EL1", 3)
    assert m.read(sgi0 + ISACTIVER) == 0


def test_v3_eoi_for_the_other_group_is_ignored() -> None:
    m = v3(1)
    sgi0 = m.sgi_base(0)
    m.write(sgi0 + ISENABLER, 1 << 3)
    m.set_icc(0, "ICC_SGI1R_EL1", (3 << 24) | 1)
    assert m.icc(0, "ICC_IAR1_EL1") == 3
    m.set_icc(0, "ICC_EOIR0_EL1", 3)
    assert m.icc(0, "ICC_RPR_EL1") == 0  # still running at priority 0
    m.set_icc(0, "ICC_EOIR1_EL1", 1023)  # special INTIDs are never completed
    assert m.icc(0, "ICC_RPR_EL1") == 0


def test_v3_preemption_nesting() -> None:
    m = v3(1)
    v3_spi(m, 40, 0x80)
    v3_spi(m, 41, 0x40)
    m.write(GICD_BASE + ISPENDR + 4, 1 << 8)
    assert m.icc(0, "ICC_IAR1_EL1") == 40
    m.write(GICD_BASE + ISPENDR + 4, 1 << 9)
    assert m.gic.irq_pending(0)  # 0x40 preempts 0x80
    assert m.icc(0, "ICC_IAR1_EL1") == 41
    assert m.icc(0, "ICC_RPR_EL1") == 0x40
    assert m.icc(0, "ICC_AP1R0_EL1") == (1 << 8) | (1 << 16)
    m.set_icc(0, "ICC_EOIR1_EL1", 41)
    assert m.icc(0, "ICC_RPR_EL1") == 0x80
    m.set_icc(0, "ICC_EOIR1_EL1", 40)
    assert m.icc(0, "ICC_RPR_EL1") == 0xFF


def test_v3_groups_group0_is_not_an_irq() -> None:
    m = v3(1)
    sgi0 = m.sgi_base(0)
    m.write(sgi0 + IGROUPR, 0xFFFFFFFF & ~(1 << 27))  # INTID 27 in group 0
    m.write(sgi0 + ISENABLER, 1 << 27)
    m.gic.set_level(27, True, cpu=0)
    assert not m.gic.irq_pending(0)  # group 0 is FIQ; and IGRPEN0 is off anyway
    assert m.icc(0, "ICC_HPPIR0_EL1") == SPURIOUS
    m.set_icc(0, "ICC_IGRPEN0_EL1", 1)
    assert not m.gic.irq_pending(0)
    assert m.icc(0, "ICC_HPPIR0_EL1") == 27 and m.icc(0, "ICC_HPPIR1_EL1") == SPURIOUS
    assert m.icc(0, "ICC_IAR1_EL1") == SPURIOUS  # wrong group
    assert m.icc(0, "ICC_IAR0_EL1") == 27
    assert m.icc(0, "ICC_AP0R0_EL1") == 1 and m.icc(0, "ICC_AP1R0_EL1") == 0
    m.set_icc(0, "ICC_EOIR0_EL1", 27)
    assert m.icc(0, "ICC_AP0R0_EL1") == 0


def test_v3_group_enables_gate_signalling() -> None:
    m = v3(1)
    v3_spi(m, 40, 0x80)
    m.write(GICD_BASE + ISPENDR + 4, 1 << 8)
    assert m.gic.irq_pending(0)
    m.set_icc(0, "ICC_IGRPEN1_EL1", 0)
    assert not m.gic.irq_pending(0) and m.icc(0, "ICC_IAR1_EL1") == SPURIOUS
    m.set_icc(0, "ICC_IGRPEN1_EL1", 1)
    m.write(GICD_BASE + CTLR, 0x1)  # distributor group 1 off
    assert not m.gic.irq_pending(0)
    m.write(GICD_BASE + CTLR, 0x3)
    assert m.gic.irq_pending(0)


def test_v3_sgi1r_target_list_range_selector_and_irm() -> None:
    mpidrs = [0x0, 0x1, 0x2, 0x11, 0x100]  # Aff0 17 is in range selector 1; one CPU in cluster 0.0.1
    m = V3(mpidrs)
    m.write(GICD_BASE + CTLR, 0x13)
    for cpu in range(5):
        m.bring_up(cpu)
        m.write(m.sgi_base(cpu) + ISENABLER, 0xFFFF)

    def taken() -> list[int]:
        got = [m.icc(c, "ICC_IAR1_EL1") for c in range(5)]
        for c, intid in enumerate(got):
            if intid != SPURIOUS:
                m.set_icc(c, "ICC_EOIR1_EL1", intid)
        return got

    m.set_icc(0, "ICC_SGI1R_EL1", (5 << 24) | 0b110)  # Aff0 1 and 2 of cluster 0.0.0
    assert taken() == [SPURIOUS, 5, 5, SPURIOUS, SPURIOUS]
    m.set_icc(0, "ICC_SGI1R_EL1", (1 << 44) | (6 << 24) | 0b10)  # RS 1: Aff0 17
    assert taken() == [SPURIOUS, SPURIOUS, SPURIOUS, 6, SPURIOUS]
    m.set_icc(0, "ICC_SGI1R_EL1", (1 << 16) | (7 << 24) | 0b1)  # Aff1 1
    assert taken() == [SPURIOUS] * 4 + [7]
    m.set_icc(2, "ICC_SGI1R_EL1", (1 << 40) | (8 << 24))  # IRM: all but me
    assert taken() == [8, 8, SPURIOUS, 8, 8]


def test_v3_sgi_reaches_only_a_target_with_the_matching_group() -> None:
    m = v3(2)
    m.write(m.sgi_base(1) + IGROUPR, 0xFFFFFFFF & ~(1 << 9))  # CPU 1: SGI 9 in group 0
    m.write(m.sgi_base(1) + ISENABLER, 1 << 9)
    m.set_icc(1, "ICC_IGRPEN0_EL1", 1)
    m.set_icc(0, "ICC_SGI1R_EL1", (9 << 24) | 0b10)
    assert m.read(m.sgi_base(1) + ISPENDR) == 0
    m.set_icc(0, "ICC_SGI0R_EL1", (9 << 24) | 0b10)
    assert m.read(m.sgi_base(1) + ISPENDR) == 1 << 9
    assert m.icc(1, "ICC_IAR0_EL1") == 9


def test_v3_id_register_override_agrees_with_the_bootloader() -> None:
    m = V3([0])
    override = m.cpus[0].id_overrides[BY_NAME["ID_AA64PFR0_EL1"]]
    a72 = 0x2222  # what unicorn's A72 reads: GIC field 0
    assert override(a72) == 0x0100_2222
    assert override(0x0F00_2222) == 0x0100_2222
    session_style = (a72 & ~(0xF << 24)) | (1 << 24)  # bootloader/session.py for a GicV3
    assert pfr0_with_gic(a72) == session_style


def test_v3_linux_driver_init_sequence() -> None:
    """drivers/irqchip/irq-gic-v3.c (Linux 6.x) as it probes and sets up the GIC, then an IPI."""
    mpidrs = [0x000, 0x101]  # two clusters
    m = V3(mpidrs)
    assert m.read(GICD_BASE + 0xFFE8) & 0xF0 in (0x30, 0x40)  # gic_validate_dist_version
    assert ((m.read(GICD_BASE + TYPER) & 0x1F) + 1) * 32 == 288  # GICD_TYPER_IRQS
    assert m.read(GICD_BASE + CTLR) & 1 << 6  # gic_dist_security_disabled
    m.write(GICD_BASE + CTLR, 0)  # gic_dist_init
    assert not m.read(GICD_BASE + CTLR) & 1 << 31  # RWP
    for i in range(32, 288, 32):
        m.write(GICD_BASE + IGROUPR + i // 8, 0xFFFFFFFF)
        m.write(GICD_BASE + ICACTIVER + i // 8, 0xFFFFFFFF)
        m.write(GICD_BASE + ICENABLER + i // 8, 0xFFFFFFFF)
    for i in range(32, 288, 16):
        m.write(GICD_BASE + ICFGR + i // 4, 0)
    for i in range(32, 288, 4):
        m.write(GICD_BASE + IPRIORITYR + i, 0xA0A0A0A0)
    m.write(GICD_BASE + CTLR, 0x13)  # ARE_NS | ENABLE_G1A | ENABLE_G1
    for i in range(32, 288):
        m.write(GICD_BASE + 0x6000 + 8 * i, 0, size=8)  # boot CPU's affinity
    for cpu, mpidr in enumerate(mpidrs):
        aff = (mpidr >> 32 & 0xFF) << 24 | (mpidr & 0xFFFFFF)
        frame = GICR_BASE
        while True:  # gic_iterate_rdists / __gic_populate_rdist
            assert m.read(frame + 0xFFE8) & 0xF0 in (0x30, 0x40)
            typer = m.read(frame + 0x8, size=8)
            if typer >> 32 == aff:
                break
            assert not typer & 1 << 4, "ran past the Last redistributor"
            frame += RD
        assert frame == GICR_BASE + cpu * RD
        m.write(frame + 0x14, m.read(frame + 0x14) & ~2)  # gic_enable_redist
        assert not m.read(frame + 0x14) & 4
        sgi = frame + SGI_BASE  # gic_cpu_config
        m.write(sgi + IGROUPR, 0xFFFFFFFF)
        m.write(sgi + ICACTIVER, 0xFFFFFFFF)
        m.write(sgi + ICENABLER, 0xFFFFFFFF)
        for i in range(0, 32, 4):
            m.write(sgi + IPRIORITYR + i, 0xA0A0A0A0)
        if not m.icc(cpu, "ICC_SRE_EL1") & 1:  # gic_enable_sre
            m.set_icc(cpu, "ICC_SRE_EL1", 1)
        assert m.icc(cpu, "ICC_SRE_EL1") & 1
        pribits = (m.icc(cpu, "ICC_CTLR_EL1") >> 8 & 7) + 1
        m.set_icc(cpu, "ICC_PMR_EL1", 1 << (8 - pribits))  # gic_has_group0
        assert m.icc(cpu, "ICC_PMR_EL1") != 0
        m.set_icc(cpu, "ICC_PMR_EL1", 0xF0)  # DEFAULT_PMR_VALUE
        m.set_icc(cpu, "ICC_BPR1_EL1", 0)
        m.set_icc(cpu, "ICC_CTLR_EL1", 2)  # EOImode_drop: the kernel runs at EL2
        m.set_icc(cpu, "ICC_AP0R0_EL1", 0)
        m.set_icc(cpu, "ICC_AP1R0_EL1", 0)
        m.set_icc(cpu, "ICC_IGRPEN1_EL1", 1)
        m.write(sgi + ISENABLER, 0xFF)  # the IPIs: SGIs 0-7
    # gic_ipi_send_mask from CPU 0 to CPU 1 (Aff1 = 1, Aff0 = 1): IPI 3 (call function)
    m.set_icc(0, "ICC_SGI1R_EL1", (1 << 16) | (3 << 24) | (1 << 1))
    assert m.gic.irq_pending(1) and not m.gic.irq_pending(0)
    assert m.icc(1, "ICC_IAR1_EL1") == 3
    assert m.icc(1, "ICC_RPR_EL1") == 0xA0
    m.set_icc(1, "ICC_EOIR1_EL1", 3)
    m.set_icc(1, "ICC_DIR_EL1", 3)
    assert m.read(m.sgi_base(1) + ISACTIVER) == 0 and m.icc(1, "ICC_RPR_EL1") == 0xFF


# GICv3 on a real CPU: the ICC_* path through unicorn


def _cpu_running(code: list[int]) -> Cpu:
    """A real CPU at EL1 about to run ``code`` then WFI, its EL1 vectors at 0x40000800."""
    cpu = Cpu(0, 0)
    ram = mmap.mmap(-1, 0x10000)
    cpu.map_ram(0x4000_0000, 0x10000, ram)
    cpu.reset_el3_state(False)
    words = [*code, 0xD503207F]  # ... wfi
    ram[0 : 4 * len(words)] = b"".join(w.to_bytes(4, "little") for w in words)
    cpu.uc.reg_write(A.UC_ARM64_REG_VBAR_EL1, 0x4000_0800)
    cpu.pc = 0x4000_0000
    cpu.on = True
    cpu.test_ram = ram  # type: ignore[attr-defined]  # unicorn maps this buffer: it must live as long as the CPU
    return cpu


def _mrs(name: str, rt: int) -> int:
    return encode_sysreg(SysregAccess(BY_NAME[name], rt, True))


def _msr(name: str, rt: int) -> int:
    return encode_sysreg(SysregAccess(BY_NAME[name], rt, False))


def test_v3_icc_registers_on_a_real_cpu() -> None:
    nop, movz = 0xD503201F, lambda rd, imm: 0xD2800000 | imm << 5 | rd
    code = [nop, _mrs("ICC_SRE_EL1", 1), movz(2, 0xFF), _msr("ICC_PMR_EL1", 2), _mrs("ICC_PMR_EL1", 3), nop]
    code += [_mrs("ICC_CTLR_EL1", 4), _mrs("ID_AA64PFR0_EL1", 5)]
    cpu = _cpu_running(code)
    gic = GicV3(1, [0])
    gic.install(cpu)
    cpu.run(len(code) + 1)
    assert cpu.waiting and cpu.pc == 0x4000_0000 + 4 * (len(code) + 1)
    assert [cpu.x(1), cpu.x(3), cpu.x(4) >> 8 & 7, cpu.x(5) >> 24 & 0xF] == [7, 0xF8, 4, 1]


def test_v3_reading_a_write_only_icc_register_is_undefined() -> None:
    cpu = _cpu_running([_mrs("ICC_EOIR1_EL1", 1)])
    GicV3(1, [0]).install(cpu)
    cpu.run(2)
    assert cpu.pc == 0x4000_0800 + 0x200  # synchronous exception, current EL with SP_ELx
    assert cpu.uc.reg_read(A.UC_ARM64_REG_ESR_EL1) >> 26 == 0  # EC: unknown reason


@pytest.mark.parametrize("budget", [1, 2, 3, 5])
def test_v3_icc_side_effects_happen_once_whatever_the_slice_boundary(budget: int) -> None:
    add_x3 = 0x91000463  # add x3, x3, #1
    body = [_msr("ICC_SGI1R_EL1", 1), _mrs("ICC_IAR1_EL1", 2), 0xD503201F, _msr("ICC_EOIR1_EL1", 2), add_x3]
    cpu = _cpu_running(body * 6)
    m = V3([0])
    m.gic.install(cpu)
    m.write(GICD_BASE + CTLR, 0x13)
    m.bring_up(0)
    m.write(m.sgi_base(0) + ISENABLER, 1 << 1)
    cpu.set_x(1, (1 << 24) | 1)  # SGI 1 to myself
    for _ in range(100):
        cpu.run(budget)
        if cpu.waiting:
            break
    assert cpu.waiting and cpu.x(3) == 6
    assert m.gic.acknowledged == 6 and cpu.x(2) == 1
    assert m.icc(0, "ICC_RPR_EL1") == 0xFF


def test_v3_icc_registers_from_the_virtual_el2() -> None:
    from armboot.hyp.arch.el2 import VirtualEL2

    movz_x3 = 0xD2801FE3  # movz x3, #0xff
    code = [
        _mrs("ICC_SRE_EL1", 2),
        movz_x3,
        _msr("ICC_PMR_EL1", 3),
        _mrs("ICC_PMR_EL1", 4),
        _mrs("CurrentEL", 5),
    ]
    cpu = _cpu_running(code)
    cpu.reset_el3_state(True)
    GicV3(1, [0]).install(cpu)
    cpu.el2 = VirtualEL2(cpu)
    cpu.el2.start()  # the code hook that watches for ERET is armed: PC stepping must still work
    cpu.run(len(code) + 1)
    assert cpu.waiting
    assert [cpu.x(2), cpu.x(4), cpu.x(5)] == [7, 0xF8, 8]


# The machine builds either GIC from the tree


def test_machine_builds_the_gicv2_of_the_bundled_virt_board() -> None:
    from armboot.bootloader.session import load_tree
    from armboot.hyp.platform.board import Machine

    machine = Machine(load_tree(os.path.join(HERE, "..", "boards", "virt.dts"), []))
    assert isinstance(machine.gic, GicV2)
    bases = {w.base: w.size for w in machine.windows if w.device is machine.gic}
    assert bases == {0x0800_0000: 0x10000, 0x0801_0000: 0x10000}


def test_machine_builds_a_gicv3_from_the_test_board() -> None:
    from armboot.bootloader.session import load_tree
    from armboot.hyp.platform.board import Machine

    machine = Machine(load_tree(os.path.join(PAYLOADS, "board-gicv3.dts"), []))
    assert isinstance(machine.gic, GicV3)
    assert machine.gic.mpidrs == [0, 1] and machine.gic.last == {1}
    cpu = machine.make_cpu(0)
    assert BY_NAME["ICC_IAR1_EL1"] in cpu.sysreg_read


# The virtual GIC


def vgic(nvcpus: int = 2) -> VGic:
    g = VGic(nvcpus)
    g.dist_write(0, CTLR, 4, 1)
    for vcpu in range(nvcpus):
        g.cpu_write(vcpu, C_CTLR, 4, 1)
        g.cpu_write(vcpu, C_PMR, 4, 0xF0)
    return g


def test_vgic_injected_ppi_reaches_only_its_vcpu_and_respects_the_guests_setup() -> None:
    g = vgic()
    g.inject(1, 27)
    assert not g.pending_for(1)  # the guest has not enabled INTID 27
    g.dist_write(1, ISENABLER, 4, 1 << 27)
    assert g.pending_for(1) and not g.pending_for(0)
    assert g.in_flight(1) == [ListEntry(27, 0, True, False, None)]
    assert g.cpu_read(1, C_IAR, 4) == 27
    assert g.in_flight(1) == [ListEntry(27, 0, False, True, None)]
    g.cpu_write(1, C_EOIR, 4, 27)
    assert g.in_flight(1) == []


def test_vgic_spi_goes_where_the_guest_routes_it() -> None:
    g = vgic()
    spi(g, 48, 0x80, cpu=1)
    g.inject(0, 48)  # the vCPU argument does not route an SPI
    assert g.pending_for(1) and not g.pending_for(0)


def test_vgic_linked_interrupt_reports_maintenance_on_deactivation() -> None:
    g = vgic()
    events: list[Maintenance] = []
    g.on_maintenance = events.append
    g.dist_write(0, ISENABLER, 4, 1 << 27)
    g.inject(0, 27, hw_intid=27)
    assert g.cpu_read(0, C_IAR, 4) == 27
    assert events == []  # active: the physical interrupt stays active too
    g.cpu_write(0, C_EOIR, 4, 27)
    assert events == [Maintenance(0, 27, 27)]
    g.inject(0, 27)  # not linked any more: nothing to report
    g.cpu_write(0, C_EOIR, 4, g.cpu_read(0, C_IAR, 4))
    assert len(events) == 1


def test_vgic_linked_interrupt_with_eoimode_is_released_by_dir() -> None:
    g = vgic()
    events: list[Maintenance] = []
    g.on_maintenance = events.append
    spi(g, 40, 0x80, cpu=1)
    g.cpu_write(1, C_CTLR, 4, 1 | 1 << 9)
    g.inject(1, 40, hw_intid=72)
    assert g.cpu_read(1, C_IAR, 4) == 40
    g.cpu_write(1, C_EOIR, 4, 40)
    assert events == []
    g.cpu_write(1, C_DIR, 4, 40)
    assert events == [Maintenance(1, 40, 72)]


def test_vgic_linked_interrupt_discarded_by_the_guest_is_released() -> None:
    g = vgic()
    events: list[Maintenance] = []
    g.on_maintenance = events.append
    g.inject(0, 40, hw_intid=80)
    g.dist_write(0, ICPENDR + 4, 4, 1 << 8)
    assert events == [Maintenance(0, 40, 80)]


def test_vgic_sgi_between_vcpus_carries_the_source() -> None:
    g = vgic(3)
    g.dist_write(2, SGIR, 4, (0b001 << 16) | 1)
    assert g.pending_for(0)
    assert g.cpu_read(0, C_IAR, 4) == (2 << 10) | 1


def test_vgics_share_no_state() -> None:
    a, b = vgic(), vgic()
    a.dist_write(0, ISENABLER, 4, 1 << 27)
    a.inject(0, 27)
    assert a.pending_for(0)
    assert not b.pending_for(0) and b.dist_read(0, ISENABLER, 4) == 0xFFFF
    assert b.in_flight(0) == []


def test_vgic_rejects_unknown_vcpus_and_intids() -> None:
    g = vgic()
    with pytest.raises(ValueError):
        g.inject(2, 27)
    with pytest.raises(ValueError):
        g.inject(0, 256)


# End to end: a payload takes the EL1 virtual timer's interrupt through a GICv3


def test_timer_interrupt_through_gicv3_system_registers() -> None:
    from armboot.bootloader.report import build_report
    from armboot.bootloader.session import BootOptions, boot_and_run

    board = os.path.join(PAYLOADS, "board-gicv3.dts")
    boot = boot_and_run(BootOptions(board=board, timeout=30, max_insns=5_000_000))
    report = build_report(boot)
    assert report["console"] == "gic=1 sre=7\nirq 1b rpr=a0 hppi=1\nirq 1 rpr=80\ndone\n"
    assert report["exit"]["reason"] == "system_off"
    assert report["traps"]["irq"] == 2
    assert report["entry_el"] == 2 and report["traps"]["eret_el2"] == 1


def test_sgi_by_affinity_and_spi_routed_to_the_second_cpu() -> None:
    from armboot.bootloader.report import build_report
    from armboot.bootloader.session import BootOptions, boot_and_run

    board = os.path.join(PAYLOADS, "board-gicv3.dts")
    kernel = os.path.join(PAYLOADS, "smp_gicv3.elf")
    boot = boot_and_run(BootOptions(board=board, kernel=kernel, timeout=30, max_insns=5_000_000))
    report = build_report(boot)
    assert report["console"] == "cpu0 up\ncpu1 up\ncpu1 irq 2\ncpu1 irq 21\ndone\n"
    assert report["exit"]["reason"] == "system_off"
    assert boot.machine.gic.routes[33 - 32] == 1  # the payload's 64-bit IROUTER write
    assert [c.traps.counts.get("irq", 0) for c in boot.machine.cpus] == [0, 2]


def test_vgic_emulated_device_line_is_level_sensitive() -> None:
    g = vgic()
    spi(g, 33, 0x80, cpu=0)
    g.set_level(33, True)
    assert g.cpu_read(0, C_IAR, 4) == 33
    g.set_level(33, False)  # the device's line drops before the EOI: nothing left pending
    g.cpu_write(0, C_EOIR, 4, 33)
    assert not g.pending_for(0) and g.in_flight(0) == []
