"""Real modules: Debian's ppc64el kernel package loads through the model (issue 2, item 9).

Needs the cache made by ``scripts/fetch-ppc64el-modules.sh`` (CI runs it first); skips, saying
so, when it is absent. The sample is nfsd.ko (about 19,000 relocations) plus 20 modules chosen by
the SHA-256 of their path, so every run and every machine loads the same ones.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest
from realmods import find_module, module_files

from ppcreloc.cli import load_object, load_world, main, module_name, resolve_engines
from ppcreloc.oracle import INVARIANTS, check
from ppcreloc.ppc64.reloctypes import type_name

pytestmark = pytest.mark.realmodules

ROOT = Path(__file__).resolve().parent.parent
FETCH = ROOT / "scripts" / "fetch-ppc64el-modules.sh"
CACHE = Path(os.environ.get("PPCRELOC_PPC64EL_CACHE", ROOT / "cache" / "ppc64el"))
SAMPLE_SIZE = 20
#: relocation types nfsd.ko uses (readelf -r), each of which must be applied
NFSD_TYPES = {"R_PPC64_REL24", "R_PPC64_ADDR64", "R_PPC64_TOC16_HA", "R_PPC64_TOC16_LO_DS",
              "R_PPC64_REL64", "R_PPC64_REL32", "R_PPC64_ENTRY"}


def cached_package() -> tuple[Path, Path] | None:
    """(module dir, System.map) from the fetch script's cache, or None when not cached."""
    if not FETCH.exists():
        return None
    proc = subprocess.run(["bash", str(FETCH), "--cached", str(CACHE)],
                          capture_output=True, text=True, check=False)
    lines = proc.stdout.split("\n")
    if proc.returncode != 0 or len(lines) < 2:
        return None
    return Path(lines[0]), Path(lines[1])


def all_modules(moddir: Path) -> list[str]:
    """Every module of the package (any suffix), relative to ``moddir``, sorted."""
    return [str(p.relative_to(moddir)) for p in module_files(moddir)]


def nfsd_path(moddir: Path | None) -> str:
    """nfsd's module, relative to ``moddir``, whatever its suffix (.ko on 6.1, .ko.xz on 6.12)."""
    found = find_module(moddir, "nfsd") if moddir is not None else None
    return str(found.relative_to(moddir)) if found is not None and moddir is not None else "nfsd.ko"


def sample(moddir: Path) -> list[str]:
    """nfsd.ko plus the SAMPLE_SIZE modules with the smallest SHA-256 of their relative path."""
    others = sorted(
        (m for m in all_modules(moddir) if m != NFSD),
        key=lambda m: hashlib.sha256(m.encode()).hexdigest(),
    )
    return [NFSD, *others[:SAMPLE_SIZE]]


PACKAGE = cached_package()
NFSD = nfsd_path(PACKAGE[0] if PACKAGE else None)
WHY = (
    f"Debian ppc64el kernel package not cached in {CACHE}: run "
    "scripts/fetch-ppc64el-modules.sh (needs apt-get and network access to deb.debian.org)"
)
SAMPLE = sample(PACKAGE[0]) if PACKAGE else []


@pytest.fixture(scope="module")
def package() -> tuple[Path, Path]:
    if PACKAGE is None:
        pytest.skip(WHY)
    return PACKAGE


@pytest.fixture(scope="module")
def world(package):
    return load_world(str(package[1]))


@pytest.fixture(scope="module")
def engine():
    return resolve_engines("v6.12")[0]


def assert_loads(verdict) -> None:
    """apply, in_bounds and abi_values hold; the four klp invariants hold vacuously (no target
    objects)."""
    for name in ("apply", "in_bounds", "abi_values"):
        res = verdict.invariants[name]
        assert res.holds, "\n".join(v.describe() for v in res.violations[:5])
    for name in set(INVARIANTS) - {"apply", "in_bounds", "abi_values"}:
        assert verdict.invariants[name].holds
        assert "vacuously" in verdict.invariants[name].message


def test_sample_is_deterministic(package):
    assert len(SAMPLE) == SAMPLE_SIZE + 1 and SAMPLE[0] == NFSD
    assert sample(package[0]) == SAMPLE
    assert len(all_modules(package[0])) > 3000


