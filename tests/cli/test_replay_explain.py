"""`ppcreloc replay` and `ppcreloc explain` on the committed v6.1 reload-failure fixture: exit
codes, what is shown (stages, disassembly, marks, kernel messages, stubs), bad fixtures."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ppcreloc import cli
from ppcreloc.explain import STAGES, Disassembler, explain
from ppcreloc.replay import replay

CORPUS = Path(__file__).parents[1] / "fixtures"
(V61,) = sorted((CORPUS / "v6.1").glob("apply_clear_apply-*.o"))
(V612_RELOAD,) = sorted((CORPUS / "v6.12").glob("reload_cycles-*.o"))


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = cli.main(list(argv))
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_replay_reproduces_the_recorded_violation(capsys) -> None:
    rc, out, _ = _run(capsys, "replay", str(V61))
    assert rc == 1
    assert out.startswith("reproduces:") and "Expected nop after call, got e8410018" in out


def test_replay_on_the_fix_no_longer_reproduces(capsys) -> None:
    rc, out, _ = _run(capsys, "replay", str(V61), "--engine", "full-undo")
    assert rc == 0 and "no longer reproduces" in out and "full-undo" in out


def test_replay_accepts_the_sidecar_path(capsys) -> None:
    assert _run(capsys, "replay", str(V61.with_suffix(".json")))[0] == 1


def test_replay_uses_the_recorded_world_generations() -> None:
    """The reload-cycle failure needs the recorded per-generation bases (world_spec)."""
    result = replay(V612_RELOAD)
    assert not result.holds and result.same
    spec = result.record.layout["world_spec"]["modules"][0]
    assert result.inputs.world.module_base(spec["name"], 1) == int(spec["bases"][1], 16)


def _copy(tmp_path: Path) -> Path:
    dst = tmp_path / V61.name
    shutil.copy(V61, dst)
    shutil.copy(V61.with_suffix(".json"), dst.with_suffix(".json"))
    return dst


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: p.with_suffix(".json").unlink(), "cannot read sidecar"),
        (lambda p: p.write_bytes(b"not an ELF file"), ""),
        (lambda p: p.with_suffix(".json").write_text("{"), "invalid JSON"),
        (lambda p: _edit(p, layout={"base": "zz"}), "bad layout base"),
        (lambda p: _edit(p, config={"abi": "elfv1", "bogus": 1}), "bad layout or config"),
        (lambda p: _edit(p, invariant="nonsense"), "unknown invariant"),
        (lambda p: _edit(p, cycles=-1), "bad cycles"),
        (lambda p: _edit(p, engine="no-such-engine"), "unknown engine"),
    ],
)
@pytest.mark.parametrize("command", ["replay", "explain"])
def test_bad_fixtures_exit_2_with_one_line(capsys, tmp_path, damage, message, command) -> None:
    path = _copy(tmp_path)
    damage(path)
    rc, _out, err = _run(capsys, command, str(path))
    if command == "explain" and message == "cannot read sidecar":
        # explain needs no sidecar: it checks the object afresh (exit 1: its violation again)
        assert rc == 1 and err == "", err
        return
    assert rc == 2
    assert err.startswith("ppcreloc: error:") and message in err
    assert len(err.strip().splitlines()) == 1


def _edit(path: Path, **changes: object) -> None:
    sidecar = path.with_suffix(".json")
    data = json.loads(sidecar.read_text())
    data.update(changes)
    sidecar.write_text(json.dumps(data))


def test_missing_fixture_is_exit_2(capsys, tmp_path) -> None:
    rc, _, err = _run(capsys, "replay", str(tmp_path / "nope.o"))
    assert rc == 2 and "cannot read" in err


def test_explain_shows_each_stage_disassembled_with_the_violation_marked(capsys) -> None:
    rc, out, _ = _run(capsys, "explain", str(V61))
    assert rc == 1
    for text in ("sections", ".stubs", "symbols", ".klp.sym.ext4.do_work,0", "LIVEPATCH",
                 "R_PPC_REL24", *STAGES, "nop", "ld r2, 0x18(r1)", "<- violation",
                 "Expected nop after call", "stubs written", "std r2, 0x18(r1)", "bctr"):
        assert text in out, text


def test_explain_stage_bytes_on_v61_and_on_full_undo() -> None:
    ex = explain(V61)
    (view,) = ex.relocs
    assert view.type_name == "R_PPC64_REL24" and view.target == "ext4"
    assert set(view.failed) == {"apply_clear_apply", "clear_restores"}
    before, applied, cleared = (view.stages[s] for s in STAGES[:3])
    assert before and applied and cleared
    assert [w.text for w in before][1] == "nop"
    assert [w.text for w in applied][1] == "ld r2, 0x18(r1)"
    assert [w.data for w in cleared] == [w.data for w in applied]  # 6.1 clears nothing
    assert all(w.violating for w in cleared) and not any(w.violating for w in before)
    assert any(step.startswith("coming(ext4, gen 0)") and rc == -8
               for step, rc, _m, _w in ex.messages)
    assert any(s.step == "coming(ext4, gen 0)" and "stub jump[0]" in s.what for s in ex.stubs)

    fixed = explain(V61, "full-undo")
    (view,) = fixed.relocs
    assert fixed.replay.holds and not view.failed
    assert [w.data for w in view.stages["after clear"]] == \
        [w.data for w in view.stages["before apply"]]
    assert [w.data for w in view.stages["after second apply"]] == \
        [w.data for w in view.stages["after apply"]]
    assert not any(w.violating for s in STAGES for w in view.stages[s] or [])


def test_disassembler_little_and_big_endian() -> None:
    le, be = Disassembler(False), Disassembler(True)
    assert le.word(0, bytes.fromhex("00000060")) == "nop"
    assert be.word(0, bytes.fromhex("60000000")) == "nop"
    assert le.word(0x100, bytes.fromhex("01000048")) == "bl 0x100"
    assert le.word(0, bytes(4)) == ".long 0x00000000"  # no ppc64 instruction
    assert le.word(0, b"\x01\x02") == ".byte 0x01, 0x02"


def test_explain_shows_a_rel24_in_the_last_word_of_its_section() -> None:
    """restore_r2's P+4 lies past the section (the adversarial in_bounds fixture): the word at P
    is still shown, cut at the section's end."""
    path = CORPUS / "v6.12" / "in_bounds-54e84ccaec694168.o"  # the adversarial one
    (view,) = [v for v in explain(path).relocs if v.type_name == "R_PPC64_REL24"]
    assert "in_bounds" in view.failed
    for stage in STAGES:
        words = view.stages[stage]
        assert words is not None and len(words) == 1 and words[0].addr == view.addr


