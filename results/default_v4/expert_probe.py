"""The scripted expert with gripper noise, without rendering: does it still succeed often enough to
record demos from? Optionally, the close phase aims `dz` below where the descent stopped.

    python results/default_v4/expert_probe.py TASK GRIP_NOISE DZ N   # e.g. 4 0.1 0 10; from the repository root

Init states 0..N-1 of the suite (evaluation states: this only measures the expert), xyz noise 0.2
as in the demos, the same false-close rule as `make_default.run_expert --grip-noise`.
"""
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import numpy as np

from make_default import ScriptedExpert, make_env
from reward import TASK_TARGETS

task, p, dz, n = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])


class CloseLower(ScriptedExpert):
    def __call__(self, env):
        if self.PHASES[self.phase] == "close" and self.anchor is None:
            e = env.env
            self.anchor = e.sim.data.site_xpos[e.robots[0].eef_site_id].copy() + [0, 0, -dz]
        return super().__call__(env)


env, _, init = make_env(task)
wins, false_closes, t0 = 0, 0, time.time()
for s in range(n):
    rng = np.random.default_rng(s)
    env.reset()
    env.set_init_state(init[s])
    for _ in range(10):
        env.step([0] * 6 + [-1])
    expert, left, done = CloseLower(TASK_TARGETS[task - 1]), 0, False
    for t in range(300):
        a = expert(env).copy()
        e = env.env
        height = e.sim.data.site_xpos[e.robots[0].eef_site_id][2] - e.sim.data.body_xpos[e.obj_body_id[expert.target]][2]
        if left == 0 and expert.PHASES[expert.phase] == "descend" and height > 0.05 and rng.random() < p:
            left, false_closes = rng.integers(3, 13), false_closes + 1
        if left > 0:
            a[6], left = 1.0, left - 1
        if expert.PHASES[expert.phase] not in ("close", "release"):
            a[:3] += rng.normal(0, 0.2, 3)
        _, _, done, _ = env.step(a)
        if done:
            break
    wins += done
print(f"task {task} grip noise {p} dz {dz}: {wins}/{n} success, {false_closes} false closes, {time.time() - t0:.0f}s")
