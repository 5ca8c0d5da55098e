"""Fixture files are written atomically, deduplicated by content, and read back with clear errors."""

import json

import pytest

from ppcreloc.fixtures import (
    FixtureError,
    FixtureRecord,
    fixture_path,
    iter_fixtures,
    load_fixture,
    write_fixture,
)


def _record(**kw):
    base = dict(
        engine="v6.1", invariant="apply_clear_apply", holds=False,
        violation={"address": 4}, world="c000000000000000 T foo\n",
        layout={"base": 0, "addresses": {}, "after_stubs": "00"}, cycles=2,
    )
    base.update(kw)
    return FixtureRecord(**base)


def test_write_is_content_addressed_and_deduplicated(tmp_path):
    p1 = write_fixture(tmp_path, b"\x7fELF-a", _record())
    p2 = write_fixture(tmp_path, b"\x7fELF-a", _record())
    p3 = write_fixture(tmp_path, b"\x7fELF-b", _record())
    assert p1 == p2 != p3
    assert p1.parent == tmp_path / "v6.1" and p1.name.startswith("apply_clear_apply-")
    assert sorted(iter_fixtures(tmp_path)) == sorted([p1, p3])
    assert not [p for p in tmp_path.rglob(".*")]  # no temporary files left behind
    elf, rec = load_fixture(p1)
    assert elf == b"\x7fELF-a" and rec == _record()


def test_engine_names_become_safe_paths(tmp_path):
    p = fixture_path(tmp_path, "kernel:/usr/src/linux-source-6.12.tar.xz", "in_bounds", b"x")
    assert p.parent.name == "kernel_usr_src_linux-source-6.12.tar.xz"


@pytest.mark.parametrize(
    "sidecar, message",
    [
        (None, "cannot read sidecar"),
        ("{not json", "invalid JSON"),
        ("[1, 2]", "not an object"),
        (json.dumps({"engine": "v6.1"}), "not a ppcreloc fixture sidecar"),
    ],
)
def test_bad_sidecars_give_one_line_errors(tmp_path, sidecar, message):
    obj = tmp_path / "x.o"
    obj.write_bytes(b"\x7fELF")
    if sidecar is not None:
        obj.with_suffix(".json").write_text(sidecar)
    with pytest.raises(FixtureError, match=message) as exc:
        load_fixture(obj)
    assert "\n" not in str(exc.value)


def test_missing_object_is_a_fixture_error(tmp_path):
    with pytest.raises(FixtureError, match="cannot read"):
        load_fixture(tmp_path / "nope.o")
