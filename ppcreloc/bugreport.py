"""`ppcreloc report FIXTURE.o`: a plain-text bug report for the linuxppc-dev list.

The fixture's sidecar is read and its case rerun (:mod:`ppcreloc.replay`'s inputs) on the engine
it names, or ``--engine``; the report is built from that fresh run, not from the record, so it
says what the engine does today. Sections: the kernel (engine, version, the configuration the
case ran with), the livepatch module as assembly (sections, symbols, each relocated word with its
relocation), the sequence of loads and unloads, what the kernel does (messages, WARNs,
out-of-bounds accesses and stub writes past `.stubs` with their addresses and bytes), what it
should do (the violated invariant in words) and the commands that reproduce it on a kernel tree.

The text is ours: kernel messages appear as the engine emits them, never kernel source.
Exit codes: 1 the recorded invariant is violated on the engine (a report of a defect), 0 it
holds (the report says so), 2 a bad fixture or usage.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING

from ppcreloc.abi import local_entry_offset
from ppcreloc.bits import M64
from ppcreloc.elf.model import (
    SHF_ALLOC,
    SHF_EXECINSTR,
    SHF_RELA_LIVEPATCH,
    SHF_WRITE,
    SHN_LIVEPATCH,
    SHN_UNDEF,
    SHT_NOBITS,
    SHT_RELA,
    STB_GLOBAL,
    STB_WEAK,
    STT_FUNC,
    STT_OBJECT,
    STT_SECTION,
    ElfObject,
    Rela,
    Symbol,
)
from ppcreloc.engines import KERNEL_PREFIX
from ppcreloc.errors import UsageError
from ppcreloc.explain import Disassembler, Explanation, Subject, explain_subject
from ppcreloc.fixtures import FixtureError, load_fixture
from ppcreloc.loader.world import FTRACE_NAMES, VMLINUX, WorldError
from ppcreloc.oracle import Verdict, check, describe_step
from ppcreloc.ppc64.reloctypes import RELOC_TYPES, type_name
from ppcreloc.profiles import EXTRA_PROFILES, PROFILES
from ppcreloc.records import Config, Engine, Step
from ppcreloc.replay import MODNAME, Replay, fixture_paths, replay_inputs, resolve_engine

if TYPE_CHECKING:
    from ppcreloc.loader.world import SymbolWorld

#: the kernel configuration symbol for each Config field (value -> text); fields not listed here
#: (a later profile's knob) are printed as ``field=value``
CONFIG_SYMBOLS: dict[str, tuple[str, dict[object, str]]] = {
    "abi": ("CONFIG_PPC64_ELF_ABI_V2", {"elfv2": "y", "elfv1": "n (ELFv1, big endian)"}),
    "pcrel": ("CONFIG_PPC_KERNEL_PCREL", {True: "y", False: "n"}),
    "mprofile_kernel": ("CONFIG_MPROFILE_KERNEL", {True: "y", False: "n"}),
    "dynamic_ftrace": ("CONFIG_DYNAMIC_FTRACE", {True: "y", False: "n"}),
    "dynamic_ftrace_with_regs": ("CONFIG_DYNAMIC_FTRACE_WITH_REGS", {True: "y", False: "n"}),
    "strict_module_rwx": ("CONFIG_STRICT_MODULE_RWX", {True: "y", False: "n"}),
    "ftrace_out_of_line": ("CONFIG_PPC_FTRACE_OUT_OF_LINE", {True: "y", False: "n"}),
    "ftrace_call_ops": ("CONFIG_DYNAMIC_FTRACE_WITH_CALL_OPS", {True: "y", False: "n"}),
    "paca_kernel_toc_offset": ("paca->kernel_toc at offset", {}),
}

#: per invariant: the report's subject line and what the kernel should do, in words
EXPECTED: dict[str, tuple[str, str]] = {
    "apply": (
        "applying a livepatch module's relocations fails",
        "Loading the livepatch module and applying its relocations for each target object "
        "should succeed when every symbol it names exists (a refusal by design, such as an "
        "unknown symbol position, is not a kernel bug: see the messages above)."),
    "apply_clear_apply": (
        "re-applying klp relocations after the target module reloads fails",
        "When the target module is unloaded (klp_module_going, clear_relocate_add) and loaded "
        "again at the same address, applying the same relocations again should succeed, as "
        "the first apply did."),
    "clear_restores": (
        "clearing klp relocations leaves applied bytes behind",
        "After the target module goes away, clear_relocate_add should put back the bytes the "
        "object had before the apply, so that the next apply starts from the original words."),
    "reapply_identical": (
        "a second apply writes different bytes than the first",
        "Applying the relocations again for a target at the same address should leave "
        "exactly the bytes the first apply left."),
    "in_bounds": (
        "relocation code reads or writes outside the module",
        "Every read and write of the relocation code (apply_relocate_add, restore_r2, "
        "stub_for_addr, create_stub) should stay inside the module's sections, with `.stubs` "
        "as module_frob_arch_sections sized it; a relocation that does not fit should be "
        "refused with an error instead."),
    "reload_cycles": (
        "reloading the target module at fresh addresses breaks the livepatch",
        "The target module can be unloaded and loaded again any number of times, at a new "
        "address each time; every reload should succeed with every access inside the module "
        "(for a call, a stub for the new target), or fail cleanly without writing past "
        "`.stubs`."),
    "abi_values": (
        "a relocated field does not hold the value the ABI gives",
        "Every field a successful apply writes should hold the value of the 64-bit ELF V2 ABI "
        "for the resolved symbol, addend, place and TOC pointer, as a linker computes it "
        "(the kernel's deliberate differences, such as stubs and my_r2, aside)."),
}

#: bytes of one `.stubs` entry (struct ppc64_stub_entry) per ABI, as the model sizes them
STUB_BYTES = {"elfv2": 40, "elfv1": 56}
#: violations listed per report before "... and N more"
MAX_VIOLATIONS = 8
#: how a Debian tree of a kernel release is named (the tarball linux-source-X.Y installs)
DEBIAN_TREE = "/usr/src/linux-source-{release}.tar.xz"


#: knobs of kernels from 6.13 on (CONFIG_PPC_FTRACE_OUT_OF_LINE and what it selects)
OOL_KNOBS = frozenset({"ftrace_out_of_line", "ftrace_call_ops"})


def has_ool_ftrace(eng: object) -> bool:
    """Whether ``eng``'s kernel has CONFIG_PPC_FTRACE_OUT_OF_LINE at all (6.13+): a profile that
    models it (``builds_patchable_entries``), or a kernel tree of version 6.13 or later."""
    if callable(getattr(getattr(eng, "profile", None), "builds_patchable_entries", None)):
        return True
    version = getattr(eng, "version", None)
    if isinstance(version, str):
        major, _, rest = version.partition(".")
        minor = rest.partition(".")[0]
        return major.isdigit() and minor.isdigit() and (int(major), int(minor)) >= (6, 13)
    return False


def config_lines(config: Config, ool: bool = True) -> list[str]:
    """``CONFIG_X=y`` per knob of ``config`` (names from :data:`CONFIG_SYMBOLS`); the 6.13+
    out-of-line ftrace knobs only when ``ool`` (the kernel has the option)."""
    out = []
    for f in fields(config):
        if not ool and f.name in OOL_KNOBS:
            continue
        value = getattr(config, f.name)
        symbol, values = CONFIG_SYMBOLS.get(f.name, (f.name, {}))
        text = values.get(value, str(value))
        out.append(f"{symbol} {text}" if symbol.endswith("offset") else f"{symbol}={text}")
    return out


def profile_release(name: str) -> tuple[str, bool] | None:
    """The kernel release (``6.12``) whose tree the profile ``name`` models, and whether it is
    that release's own model (a ``vX.Y`` profile) rather than a change on top of an ancestor
    profile's release (``klp-clear-v7`` on ``v6.1``); None when neither names a release."""
    cls = PROFILES.get(name) or EXTRA_PROFILES.get(name)
    for n, klass in enumerate(cls.__mro__ if cls is not None else ()):
        m = _RELEASE.match(str(getattr(klass, "name", "")))
        if m is not None:
            return m.group(1), n == 0
    return None


