"""Hard vs soft reset of one LIBERO env (Task 4, agentview 256 px): time per reset, and whether a
seed's rollout depends on what the env ran before (it must not, for --resume to reproduce a run).

    python results/timings/reset_probe.py        # from the repository root; ~2-5 min on 2 cores
"""
import os
import time

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
import numpy as np
from libero.libero import benchmark, get_libero_path
from libero.libero.envs import OffScreenRenderEnv

suite = benchmark.get_benchmark_dict()["libero_object"]()
task = suite.get_task(3)
bddl = os.path.join(get_libero_path("bddl_files"), task.problem_folder, task.bddl_file)
init_states = suite.get_task_init_states(3)


def episode(env, seed, state, steps=40):
    """Seed, reset, set the init state, then `steps` random actions; returns (sim state, last frame, reset seconds)."""
    rng = np.random.default_rng(seed)
    env.seed(seed)
    t0 = time.perf_counter()
    env.reset()
    seconds = time.perf_counter() - t0
    obs = env.set_init_state(state)
    for k in range(steps):
        obs, _, _, _ = env.step(np.r_[rng.uniform(-1, 1, 6), 1.0 if k > 15 else -1.0])
    return env.get_sim_state().copy(), obs["agentview_image"].copy(), seconds


for hard in (True, False):
    make = lambda: OffScreenRenderEnv(bddl_file_name=bddl, camera_names=["agentview"], camera_heights=256,
                                      camera_widths=256, ignore_done=True, hard_reset=hard)
    a = make()
    resets = [episode(a, 0, init_states[0])[2], episode(a, 5, init_states[7])[2]]
    after_others = episode(a, 1, init_states[1])
    a.close()
    b = make()
    fresh = episode(b, 1, init_states[1])
    b.close()
    resets.append(after_others[2])
    print(f"{'hard' if hard else 'soft'} reset: {np.mean(resets):.2f} s per reset; seed 1 after two other episodes"
          f" vs fresh: max |sim state difference| {np.abs(after_others[0] - fresh[0]).max():.1e},"
          f" same frame {np.array_equal(after_others[1], fresh[1])}")
