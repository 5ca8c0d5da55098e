"""The size sweep (1-64 content sections, 1-4096 symbols, 1-65536 relocations): every object is
read back identically by our reader, pyelftools and LIEF, and binutils readelf prints no warning.
A sample runs by default; the big end of the sweep is marked ``slow``."""

from __future__ import annotations

import pytest
from elf_crosscheck import (
    READELF,
    lief_disagreements,
    model_view_for_pyelftools,
    pyelftools_view,
    readelf_complaints,
)
from elf_objects import elf_objects, sweep_object
from hypothesis import given, settings

from ppcreloc.elf.reader import read_elf
from ppcreloc.elf.writer import write_elf


def check_everything(obj, pyelftools: bool = True) -> None:
    data = write_elf(obj)
    assert read_elf(data) == obj
    assert write_elf(read_elf(data)) == data
    assert lief_disagreements(obj, data) == []
    if pyelftools:
        assert pyelftools_view(data) == model_view_for_pyelftools(obj, data)
    if READELF is not None:
        assert readelf_complaints(data) == ""


FAST = [(1, 1, 1), (1, 17, 17), (2, 16, 100), (8, 64, 64), (17, 300, 1000), (64, 4096, 4096)]
SLOW = [(64, 4096, 65536), (1, 4096, 65536), (64, 1, 65536), (33, 2048, 32768)]


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("nsec,nsym,nrel", FAST)
def test_sweep_sample(nsec, nsym, nrel, big_endian):
    check_everything(sweep_object(nsec, nsym, nrel, big_endian), pyelftools=nrel <= 4096)


@pytest.mark.slow
@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("nsec,nsym,nrel", SLOW)
def test_sweep_big_end(nsec, nsym, nrel, big_endian):
    check_everything(sweep_object(nsec, nsym, nrel, big_endian))


@pytest.mark.skipif(READELF is None, reason="binutils readelf is not installed")
@settings(max_examples=25)
@given(elf_objects(wellformed=True, max_sections=16, max_symbols=64, max_relocs=256))
def test_readelf_accepts_random_wellformed_objects(obj):
    assert readelf_complaints(write_elf(obj)) == ""