_RELEASE = re.compile(r"^v(\d+\.\d+)$")


def kernel_lines(engine_name: str, engine: Engine) -> list[str]:
    """What kernel the engine is: a profile's summary and docstring head, or a tree's version."""
    cls = PROFILES.get(engine_name) or EXTRA_PROFILES.get(engine_name)
    if cls is not None:
        head = " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())
        lines = [f"engine:  {engine_name} (ppcreloc's model of module_64.c: {cls.summary})"]
        if head:
            lines += _para(f"kernel:  {head}", indent="         ")
        if getattr(cls, "patch_text_only", False):
            lines += _para("note:    this profile is modelled from the patch and mail text only; "
                           "confirm on a compiled tree (--engine kernel:TREE) before sending",
                           indent="         ")
        return lines
    version = getattr(engine, "version", None)
    lines = [f"engine:  {engine_name}"]
    if isinstance(version, str):
        lines.append(f"kernel:  {version} (the tree's own module_64.c, compiled for the host)")
    return lines


# -- the object as assembly ----------------------------------------------------------------------
def _flags_text(flags: int) -> str:
    return "".join(c for bit, c in ((SHF_ALLOC, "a"), (SHF_WRITE, "w"), (SHF_EXECINSTR, "x"))
                   if flags & bit)


