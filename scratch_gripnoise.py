import sys, time, numpy as np
sys.path.insert(0, "/work/wip18")
import os; os.environ.setdefault("MUJOCO_GL", "egl")
from make_default import make_env, ScriptedExpert
from reward import TASK_TARGETS
task, p, n = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
env, _, init = make_env(task)
rng = np.random.default_rng(0)
wins, falses, t0 = 0, 0, time.time()
for s in range(n):
    env.reset(); obs = env.set_init_state(init[s])
    for _ in range(10): obs, *_ = env.step([0]*6 + [-1])
    ex = ScriptedExpert(TASK_TARGETS[task - 1]); left = 0; done = False
    for t in range(300):
        a = ex(env).copy()
        e = env.env; d = e.sim.data
        dz = d.site_xpos[e.robots[0].eef_site_id][2] - d.body_xpos[e.obj_body_id[ex.target]][2]
        if left == 0 and ex.PHASES[ex.phase] == "descend" and dz > 0.04 and rng.random() < p:
            left = rng.integers(3, 13); falses += 1
        if left > 0:
            a[6] = 1.0; left -= 1
        a[:3] += rng.normal(0, 0.2, 3) if ex.PHASES[ex.phase] not in ("close", "release") else 0
        obs, _, done, _ = env.step(a)
        if done: break
    wins += done
print(f"task {task} p={p}: {wins}/{n} success, {falses} false closes, {time.time()-t0:.0f}s")
