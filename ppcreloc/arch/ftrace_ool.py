"""Out-of-line ftrace stubs (CONFIG_PPC_FTRACE_OUT_OF_LINE, 6.13+): the ftrace side.

Modelled from the patch text of eec37961a56a "powerpc64/ftrace: Move ftrace sequence out of line"
(6.13) and its CALL_OPS follow-up, and of 5337609a3148 "powerpc/ftrace: ensure ftrace record ops
are always set for NOPs" (6.18); no 6.13-6.18 tree was compiled. The module_64.c side
(get_stubs_size, setup_ftrace_ool_stubs) lives in the v6.13 / v6.18 profiles.

* struct ftrace_ool_stub (asm/ftrace.h): ``struct ftrace_ops *ftrace_op`` (only with
  CONFIG_DYNAMIC_FTRACE_WITH_CALL_OPS) then ``u32 insn[4]``, aligned to 8: 24 or 16 bytes.
* kernel/trace/ftrace.c ftrace_module_init -> ftrace_process_locs: the module's
  ``__patchable_function_entries`` (FTRACE_CALLSITE_SECTION under
  CC_USING_PATCHABLE_FUNCTION_ENTRY) holds one 8-byte address per traced function, relocated by
  the load; they are sorted (modules are always sorted at load) and NULL entries skipped; every
  record then goes through ftrace_init_nop (arch/powerpc/kernel/trace/ftrace.c).
* ftrace_init_nop (OOL): the word at rec->ip must be a nop, else ftrace_bug disables ftrace for
  the rest of the records; then ftrace_init_ool_stub.
* ftrace_init_ool_stub, for a module record: take ``mod->arch.ool_stubs[ool_stub_index++]``
  (WARN_ON(index > ool_stub_count) -> -EINVAL), check that rec->ip and rec->ip + 4 are in branch
  range of insn[0] and insn[3], and write the template ``{ftrace_op = NULL; mflr r0; bl
  mod->arch.tramp; mtlr r0; b rec->ip + 4}`` with patch_instructions.
"""

from __future__ import annotations

from ppcreloc.arch.access import read_u32, read_u64, write_bytes
from ppcreloc.errno import EINVAL
from ppcreloc.loader.module import ModuleState
from ppcreloc.ppc64.insn import M64, NOP, fits_signed, signed
from ppcreloc.records import Config

#: the section GCC's -fpatchable-function-entry records traced functions in
PATCHABLE_SECTION = "__patchable_function_entries"
#: MCOUNT_INSN_SIZE
MCOUNT_INSN_SIZE = 4
MFLR_R0 = 0x7C0802A6
MTLR_R0 = 0x7C0803A6


def ftrace_ool_stub_size(config: Config) -> int:
    """sizeof(struct ftrace_ool_stub): 8 (ftrace_op, CALL_OPS only) + 4 * 4, 8-aligned."""
    return 24 if config.ftrace_call_ops else 16


def patchable_section(mod: ModuleState) -> int:
    """The first section named ``__patchable_function_entries`` (0 if none), as get_stubs_size's
    loop finds it (it breaks at the first match)."""
    for i, sec in enumerate(mod.obj.sections):
        if i and sec.name == PATCHABLE_SECTION:
            return i
    return 0


def ool_extent(mod: ModuleState) -> tuple[int, int]:
    """(address, size) of the module's ftrace_ool_stub[] array; (0, 0) when none was set up."""
    if not mod.arch.ool_stubs:
        return 0, 0
    return mod.arch.ool_stubs, mod.arch.ool_stub_count * ftrace_ool_stub_size(mod.config)


def branch(frm: int, to: int, link: bool) -> int | None:
    """create_branch: ``b``/``bl`` from ``frm`` to ``to``; None when out of the 26-bit range."""
    offset = signed((to - frm) & M64)
    if not fits_signed(offset, 26) or offset & 3:
        return None
    return 0x48000000 | (offset & 0x03FFFFFC) | int(link)


def ftrace_records(mod: ModuleState) -> list[int]:
    """ftrace_process_locs: the relocated addresses in ``__patchable_function_entries``, sorted,
    NULL entries skipped (ftrace_call_adjust is the identity with out-of-line stubs)."""
    idx = patchable_section(mod)
    if not idx:
        return []
    sec = mod.obj.sections[idx]
    if not sec.addr:
        return []
    ips = [read_u64(mod, sec.addr + 8 * k, f"{PATCHABLE_SECTION}[{k}]")
           for k in range(sec.sh_size // 8)]
    return sorted(ip for ip in ips if ip)


def ftrace_init_ool_stub(mod: ModuleState, ip: int) -> int:
    """ftrace_init_ool_stub (6.13, module record): fill the next ftrace_ool_stub; 0/-EINVAL."""
    size = ftrace_ool_stub_size(mod.config)
    index = mod.arch.ool_stub_index
    mod.arch.ool_stub_index += 1
    if mod.warn_on(mod.arch.ool_stub_index > mod.arch.ool_stub_count,
                   "ftrace_init_ool_stub: WARN_ON(*ool_stub_index > ool_stub_count)"):
        return -EINVAL
    stub = mod.arch.ool_stubs + index * size
    insn0 = stub + size - 16
    bl = branch(insn0 + MCOUNT_INSN_SIZE, mod.arch.tramp, True)
    b = branch(insn0 + 12, ip + MCOUNT_INSN_SIZE, False)
    if branch(ip, insn0, False) is None or b is None or bl is None:
        mod.pr("err", "%s: ftrace ool stub out of range (%p -> %p).\n", "ftrace_init_ool_stub",
               ip, insn0)
        return -EINVAL
    e = mod.byteorder
    words = [MFLR_R0, bl, MTLR_R0, b]
    data = (bytes(8) if size == 24 else b"") + b"".join(w.to_bytes(4, e) for w in words)
    write_bytes(mod, stub, data, "patch_instruction", f"ftrace_ool_stub[{index}]")
    return 0


def ftrace_init_nop(mod: ModuleState, ip: int) -> int:
    """ftrace_init_nop (OOL): the word at rec->ip must be a nop, then ftrace_init_ool_stub."""
    insn = read_u32(mod, ip, "ftrace location")
    if insn != NOP:
        mod.pr("err", "%pS: unexpected instruction %08x (expected nop)\n", ip, insn)
        return -EINVAL
    return ftrace_init_ool_stub(mod, ip)


def patch_ulong(mod: ModuleState, addr: int, value: int, what: str) -> int:
    """patch_ulong: an 8-byte patch_uint (recorded with the patch_u32 family); returns 0."""
    write_bytes(mod, addr, (value & M64).to_bytes(8, mod.byteorder), "patch_u32", what)
    return 0


__all__ = ["EINVAL", "PATCHABLE_SECTION", "branch", "ftrace_init_nop", "ftrace_init_ool_stub",
           "ftrace_ool_stub_size", "ftrace_records", "ool_extent", "patch_ulong",
           "patchable_section"]