def _symref(obj: ElfObject, r: Rela) -> str:
    """``sym+0x8`` (a section symbol by its section's name)."""
    sym = obj.symbols[r.sym] if r.sym < len(obj.symbols) else None
    name = "#" + str(r.sym) if sym is None else sym.name
    if sym is not None and sym.type == STT_SECTION and sym.shndx < len(obj.sections):
        name = obj.sections[sym.shndx].name
    return name + (f"{r.addend:+#x}" if r.addend else "")


def _relocs_of(obj: ElfObject, secidx: int) -> dict[int, list[tuple[str, Rela]]]:
    """Offset (word-aligned) -> (RELA section name, relocation) applied to section ``secidx``."""
    out: dict[int, list[tuple[str, Rela]]] = {}
    for relsec in obj.rela_sections():
        if obj.sections[relsec].info != secidx:
            continue
        for r in obj.relocs.get(relsec, []):
            out.setdefault(r.offset & ~3, []).append((obj.sections[relsec].name, r))
    return out


def _rela_section_note(obj: ElfObject, relsec: int) -> str:
    sec = obj.sections[relsec]
    target = obj.sections[sec.info].name if 0 < sec.info < len(obj.sections) else "?"
    if sec.flags & SHF_RELA_LIVEPATCH:
        objname = sec.name.split(".")[3] if sec.name.count(".") >= 4 else "?"
        when = "at load" if objname == "vmlinux" else f"when {objname} loads"
        return f"# {sec.name}: SHF_RELA_LIVEPATCH, applied to {target} {when}"
    return f"# {sec.name}: applied to {target} at load"


def assembly(obj: ElfObject, stubs_size: int, stub_bytes: int = 40) -> list[str]:
    """The object in GNU as syntax: sections with their words disassembled, symbol labels, and
    under each relocated word its relocation (``bl foo`` then ``# R_PPC64_REL24 foo``)."""
    dis = Disassembler(obj.big_endian)
    lines: list[str] = []
    for sym in obj.symbols[1:]:
        if sym.shndx in (SHN_UNDEF, SHN_LIVEPATCH) and sym.name:
            kind = "SHN_LIVEPATCH" if sym.shndx == SHN_LIVEPATCH else "undefined"
            lines.append(f"\t.globl {sym.name}\t\t# {kind}")
    for relsec in obj.rela_sections():
        lines.append(_rela_section_note(obj, relsec))
    for idx, sec in enumerate(obj.sections):
        if idx == 0 or sec.type == SHT_RELA or not sec.flags & SHF_ALLOC:
            continue
        nobits = sec.type == SHT_NOBITS
        lines.append(f'\t.section {sec.name},"{_flags_text(sec.flags)}",'
                     f'@{"nobits" if nobits else "progbits"}')
        if nobits:
            size = stubs_size if sec.name == ".stubs" and stubs_size else sec.sh_size
            note = (f"  # {size} bytes ({size // stub_bytes} stubs of {stub_bytes}) as "
                    "module_frob_arch_sections sizes it" if sec.name == ".stubs" and stubs_size
                    else "")
            lines.append(f"\t.space {sec.sh_size}{note}")
            continue
        lines += _section_words(obj, idx, dis)
    return lines