def test_explain_any_object_without_a_sidecar(capsys, tmp_path) -> None:
    """An object of the user's own (no sidecar) is checked afresh, as `check` would."""
    obj = tmp_path / "mine.o"
    shutil.copy(V612_RELOAD, obj)
    rc, out, _ = _run(capsys, "explain", str(obj))
    assert rc == 1 and "no sidecar: checked afresh" in out and "on v6.12" in out
    assert "R_PPC64_REL24 (kernel: R_PPC_REL24)" in out
    rc, out, _ = _run(capsys, "explain", str(obj), "--engine", "full-undo", "--cycles", "2")
    assert rc == 0 and "every invariant holds" in out
    ks = tmp_path / "kallsyms"
    ks.write_text("c000000000001000 T _mcount\nc008000000200000 t do_work\t[ext4]\n")
    rc, out, _ = _run(capsys, "explain", str(obj), "--kallsyms", str(ks))
    assert rc == 1 and "checked afresh" in out
    rc, _out, err = _run(capsys, "explain", str(tmp_path / "nope.o"))
    assert rc == 2 and "cannot read" in err and len(err.strip().splitlines()) == 1


def test_explain_shows_stubs_extent_flags_names_and_the_warn(capsys) -> None:
    rc, out, _ = _run(capsys, "explain", str(V612_RELOAD))
    assert rc == 1
    lines = out.splitlines()
    stubs = next(line for line in lines if line.split()[1:2] == [".stubs"])
    assert stubs.split()[2:6] == ["NOBITS", "ALLOC", "EXECINSTR", "160*"]  # not the file's 0
    assert any(line.startswith("* .stubs: 160 bytes at 0x") and "ending at 0x" in line
               for line in lines)
    assert any(".klp.rela.ext4..text.livepatch_fn0" in line and "RELA_LIVEPATCH" in line
               for line in lines)
    assert any(".klp.sym.ext4.do_work,0" in line and "GLOBAL FUNC" in line for line in lines)
    past = [line for line in lines if "past the end of .stubs" in line]
    assert past and all("coming(ext4, gen 2)" in line for line in past)
    assert "WARN fired: stub_for_addr: WARN_ON(i >= num_stubs)" in out
    # the six identical failed reloads are one entry, not six
    assert "coming(ext4, gen 3) .. coming(ext4, gen 8): rc -2, 1 WARN(s)" in out
    assert out.count("refusing to load module 'ext4'") == 1
    # one relocation line per violated invariant (clear_restores, reload_cycles), not per violation
    assert sum(line.startswith("  relocation:") for line in lines) == 2