def applied_types(verdict) -> set[str]:
    """Names of the relocation types the load step wrote for."""
    return {type_name(w.reloc.type) for w in verdict.run.steps[0].writes if w.reloc is not None}


@pytest.mark.parametrize("module", SAMPLE or [pytest.param(None, marks=pytest.mark.skip(WHY))])
def test_real_module_loads(package, world, engine, module):
    """v6.12 (the default engine) loads each sampled module; nfsd.ko applies every type it has."""
    path = package[0] / module
    obj = load_object(str(path))
    verdict = check(obj, engine, world, cycles=0, modname=module_name(str(path)))
    assert verdict.targets == []
    assert_loads(verdict)
    nrelocs = sum(len(r) for r in obj.relocs.values())
    if nrelocs:
        assert verdict.run.steps[0].writes, f"{module}: {nrelocs} relocations, nothing written"
    if module == NFSD:
        assert nrelocs > 15_000
        assert NFSD_TYPES <= applied_types(verdict)


def test_nfsd_loads_on_v61(package, world):
    """The other real kernel's profile (6.1: no restore_r2 re-patch fix) loads nfsd.ko too."""
    verdict = check(load_object(str(package[0] / NFSD)), resolve_engines("v6.1")[0], world,
                    cycles=0, modname="nfsd")
    assert_loads(verdict)
    assert NFSD_TYPES <= applied_types(verdict)


def test_cli_check_with_system_map(package, capsys):
    """``ppcreloc check MODULE.ko --kallsyms System.map`` exits 0 (nfsd is in the sample above)."""
    module = package[0] / SAMPLE[1]
    code = main(["check", str(module), "--kallsyms", str(package[1]), "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert '"holds": false' not in out


def test_fetch_script_cached_miss(tmp_path):
    """--cached never downloads: an empty cache is exit 3 with a one-line hint."""
    proc = subprocess.run(["bash", str(FETCH), "--cached", str(tmp_path / "none")],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 3 and proc.stdout == ""
    assert proc.stderr.strip().endswith("(run without --cached)")
    assert len(proc.stderr.strip().splitlines()) == 1


# -- differential: the 6.1 model against 6.1's module_64.c compiled from Debian's tree, on the cached package
KERNEL_61 = Path("/usr/src/linux-source-6.1.tar.xz")


def kernel_engine_or_skip():
    import shutil

    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed (the kernel engine compiles module_64.c)")
    if not KERNEL_61.exists():
        pytest.skip(f"{KERNEL_61} missing (apt-get install linux-source-6.1)")
    return resolve_engines(f"kernel:{KERNEL_61}")[0]


def same_memory_as_kernel(package, world, module: str) -> None:
    """Model v6.1 and the real 6.1 module_64.c leave identical module memory after the load."""
    from ppcreloc.engine import Layout, Scenario, Step
    from reference.kernel.engine import user_layout

    kernel = kernel_engine_or_skip()
    obj = load_object(str(package[0] / module))
    layout = user_layout(Layout())  # the kernel engine runs at user addresses; so does the model
    runs = [
        eng.run(Scenario(obj.clone(), world, [Step("load")], layout=layout,
                         modname=module_name(module)))
        for eng in (resolve_engines("v6.1")[0], kernel)
    ]
    model, real = (r.steps[0] for r in runs)
    assert (model.rc, real.rc) == (0, 0), [m.render() for m in model.messages + real.messages]
    assert model.memory.keys() == real.memory.keys()
    differ = [obj.sections[i].name for i in model.memory if model.memory[i] != real.memory[i]]
    assert differ == [], f"{module}: sections differ from the kernel's: {differ}"


@pytest.mark.reference
@pytest.mark.parametrize("module", SAMPLE[1:4] or [pytest.param(None, marks=pytest.mark.skip(WHY))])
def test_kernel_61_agrees_on_real_modules(package, world, module):
    same_memory_as_kernel(package, world, module)


@pytest.mark.reference
@pytest.mark.slow
def test_kernel_61_agrees_on_nfsd(package, world):
    same_memory_as_kernel(package, world, NFSD)