def _section_words(obj: ElfObject, idx: int, dis: Disassembler) -> list[str]:
    sec = obj.sections[idx]
    labels: dict[int, list[str]] = {}
    for sym in obj.symbols[1:]:
        if sym.shndx == idx and sym.type != STT_SECTION and sym.name:
            labels.setdefault(sym.value, []).extend(_label(sym))
    relocs = _relocs_of(obj, idx)
    code = bool(sec.flags & SHF_EXECINSTR)
    out: list[str] = []
    off = 0
    while off < len(sec.data):
        out += labels.get(off, [])
        zeros = _zero_run(sec.data, off, relocs, labels)
        if zeros:
            out.append(f"\t{'.zero ' + str(zeros):<40}# {off:#06x}")
            off += zeros
            continue
        here = relocs.get(off, [])
        wide = any(RELOC_TYPES.get(r.type) and RELOC_TYPES[r.type].size == 8
                   for _, r in here) and off % 8 == 0 and off + 8 <= len(sec.data)
        width = 8 if wide else 4
        chunk = sec.data[off:off + width]
        word = int.from_bytes(chunk, dis.order)
        if wide:
            text = f".quad {word:#x}"
        elif code and len(chunk) == 4:
            text = _insn_text(dis.word(off, chunk), here, obj)
        else:
            text = f".long {word:#0{2 + 2 * len(chunk)}x}" if len(chunk) == 4 else \
                ".byte " + ", ".join(f"{b:#04x}" for b in chunk)
        out.append(f"\t{text:<40}# {off:#06x}: {chunk.hex()}")
        for relname, r in here:
            out.append(f"\t{'':<40}#   {type_name(r.type)} {_symref(obj, r)}"
                       f"  (offset {r.offset:#x}, {relname})")
        off += width
    return out


def _label(sym: Symbol) -> list[str]:
    """A defined symbol as gas writes it: binding, type, size and ELFv2 local entry, label."""
    bind = {STB_GLOBAL: ".globl", STB_WEAK: ".weak"}.get(sym.bind)
    kind = {STT_FUNC: "@function", STT_OBJECT: "@object"}.get(sym.type)
    local_entry = local_entry_offset(sym.other)
    return [*([f"\t{bind} {sym.name}"] if bind else []),
            *([f"\t.type {sym.name}, {kind}"] if kind else []),
            *([f"\t.size {sym.name}, {sym.size}"] if sym.size else []),
            *([f"\t.localentry {sym.name}, {local_entry}"] if local_entry else []),
            f"{sym.name}:"]


def _zero_run(data: bytes, off: int, relocs: dict[int, list[tuple[str, Rela]]],
              labels: dict[int, list[str]]) -> int:
    """How many zero bytes (whole words, no relocation, no label inside) start at ``off``, when
    there are at least two words of them (else 0)."""
    end = off
    while end + 4 <= len(data) and data[end:end + 4] == bytes(4) and end not in relocs \
            and (end == off or end not in labels):
        end += 4
    return end - off if end - off >= 8 else 0


def _insn_text(text: str, here: list[tuple[str, Rela]], obj: ElfObject) -> str:
    """A branch with a REL24 names its symbol (``bl foo``) instead of capstone's address."""
    rel24 = next((r for _, r in here if r.type == 10 and r.offset % 4 == 0), None)
    mnemonic = text.split(" ", 1)[0]
    if rel24 is not None and mnemonic in ("b", "bl", "ba", "bla"):
        return f"{mnemonic} {_symref(obj, rel24)}"
    return text


