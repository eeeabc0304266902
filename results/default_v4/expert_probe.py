"""The scripted expert with gripper noise, without rendering: does it still succeed often enough to
record demos from? Optionally, the close phase aims `dz` below where the descent stopped.

    python results/default_v4/expert_probe.py TASK GRIP_NOISE DZ N   # e.g. 4 0.1 0 10; from the repository root

Init states 0..N-1 of the suite (evaluation states: this only measures the expert), xyz noise 0.2
as in the demos, through `make_default.run_expert` (the demos' own noise rules).
"""
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import numpy as np

from make_default import ScriptedExpert, make_env, run_expert
from reward import TASK_TARGETS

task, p, dz, n = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])


class CloseLower(ScriptedExpert):
    def __call__(self, env):
        if self.PHASES[self.phase] == "close" and self.anchor is None:
            e = env.env
            self.anchor = e.sim.data.site_xpos[e.robots[0].eef_site_id].copy() + [0, 0, -dz]
        return super().__call__(env)


env, _, init = make_env(task)
wins, t0 = 0, time.time()
for s in range(n):
    env.reset()
    ok, _, _ = run_expert(env, TASK_TARGETS[task - 1], env.set_init_state(init[s]), noise=0.2,
                          rng=np.random.default_rng(s), grip_noise=p, expert=CloseLower(TASK_TARGETS[task - 1]))
    wins += ok
print(f"task {task} grip noise {p} dz {dz}: {wins}/{n} success, {time.time() - t0:.0f}s")
