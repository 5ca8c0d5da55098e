"""lib/sort.c heapsort + relacmp: order properties, and tie placement against the kernel's own C.

The differential test compiles the real lib/sort.c of each Debian kernel tarball (extracted at
test time into the harness cache, never committed) with our own minimal shim headers and a
driver that sorts Elf64_Rela-shaped records with a relacmp written here; our Python sort must
produce the identical permutation, ties included.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ppcreloc.arch.sort import SORTS, relacmp, sort_r_v6_1, sort_r_v6_12
from ppcreloc.elf.model import Rela

TARBALLS = {"6.1": "/usr/src/linux-source-6.1.tar.xz", "6.12": "/usr/src/linux-source-6.12.tar.xz"}

relas = st.lists(
    st.builds(Rela, st.integers(0, 0xFFFF), st.integers(0, 3), st.sampled_from([1, 10, 38]),
              st.integers(-2, 2)),
    max_size=40,
)


def key(r: Rela) -> tuple[int, int]:
    return (r.info, r.addend)


@pytest.mark.parametrize("version", sorted(SORTS))
@given(items=relas)
def test_sorted_descending_and_a_permutation(version: str, items: list[Rela]):
    out = list(items)
    SORTS[version](out, relacmp)
    assert [key(r) for r in out] == sorted((key(r) for r in items), reverse=True)
    assert sorted(map(id, out)) == sorted(map(id, items))


def test_relacmp_is_descending_unsigned_info_then_signed_addend():
    hi = Rela(0, 0xFFFF_FFFF, 10, 0)  # r_info >= 2^63: compared unsigned
    lo = Rela(0, 1, 10, 0)
    assert relacmp(hi, lo) < 0 and relacmp(lo, hi) > 0
    assert relacmp(Rela(0, 1, 10, -1), Rela(0, 1, 10, 1)) > 0
    assert relacmp(Rela(5, 1, 10, 3), Rela(9, 1, 10, 3)) == 0


def test_versions_differ_on_ties():
    """The double-pop rewrite changed where equal keys land (so each profile needs its own)."""
    rng = random.Random(1)
    for _ in range(200):
        items = [Rela(i, rng.randrange(2), 10, 0) for i in range(rng.randrange(2, 12))]
        a, b = list(items), list(items)
        sort_r_v6_1(a, relacmp)
        sort_r_v6_12(b, relacmp)
        if [r.offset for r in a] != [r.offset for r in b]:
            return
    pytest.fail("6.1 and 6.12 heapsorts placed ties identically on 200 random arrays")


# -- against the real lib/sort.c ------------------------------------------------------------
SHIM_TYPES = """
#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
typedef uint8_t u8; typedef uint32_t u32; typedef uint64_t u64; typedef int64_t s64;
#define __attribute_const__ __attribute__((const))
#define __always_inline inline __attribute__((always_inline))
#define CONFIG_64BIT 1
#define KBUILD_MODNAME "sort"
"""
SHIM_SORT = """
typedef int (*cmp_func_t)(const void *a, const void *b);
typedef void (*swap_func_t)(void *a, void *b, int size);
typedef int (*cmp_r_func_t)(const void *a, const void *b, const void *priv);
typedef void (*swap_r_func_t)(void *a, void *b, int size, const void *priv);
void sort_r(void *base, size_t num, size_t size, cmp_r_func_t cmp, swap_r_func_t swap,
            const void *priv);
void sort(void *base, size_t num, size_t size, cmp_func_t cmp, swap_func_t swap);
"""
DRIVER = """
#include <stdio.h>
#include <linux/types.h>
#include <linux/sort.h>
struct rela { u64 r_offset; u64 r_info; s64 r_addend; };
static int relacmp(const void *a, const void *b)
{
    const struct rela *x = b, *y = a;   /* descending, as module_64.c's */
    if (x->r_info != y->r_info) return x->r_info < y->r_info ? -1 : 1;
    if (x->r_addend != y->r_addend) return x->r_addend < y->r_addend ? -1 : 1;
    return 0;
}
int main(void)
{
    static struct rela v[4096];
    unsigned long n;
    while (scanf("%lu", &n) == 1) {
        for (unsigned long i = 0; i < n; i++)
            if (scanf("%lu %lu %ld", &v[i].r_offset, &v[i].r_info, &v[i].r_addend) != 3)
                return 2;
        sort(v, n, sizeof(v[0]), relacmp, NULL);
        for (unsigned long i = 0; i < n; i++)
            printf("%lu ", v[i].r_offset);
        printf("\\n");
    }
    return 0;
}
"""


def build_kernel_sort(version: str, tmp: Path) -> Path:
    tarball = Path(TARBALLS[version])
    if not tarball.is_file():
        pytest.skip(f"{tarball} missing (install linux-source-{version})")
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc missing")
    from ppcreloc.reference.kernel.build import resolve_tree

    tree = resolve_tree(tarball)
    shim = tmp / "shim" / "linux"
    shim.mkdir(parents=True)
    (shim / "types.h").write_text(SHIM_TYPES)
    (shim / "export.h").write_text("#define EXPORT_SYMBOL(x)\n")
    (shim / "sort.h").write_text(SHIM_SORT)
    (tmp / "driver.c").write_text(DRIVER)
    exe = tmp / f"sort-{version}"
    subprocess.run(
        [gcc, "-O1", "-w", "-I", str(tmp / "shim"), str(tree / "lib" / "sort.c"),
         str(tmp / "driver.c"), "-o", str(exe)],
        check=True, capture_output=True,
    )
    return exe


@pytest.mark.reference
@pytest.mark.parametrize("version", ["6.1", "6.12"])
def test_same_permutation_as_kernel_lib_sort(version: str, tmp_path: Path):
    exe = build_kernel_sort(version, tmp_path)
    rng = random.Random(version)
    cases: list[list[Rela]] = []
    for _ in range(600):
        n = rng.choice([rng.randrange(0, 8), rng.randrange(8, 64), rng.randrange(64, 300)])
        nsym, naddend = rng.choice([(1, 1), (2, 2), (3, 1), (8, 4), (1000, 1000)])
        cases.append([
            Rela(i, rng.randrange(nsym), rng.choice([10, 38, 1]), rng.randrange(naddend) - 1)
            for i in range(n)
        ])
    cases.append([Rela(i, 0xFFFF_FFFF - (i % 2), 10, -(1 << 62) * (i % 3)) for i in range(17)])
    stdin = "".join(
        f"{len(c)}\n" + "".join(f"{r.offset} {r.info} {r.addend}\n" for r in c) for c in cases
    )
    out = subprocess.run([str(exe)], input=stdin, capture_output=True, text=True, check=True)
    lines = out.stdout.splitlines()
    assert len(lines) == len(cases)
    for case, line in zip(cases, lines, strict=True):
        ours = list(case)
        SORTS[version](ours, relacmp)
        assert [r.offset for r in ours] == [int(x) for x in line.split()], case
