"""The buffer planner's invariant: arena buffers live at the same time never share a byte,
every offset is aligned and inside its region. compile() checks it at the stage boundary
(plan.check_plan), so every model the suite compiles is checked; here random programs,
an independent brute-force checker, and planners that break the rule."""
import dataclasses

import numpy as np
import pytest

import webjit
from webjit import pipeline
from webjit.errors import CompileError
from webjit.lower import ModelIO, Program, Step
from webjit.plan import ALIGN, MemoryPlan, check_plan, plan_buffers
from webjit.views import Buffer
from test_tune import mlp_model


def random_program(seed: int) -> Program:
    """Buffers of random sizes (some weights), steps using random sets of them, an input
    read by the first steps and outputs read after the last."""
    rng = np.random.default_rng(seed)
    count = int(rng.integers(2, 40))
    buffers = [Buffer(i, f"b{i}", "f32", int(rng.integers(1, 5000)),
                      "weights" if rng.random() < 0.2 else "arena") for i in range(count)]
    arena = [b for b in buffers if b.region == "arena"] or [dataclasses.replace(buffers[0], region="arena")]
    buffers[arena[0].id] = arena[0]
    steps = []
    for i in range(int(rng.integers(1, 30))):
        used = rng.choice(len(buffers), size=int(rng.integers(1, min(5, len(buffers)) + 1)), replace=False)
        steps.append(Step(None, tuple(buffers[j] for j in used), f"s{i}"))
    inputs = [ModelIO("x", "float32", (arena[0].size,), arena[0])]
    outputs = [ModelIO(f"y{j}", "float32", (b.size,), b)
               for j, b in enumerate(arena[1:1 + int(rng.integers(0, 3))])]
    return Program(inputs, outputs, buffers, steps)


def brute_force_violations(program: Program, plan: MemoryPlan) -> list[str]:
    """Every pair of arena buffers live together and overlapping in bytes, checked step by step."""
    moments = range(-1, len(program.steps) + 1)
    alive = {m: set() for m in moments}
    for io in program.inputs:
        alive[-1].add(io.buffer.id)
    for i, step in enumerate(program.steps):
        alive[i].update(b.id for b in step.buffers if b.region == "arena")
    for io in program.outputs:
        alive[len(program.steps)].add(io.buffer.id)
    first = {b: min(m for m in moments if b in alive[m]) for m in moments for b in alive[m]}
    last = {b: max(m for m in moments if b in alive[m]) for m in moments for b in alive[m]}
    size = {b.id: b.size * 4 for b in program.buffers}
    bad = []
    for a in first:
        for b in first:
            if a < b and not (last[a] < first[b] or last[b] < first[a]):
                lo, hi = plan.offsets[a], plan.offsets[b]
                if lo < hi + size[b] and hi < lo + size[a]:
                    bad.append(f"{a} and {b}")
    for b in program.buffers:
        limit = plan.arena_bytes if b.region == "arena" else plan.weights_bytes
        if plan.offsets[b.id] % ALIGN or (b.id in first or b.region == "weights") and \
                plan.offsets[b.id] + size[b.id] > limit:
            bad.append(f"{b.id} misplaced")
    return bad


@pytest.mark.parametrize("seed", range(300))
def test_random_programs_keep_the_invariant(seed):
    program = random_program(seed)
    plan = plan_buffers(program)
    assert brute_force_violations(program, plan) == []
    check_plan(program, plan)


def zero_planner(program: Program) -> MemoryPlan:
    """Every buffer at offset 0: the planner a proxy test (arena < naive) would let pass."""
    plan = plan_buffers(program)
    return dataclasses.replace(plan, offsets={b: 0 for b in plan.offsets})


def test_check_plan_and_the_brute_force_agree_on_broken_plans():
    broken = 0
    for seed in range(100):
        program = random_program(seed)
        plan = zero_planner(program)
        violations = brute_force_violations(program, plan)
        if violations:
            broken += 1
            with pytest.raises(CompileError, match="share bytes|outside"):
                check_plan(program, plan)
        else:
            check_plan(program, plan)
    assert broken > 50


def test_compile_refuses_a_planner_that_overlaps_live_buffers(tmp_path, monkeypatch):
    model = mlp_model(tmp_path / "mlp.onnx")
    webjit.compile(model, None, webjit.Options(backends=("wasm",)))  # the real planner passes
    monkeypatch.setattr(pipeline, "plan_buffers", zero_planner)
    with pytest.raises(CompileError, match="live together"):
        webjit.compile(model, None, webjit.Options(backends=("wasm",)))


def test_misaligned_offsets_are_refused():
    program = random_program(3)
    plan = plan_buffers(program)
    arena = next(b.id for b in program.buffers if b.region == "arena" and b.id in plan.live)
    with pytest.raises(CompileError, match="unaligned or outside"):
        check_plan(program, dataclasses.replace(plan, offsets={**plan.offsets, arena: plan.offsets[arena] + 4}))
