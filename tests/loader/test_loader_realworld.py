"""Real Debian ppc64el modules against the symbol world of the real Debian vmlinux, per series.

The world comes from ``powerpc64le-linux-gnu-nm`` over each image's vmlinux in the cache that
scripts/fetch-ppc64el-modules.sh fills (Debian's own System.map is a placeholder line); see
tests/helpers/realmodules.py.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
from realmodules import SERIES_PARAMS, missing, package

from ppcreloc.cli import load_object
from ppcreloc.elf.model import SHN_UNDEF
from ppcreloc.engines import get_engine
from ppcreloc.loader.loader import load_module
from ppcreloc.loader.world import SymbolWorld
from ppcreloc.profiles import get_profile
from ppcreloc.records import Config, Layout, Scenario, Step

NM = "powerpc64le-linux-gnu-nm"

pytestmark = pytest.mark.realmodules


@pytest.fixture(scope="module", params=SERIES_PARAMS)
def series(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def vmlinux_world(series, tmp_path_factory) -> SymbolWorld:
    image = package(series).vmlinux
    if image is None:
        missing(f"no boot/vmlinux-* in the cached {series} image")
    if shutil.which(NM) is None:
        missing(f"{NM} not installed (apt-get install binutils-powerpc64le-linux-gnu)")
    out = tmp_path_factory.mktemp("world") / "System.map"
    with out.open("w") as f:
        subprocess.run([NM, "-n", "--defined-only", str(image)], stdout=f, check=True)
    return SymbolWorld.from_kallsyms(out)


def test_debian_system_map_placeholder_is_a_clear_error(series):
    maps = sorted(package(series).root.glob("boot/System.map-*"))
    if not maps:
        missing(f"no boot/System.map-* in the cached {series} image")
    with pytest.raises(Exception, match=r"System\.map-[^:]+:1: expected 'address type name"):
        SymbolWorld.from_kallsyms(maps[0])


def test_real_module_resolves_against_real_vmlinux(series, vmlinux_world):
    obj = load_object(str(package(series).find("af_key")))
    res = load_module(get_profile(package(series).profile), obj, vmlinux_world, Layout(), Config(), "af_key")
    assert res.rc == 0, [m.render() for m in res.mod.messages]
    resolved = {s.name: s.value for s in res.mod.obj.symbols}
    listed = {e.name: e.addr for e in reversed(vmlinux_world.entries)}
    undef = [s.name for s in obj.symbols[1:] if s.shndx == SHN_UNDEF and s.name != ".TOC."]
    in_vmlinux = [n for n in undef if n in listed]
    assert len(in_vmlinux) > 50  # the rest come from other modules (xfrm_algo): synthetic
    for name in in_vmlinux:
        assert resolved[name] == listed[name]
    for name in set(undef) - set(in_vmlinux):
        assert 0xC000000000000000 <= resolved[name] < 0xC000000040000000
    toc = vmlinux_world.kernel_toc_addr()
    assert 0xC000000000000000 < toc < 0xC000000010000000
    for name in ("ftrace_caller", "ftrace_regs_caller"):
        assert abs(vmlinux_world.vmlinux_symbol(name) - toc) < 2**31  # ftrace stubs in range


def test_real_module_load_under_every_profile_with_real_world(series, vmlinux_world):
    obj = load_object(str(package(series).find("af_key")))
    for name in ("v6.1", "klp-clear-v7", "v6.12", "full-undo"):
        run = get_engine(name).run(Scenario(obj, vmlinux_world, [Step("load")], modname="af_key"))
        assert (run.steps[0].rc, run.steps[0].oob, run.steps[0].warns) == (0, [], 0)
