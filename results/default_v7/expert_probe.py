"""The turning expert without rendering: success and the hand's yaw (relative to its start) and eef
height at a few steps of the descent, close and lift, on eval init states 0..N-1 (this only measures
the expert), xyz noise 0.2 as in the demos, through make_default.run_expert.

    python results/default_v7/expert_probe.py TASK TURN N DESCENT_TURN   # e.g. 4 0.4 10 5; from the repository root
"""
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import numpy as np  # noqa: E402

from make_default import ScriptedExpert, make_env, run_expert  # noqa: E402
from reward import TASK_TARGETS  # noqa: E402

if len(sys.argv) != 5:
    raise SystemExit(__doc__)
task, turn, n, descent_turn = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
LOGGED = {("descend", 1), ("descend", 8), ("close", 1), ("close", 4), ("close", 8), ("lift", 1), ("lift", 5)}


class Logged(ScriptedExpert):
    def __call__(self, env):
        a = super().__call__(env)
        if (self.PHASES[self.phase], self.steps) in LOGGED:
            d, e = env.env.sim.data, env.env
            r = d.site_xmat[e.robots[0].eef_site_id].reshape(3, 3) @ self.orientation.T
            self.log.append(f"{self.PHASES[self.phase]}{self.steps}:{np.degrees(np.arctan2(r[1, 0], r[0, 0])):.0f}deg,"
                            f"z{d.site_xpos[e.robots[0].eef_site_id][2]:.3f}")
        return a


env, _, init = make_env(task)
wins, t0 = 0, time.time()
for s in range(n):
    env.reset()
    ex = Logged(TASK_TARGETS[task - 1], turn=turn, descent_turn=descent_turn)
    ex.log = []
    ok, _, _ = run_expert(env, TASK_TARGETS[task - 1], env.set_init_state(init[s]), noise=0.2,
                          rng=np.random.default_rng(s), expert=ex)
    wins += ok
    print(s, ok, " ".join(ex.log), flush=True)
print(f"task {task} turn {turn} descent turn {descent_turn}: {wins}/{n} success, {time.time() - t0:.0f}s")