# -- the run -------------------------------------------------------------------------------------
def sequence(rp: Subject) -> list[str]:
    """One line per step of the cycle script: what it does, where the target went, its rc."""
    run = rp.verdict.run
    lines = []
    for i, step in enumerate(rp.verdict.script):
        sr = run.steps[i] if run is not None and i < len(run.steps) else None
        what = {"load": f"insmod {MODNAME}.ko (livepatch module)",
                "coming": f"{step.objname} loads (klp_module_coming applies its relocations)",
                "going": f"{step.objname} unloads (klp_module_going clears them)"}[step.kind]
        result = "not run (an earlier step faulted)" if sr is None else \
            (f"fault: {sr.fault}" if sr.fault else f"rc {sr.rc}")
        lines.append(f"{i:3}  {describe_step(step):<22} {what}: {result}")
    return lines


def _module_bases(script: Sequence[Step], world: object) -> list[str]:
    """Where each target object is loaded, per generation the script uses."""
    out: list[str] = []
    base = getattr(world, "module_base", None)
    if base is None:
        return out
    seen: set[tuple[str, int]] = set()
    for step in script:
        if step.kind == "coming" and step.objname and (step.objname, step.generation) not in seen:
            seen.add((step.objname, step.generation))
            out.append(f"{step.objname} gen {step.generation} at "
                       f"{base(step.objname, step.generation):#x}")
    return out


def kernel_does(ex: Explanation, invariant: str, stub_bytes: int = 40,
                names: dict[int, str] | None = None) -> list[str]:
    """Messages and WARNs per step, the recorded invariant's violations, stubs past the end."""
    rp = ex.replay
    verdict: Verdict = rp.verdict
    lines: list[str] = [] if ex.messages else ["No kernel messages and no WARN in any step."]
    for step, rc, msgs, warns in ex.messages:
        lines.append(f"{step}: rc {rc}" + (f", {warns} WARN(s)" if warns else ""))
        lines += [f"    {m}" for m in msgs]
    result = verdict.invariants[invariant]
    if result.violations:
        lines.append("")
        lines.append(f"{invariant} is violated {len(result.violations)} time(s):")
        shown: set[str] = set()
        for v in result.violations[:MAX_VIOLATIONS]:
            head, *rest = v.describe(verdict.byteorder).splitlines()
            lines.append(f"  - {head}")
            for line in (x.strip() for x in rest):
                if line.startswith("kernel:") or (line.startswith("relocation:")
                                                  and line in shown):
                    continue  # messages are listed above; the relocation once
                shown.add(line)
                lines.append(f"    {line}")
        if len(result.violations) > MAX_VIOLATIONS:
            lines.append(f"  ... and {len(result.violations) - MAX_VIOLATIONS} more")
    lines += _reloc_words(ex, invariant)
    lines += stub_slots(rp, stub_bytes, names)
    past = [s for s in ex.stubs if s.past_end]
    run = verdict.run
    if past and run is not None:
        lo, size = run.stubs
        lines.append("")
        lines.append(f"Stub bytes written past the end of .stubs ({lo:#x} .. {lo + size:#x}, "
                     f"{size} bytes):")
        for stub in past:
            lines.append(f"  {stub.step}: {stub.addr:#x}, {len(stub.words) * 4} bytes "
                         f"({', '.join(stub.what)})")
            lines += [f"    {w.addr:#x}  {w.data.hex()}  {w.text}" for w in stub.words]
    others = [n for n, r in verdict.invariants.items() if not r.holds and n != invariant]
    if others:
        lines.append("")
        lines.append(f"Also violated in this run: {', '.join(others)}.")
    return lines


_KLP_SYM = re.compile(r"^\.klp\.sym\.([^.]+)\.(.+),\d+$")


