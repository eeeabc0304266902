"""Issue 17's measurement: the scripted expert's summed reward against the same trajectory hovering
over the basket (gripper closed, no motion) from its first 12-reward step to the same length,
under the reward before the fix (reward.py at commit 6e556f9, read from git) and after it.

    python results/reward_fix/expert_vs_hover.py | grep -v "^\[info\]" > results/reward_fix/expert_vs_hover.txt
"""
import subprocess
import sys
import types
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
import reward                                         # noqa: E402  (after the path)
from make_default import ScriptedExpert, make_env     # noqa: E402

old = types.ModuleType("reward_before_issue17")       # the first reward, as committed before the fix
exec(subprocess.run(["git", "show", "6e556f9:reward.py"], cwd=HERE, capture_output=True, text=True,
                    check=True).stdout, old.__dict__)

HOLD = np.array([0, 0, 0, 0, 0, 0, 1.0])


def run(env, init_state, target, actions_or_expert, steps):
    """Reset, settle 10 steps, then act; returns (actions, new rewards, old rewards, success)."""
    env.seed(0)
    env.reset()
    env.set_init_state(init_state)
    fns = (reward.PickAndPlaceInBasketReward(target), old.PickAndPlaceInBasketReward(target))
    for _ in range(10):
        env.step([0, 0, 0, 0, 0, 0, -1])
        [f(env) for f in fns]
    acts, new, prev, ok = [], [], [], False
    for t in range(steps):
        a = actions_or_expert(env, t)
        acts.append(a)
        _, _, done, _ = env.step(a)
        (r1, _), (r0, _) = (f(env) for f in fns)
        new.append(r1), prev.append(r0)
        if done:
            ok = True
            break
    return acts, new, prev, ok


print("| task | init state | expert lets go at eef z | T | before: success sum | before: hover sum | after: success sum | after: hover sum |")
print("|---|---|---|---|---|---|---|---|")
for task, states, release_z in ((4, (0, 1), 0.20), (1, (0, 1), 0.20), (10, (0, 1), 0.30), (4, (0, 1), 0.30)):
    env, _, init_states = make_env(task)
    target = reward.target_for_task(task)
    for s in states:
        expert = ScriptedExpert(target, release_z=release_z)
        acts, new, prev, ok = run(env, init_states[s], target, lambda e, t: expert(e), 400)
        assert ok
        t12 = {name: r.index(12) + 1 for name, r in (("new", new), ("old", prev))}
        sums = {}
        for name, r in (("old", prev), ("new", new)):
            t = t12[name]
            _, hn, ho, _ = run(env, init_states[s], target, lambda e, k: acts[k] if k < t else HOLD, len(r))
            hover = hn if name == "new" else ho
            sums[name] = (sum(r), sum(hover))
        print(f"| {task} | {s} | {release_z:.2f} m | {len(new)} | {sums['old'][0]:g} | {sums['old'][1]:g} "
              f"| {sums['new'][0]:g} | {sums['new'][1]:g} |", flush=True)
    env.close()
