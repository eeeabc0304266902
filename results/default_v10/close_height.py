"""How high above the target a greedy policy first closes its gripper, against where the scripted
expert closes, on the same eval init states (rendered, one environment, no noise).

    python results/default_v10/close_height.py TASK MODEL STATES      # e.g. 2 /work/v9/w192 0,1,2,3

For each state: the expert (make_default.py's, --turn 0.6 as in v6-v10's demos) is run to the start of
its close and prints the eef height minus the target's top (collision geometry); then the policy runs
greedily (as tgrpo.py's evaluation, 280 steps) and prints, for each time it switches the gripper to
closed, the step and the same height difference (the first six), and whether it succeeded.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))
from make_default import TASK_TARGETS, ScriptedExpert, body_bounds, make_env  # noqa: E402
from tgrpo import action_tokens_to_values, load_policy, preprocess_frames, sample_actions, to_env_action  # noqa: E402

if len(sys.argv) != 4:
    raise SystemExit(__doc__)
task, model, states = int(sys.argv[1]), sys.argv[2], [int(s) for s in sys.argv[3].split(",")]
env, language, init_states = make_env(task, 256)
policy, target, e = load_policy(model, 8, "cpu"), TASK_TARGETS[task - 1], env.env


def start(s):
    env.reset()
    obs = env.set_init_state(init_states[s])
    for _ in range(10):                                       # settle, as the evaluation does
        obs, _, _, _ = env.step([0, 0, 0, 0, 0, 0, -1])
    return obs


def above_top():
    """eef height minus the target's top, metres."""
    return e.sim.data.site_xpos[e.robots[0].eef_site_id][2] - body_bounds(e.sim, target)[1][2]


for s in states:
    obs, expert = start(s), ScriptedExpert(target, turn=0.6)
    for _ in range(300):
        if expert.PHASES[expert.phase] == "close":
            print(f"state {s}: expert closes at eef - top {above_top():+.3f} m")
            break
        obs, _, _, _ = env.step(expert(env))
    obs, closes, was_closed, done = start(s), [], False, False
    for step in range(280):
        k, _, _ = sample_actions(policy, policy.prompt_ids(language),
                                 preprocess_frames([obs["agentview_image"]], policy.image_processor), greedy=True)
        action = to_env_action(action_tokens_to_values(k.numpy()), policy.stats)[0]
        if action[6] > 0 and not was_closed:
            closes.append(f"step {step} at {above_top():+.3f}")
        was_closed = action[6] > 0
        obs, _, done, _ = env.step(action)
        if done:
            break
    print(f"state {s}: policy closes {', '.join(closes[:6]) or 'never'}; success {bool(done)}", flush=True)