def target_names(obj: ElfObject, world: SymbolWorld, script: Sequence[Step]) -> dict[int, str]:
    """Addresses a stub may lead to, named: the ftrace entry points, and S+A of every REL24 to
    an undefined or livepatch symbol (a module symbol at each generation the script loads)."""
    out: dict[int, str] = {}
    for name in FTRACE_NAMES:
        addr = world.vmlinux_symbol(name)
        if addr is not None:
            out.setdefault(addr, name)
    gens = sorted({s.generation for s in script if s.kind == "coming"}) or [0]
    for relsec in obj.rela_sections():
        for r in obj.relocs.get(relsec, []):
            sym = obj.symbols[r.sym] if r.sym < len(obj.symbols) else None
            if r.type != 10 or sym is None or sym.shndx not in (SHN_UNDEF, SHN_LIVEPATCH):
                continue
            plus = f"{r.addend:+#x}" if r.addend else ""
            m = _KLP_SYM.match(sym.name)
            if m is None:
                addr = world.resolve_export(sym.name.lstrip("."))
                if addr is not None:
                    out.setdefault((addr + r.addend) & M64, sym.name.lstrip(".") + plus)
                continue
            objname, name = m.groups()
            for g in gens if objname != VMLINUX else [0]:
                try:
                    hits = world.lookup(objname, name, g)
                except WorldError:
                    continue
                label = f"{objname}:{name}{plus}" + (f" (gen {g})" if objname != VMLINUX else "")
                for addr in hits:
                    out.setdefault((addr + r.addend) & M64, label)
    return out


def stub_slots(rp: Subject, stub_bytes: int, names: dict[int, str] | None = None) -> list[str]:
    """Each `.stubs` entry the run filled (its funcdata written: create_stub and
    create_ftrace_stub), in order, with its slot, target and whether it lies past the end
    module_frob_arch_sections computed. Empty when the engine does not label its writes."""
    run = rp.verdict.run
    if run is None or not run.stubs[1]:
        return []
    lo, size = run.stubs
    filled: dict[int, tuple[int, str, dict[int, int]]] = {}  # slot -> step, what, bytes
    for i, sr in enumerate(run.steps):
        for w in sr.writes:
            if w.what.endswith("funcdata") and w.addr >= lo:
                slot = (w.addr - lo) // stub_bytes
                entry = filled.setdefault(slot, (i, w.what, {}))
                entry[2].update({w.addr + k: b for k, b in enumerate(w.new)})
    if not filled:
        return []
    order = rp.verdict.byteorder
    lines = ["", f".stubs: {size} bytes at {lo:#x}, room for {size // stub_bytes} entries of "
             f"{stub_bytes} bytes; the run filled {len(filled)}:"]
    for slot, (i, what, data) in sorted(filled.items(), key=lambda kv: (kv[1][0], kv[0])):
        start = min(data)
        target = int.from_bytes(bytes(data.get(start + k, 0) for k in range(8)), order)
        past = "  past the end of .stubs" if lo + (slot + 1) * stub_bytes > lo + size else ""
        kind = "ftrace stub" if what.startswith("ftrace") else "stub"
        name = (names or {}).get(target)
        lines.append(f"  {describe_step(rp.verdict.script[i])}: slot {slot} at "
                     f"{lo + slot * stub_bytes:#x}, {kind} to {target:#x}"
                     + (f" ({name})" if name else "") + past)
    return lines


def _reloc_words(ex: Explanation, invariant: str) -> list[str]:
    """The words at the relocations the invariant's violations name, at each stage reached."""
    named = {(v.section, v.type_name, v.symbol or "")
             for v in ex.replay.verdict.invariants[invariant].violations}
    out: list[str] = []
    for view in ex.relocs:
        if (view.section, view.type_name, view.symbol) not in named:
            continue
        out += ["", f"Words at {view.section}[{view.index}] ({view.type_name} {view.symbol}"
                f"{view.addend:+#x}, offset {view.offset:#x}), disassembled:"]
        for stage, words in view.stages.items():
            out += [f"  {stage:<19} {w.addr:#x}  {w.data.hex()}  {w.text}"
                    for w in words or []]
    return out


def reproduce(path: Path, engine_name: str, cycles: int) -> list[str]:
    """The commands that rerun the case, on the tree the engine's kernel release names."""
    if engine_name.startswith(KERNEL_PREFIX):
        tree = engine_name[len(KERNEL_PREFIX):]
        note = []
    else:
        found = profile_release(engine_name)
        release = found[0] if found else None
        tree = DEBIAN_TREE.format(release=release) if release else "TREE"
        note = [f"(any {release} source tree or tarball; Debian's linux-source-{release}, "
                f"where there is one, installs {tree})" if release else
                "(TREE: a source tree or tarball of the kernel this profile models)"]
        if found is not None and not found[1]:
            note.append(f"({engine_name} models a change on top of {release}: on the unpatched "
                        "tree these commands show what the released kernel does)")
    return [
        f"ppcreloc replay {path} --engine kernel:{tree}",
        f"ppcreloc explain {path} --engine kernel:{tree}",
        f"ppcreloc check {path} --engine kernel:{tree} --cycles {cycles}",
        *note,
        "replay and explain rerun the case as the sidecar records it (symbol world, layout,",
        "config, cycles); check runs the object afresh on ppcreloc's synthetic symbol world.",
        "The kernel engine compiles the tree's arch/powerpc/kernel/module_64.c for the host",
        "and runs it on the same object (see ppcreloc's README, \"The kernel's own code\").",
    ]


# -- the report ----------------------------------------------------------------------------------
def rerun(path: Path, engine: str | None = None) -> tuple[Replay, Engine]:
    """Rerun the fixture's case on its recorded engine or ``engine`` (FixtureError if bad), as
    :func:`ppcreloc.replay.replay` does, keeping the engine (a kernel tree reports its version)."""
    path = fixture_paths(path)
    if path.suffix != ".o":
        raise FixtureError(f"{path}: not a fixture (expected FIXTURE.o with its .json sidecar)")
    elf, record = load_fixture(path)
    if record.invariant == "diff":
        raise UsageError(f"{path}: a diff fixture compares two engines; show it with "
                         "`ppcreloc explain`")
    if record.invariant not in EXPECTED:
        raise FixtureError(f"{path}: unknown invariant {record.invariant!r}")
    inputs = replay_inputs(elf, record, str(path))
    name = engine or record.engine
    eng = resolve_engine(name)
    ran = inputs.obj.clone()
    verdict = check(ran, eng, inputs.world, cycles=inputs.cycles, layout=inputs.layout,
                    config=inputs.config, modname=MODNAME)
    return Replay(path, record, name, verdict, inputs, ran), eng


def report_lines(path: Path, engine: str | None = None) -> tuple[list[str], bool]:
    """The report's lines, and whether the recorded invariant is violated in the fresh run."""
    rp, eng = rerun(Path(path), engine)
    rec = rp.record
    ex = explain_subject(Subject.from_replay(rp))
    verdict = rp.verdict
    result = verdict.invariants[rec.invariant]
    title, should = EXPECTED[rec.invariant]
    elf = rp.path.read_bytes()
    run = verdict.run
    stubs_size = run.stubs[1] if run is not None else 0
    version = getattr(eng, "version", None)  # a kernel tree's VERSION.PATCHLEVEL.SUBLEVEL
    found = profile_release(rp.engine)
    where = (found[0] if found[1] else f"{found[0]} + {rp.engine}") if found else \
        (version if isinstance(version, str) else rp.engine)
    lines = [f"Subject: [BUG] powerpc/module_64 ({where}): {title}", ""]
    origin = (f"found this in a campaign (seed {rec.seed}); the case below is the minimal "
              "object Hypothesis shrank it to" if rec.seed is not None else
              "checked the minimal object below, written for this case (no campaign seed "
              "recorded)")
    lines += _para(
        f"ppcreloc (a differential tester for arch/powerpc/kernel/module_64.c and the livepatch "
        f"driver) {origin}. Invariant: {rec.invariant}. "
        + (f"First violation: {result.message}." if not result.holds else
           f"On {rp.engine} the invariant holds: the case no longer reproduces (recorded on "
           f"{rec.engine} as {'holding' if rec.holds else 'violated'})."))
    lines += _section("Kernel", [*kernel_lines(rp.engine, eng), *_para(
        "config:  " + ", ".join(config_lines(rp.inputs.config, has_ool_ftrace(eng))), indent="         ")])
    lines += _section("The module (the fixture, as assembly)", [
        f"file: {rp.path} ({len(elf)} bytes, sha256 {hashlib.sha256(elf).hexdigest()[:16]}), "
        f"sidecar {rp.path.with_suffix('.json').name}",
        f"recorded on {rec.engine}, "
        + (f"campaign seed {rec.seed}" if rec.seed is not None else "no campaign seed")
        + f", hypothesis {rec.hypothesis_version}, "
        f"{'minimal' if rec.minimal else 'not shrunk'}",
        "", *assembly(rp.inputs.obj, stubs_size, STUB_BYTES[rp.inputs.config.abi])])
    placed = [f"{p.name} at {p.addr:#x} ({p.size} bytes)" for p in (run.placements if run else [])]
    lines += _section("Loads and unloads", [
        f"module sections: {'; '.join(placed)}" if placed else "module not placed",
        *["target module bases: " + "; ".join(bases) for bases in
          [_module_bases(verdict.script, rp.inputs.world)] if bases],
        "", *sequence(Subject.from_replay(rp))])
    names = target_names(rp.inputs.obj, rp.inputs.world, verdict.script)
    lines += _section("What the kernel does", kernel_does(
        ex, rec.invariant, STUB_BYTES[rp.inputs.config.abi], names))
    lines += _section("What it should do", _para(should))
    lines += _section("How to reproduce", reproduce(rp.path, rp.engine, rec.cycles))
    lines.append("-- ")
    lines.append("Generated by `ppcreloc report` from the fixture above; the text is ppcreloc's "
                 "own, the kernel messages are as the engine emitted them.")
    return lines, not result.holds


def _section(title: str, body: list[str]) -> list[str]:
    return ["", title, "-" * len(title), *body]


def _para(text: str, width: int = 76, indent: str = "") -> list[str]:
    """``text`` wrapped at ``width`` columns (``indent`` before every line but the first)."""
    return textwrap.wrap(text, width, subsequent_indent=indent, break_on_hyphens=False) or [""]


def iter_text(lines: list[str]) -> Iterator[str]:
    """Lines with trailing blanks removed, tabs kept (the assembly uses them)."""
    for line in lines:
        yield line.rstrip()


def render(path: Path, engine: str | None = None) -> tuple[str, bool]:
    """The report text and whether the recorded invariant is violated now."""
    lines, violated = report_lines(path, engine)
    return "\n".join(iter_text(lines)) + "\n", violated


# -- command line ---------------------------------------------------------------------------------
def cmd_report(args: argparse.Namespace) -> int:
    """Print (or write to -o FILE) the report; exit 1 when it reports a violation, else 0."""
    text, violated = render(Path(args.fixture), args.engine)
    if args.output:
        try:
            Path(args.output).write_text(text)
        except OSError as exc:
            raise UsageError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    else:
        print(text, end="")
    return 1 if violated else 0


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """``ppcreloc report FIXTURE.o [--engine NAME] [-o FILE]``."""
    p = subparsers.add_parser(
        "report",
        help="write a plain-text bug report for a fixture (for linuxppc-dev)",
        description="Rerun FIXTURE.o's recorded case (its .json sidecar) on the recorded "
        "engine or --engine and print a plain-text bug report: kernel and config, the object "
        "as assembly, the loads and unloads, what the kernel does, what it should do, and the "
        "commands that reproduce it on a kernel tree. Exit 1 when the recorded invariant is "
        "violated, 0 when it holds, 2 for a bad fixture.",
    )
    p.add_argument("fixture", metavar="FIXTURE.o", help="fixture object (its .json beside it)")
    p.add_argument("--engine", metavar="NAME",
                   help="engine profile (see `ppcreloc profiles`) or kernel:PATH to rerun on "
                   "(default: the recorded engine)")
    p.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE")
    p.set_defaults(func=cmd_report)
