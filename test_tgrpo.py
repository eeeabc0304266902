"""Tests at three levels: hand-computed numbers for Eq. 6-9, the action tokens and the reward;
the real LIBERO-Object environment; the whole script end to end on a tiny budget.

    python -m pytest -q test_tgrpo.py
"""
import contextlib
import importlib.util
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import tgrpo
from tgrpo import (action_tokens_to_values, step_advantages, tgrpo_advantages, tgrpo_loss,
                   to_env_action, trajectory_advantages, values_to_action_tokens)

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")   # the env workers fork after tokenizing
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
HERE = Path(__file__).resolve().parent
TASK4 = 4


# ----------------------------------------------------------------------------- Eq. 6-8 by hand
R = torch.tensor([[1.0, 2.0], [3.0, 2.0], [5.0, 2.0]])       # (M=3, T=2)


def test_step_advantages_by_hand():
    # t=0: mean 3, n-1 std sqrt((4+0+4)/2) = 2 -> (-1, 0, 1); t=1: all 2 -> std 0 -> 0.
    S = step_advantages(R)
    assert S.shape == (3, 2)
    assert torch.allclose(S, torch.tensor([[-1.0, 0.0], [0.0, 0.0], [1.0, 0.0]]))


def test_trajectory_advantages_by_hand():
    # R_i = 3, 5, 7: mean 5, n-1 std 2 -> (-1, 0, 1).
    assert torch.allclose(trajectory_advantages(R), torch.tensor([-1.0, 0.0, 1.0]))


def test_tgrpo_advantages_fuse_and_ablations():
    adv = tgrpo_advantages(R, a1=0.5, a2=2.0)
    assert torch.allclose(adv, torch.tensor([[-2.5, -2.0], [0.0, 0.0], [2.5, 2.0]]))
    # Table 1's ablations: a1 = 0 keeps only T_i (same for every t), a2 = 0 only S_{i,t}.
    assert torch.allclose(tgrpo_advantages(R, 0.0, 1.0), torch.tensor([[-1.0, -1.0], [0.0, 0.0], [1.0, 1.0]]))
    assert torch.allclose(tgrpo_advantages(R, 1.0, 0.0), step_advantages(R))


def test_two_envs_use_n_minus_1_std():
    # M=2: values 0 and 4, mean 2, n-1 std sqrt(8) -> +-1/sqrt(2) (population std would give +-1).
    s = step_advantages(torch.tensor([[0.0], [4.0]]))
    assert torch.allclose(s, torch.tensor([[-1 / math.sqrt(2)], [1 / math.sqrt(2)]]))
    assert torch.allclose(trajectory_advantages(torch.tensor([[0.0, 0.0], [4.0, 0.0]])), s[:, 0])


def test_zero_std_group_gives_zero_not_nan():
    for rewards in (torch.full((4, 3), -2.0), torch.full((4, 3), 0.1, dtype=torch.float64)):
        adv = tgrpo_advantages(rewards, 0.35, 0.65)
        assert torch.equal(adv, torch.zeros_like(rewards)), adv
    ints = torch.tensor([[2, 2], [2, 2]])                         # ints in, floats out
    assert torch.equal(step_advantages(ints), torch.zeros(2, 2))


def test_group_of_one_is_refused():
    with pytest.raises(ValueError, match="at least 2"):
        step_advantages(torch.ones(1, 5))
    with pytest.raises(ValueError, match="at least 2"):
        trajectory_advantages(torch.ones(1, 5))
    with pytest.raises(ValueError, match=r"\(M, T\)"):
        step_advantages(torch.ones(5))


def test_dtype_and_device_kept():
    adv = tgrpo_advantages(R.double(), 1.0, 1.0)
    assert adv.dtype == torch.float64 and adv.device == R.device


# ----------------------------------------------------------------------------- Eq. 9 by hand
def test_loss_ratio_one_no_kl():
    adv = torch.tensor([1.0, -1.0, 2.0])
    logp = torch.tensor([-3.0, -2.0, -1.0])
    # r = 1 everywhere: loss = -mean(adv) / |o| = -(2/3) / 2.
    loss = tgrpo_loss(logp, logp.clone(), adv, traj_len=2)
    assert math.isclose(loss.item(), -1 / 3, rel_tol=1e-6)


def test_loss_gradient_direction():
    adv = torch.tensor([1.0, -1.0, 2.0])
    logp = torch.tensor([-3.0, -2.0, -1.0], requires_grad=True)
    tgrpo_loss(logp, logp.detach().clone(), adv, traj_len=4).backward()
    # d loss / d logp_i = -r_i * Adv_i / (M * |o|): raising a positive-advantage action's
    # log-prob lowers the loss, a negative one raises it.
    assert torch.allclose(logp.grad, -adv / 12)


def test_loss_kl_k3_by_hand():
    logp = torch.tensor([0.0, 0.0])
    ref = torch.tensor([math.log(2.0), 0.0])
    zero = torch.zeros(2)
    # k3: exp(ref-logp) - (ref-logp) - 1 = (2 - ln2 - 1, 0); mean = (1 - ln2)/2; times beta, over |o|.
    loss = tgrpo_loss(logp, logp, zero, traj_len=2, beta=0.1, logp_ref=ref)
    assert math.isclose(loss.item(), 0.1 * (1 - math.log(2)) / 2 / 2, rel_tol=1e-6)
    assert tgrpo_loss(logp, logp, zero, beta=0.1, logp_ref=logp).item() == 0.0   # KL 0 at pi = pi_ref
    with pytest.raises(ValueError, match="logp_ref"):
        tgrpo_loss(logp, logp, zero, beta=0.1)


def test_loss_clipping_optional():
    logp, old = torch.tensor([0.5, 0.5]), torch.tensor([0.0, 0.0])   # r = e^0.5 = 1.6487
    adv = torch.tensor([1.0, -1.0])
    r = math.exp(0.5)
    assert math.isclose(tgrpo_loss(logp, old, adv).item(), -(r - r) / 2, abs_tol=1e-6)      # no clipping
    # clipped: min(r, 1.2) * 1 = 1.2 and min(-r, -1.2) = -r -> loss = -(1.2 - r) / 2
    assert math.isclose(tgrpo_loss(logp, old, adv, clip_eps=0.2).item(), -(1.2 - r) / 2, rel_tol=1e-6)


# ----------------------------------------------------------------------------- OpenVLA action tokens
def test_action_tokens_match_openvla_formula():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.2, 1.2, size=(100, 7))
    vocab = 32000                                                    # Llama-2's tokenizer
    openvla_ids = vocab - np.digitize(np.clip(x, -1, 1), np.linspace(-1, 1, 256))
    assert np.array_equal(vocab - 256 + values_to_action_tokens(x), openvla_ids)
    assert values_to_action_tokens(np.array([1.0]))[0] == 0          # +1 -> id vocab-256
    assert values_to_action_tokens(np.array([-1.0]))[0] == 255       # -1 -> id vocab-1


def test_action_token_round_trip():
    x = np.linspace(-1, 1, 1001)
    back = action_tokens_to_values(values_to_action_tokens(x))
    assert np.abs(back - x).max() <= 1 / 255 + 1e-9                   # half a bin (bins are 2/255 wide)
    assert len(np.unique(action_tokens_to_values(np.arange(256)))) == 255


def test_to_env_action_unnormalizes_and_flips_gripper():
    stats = {"q01": [-0.5] * 6 + [0.0], "q99": [1.5] * 6 + [1.0], "mask": [True] * 6 + [False]}
    vals = np.array([[-1, 0, 1, 0.5, -0.5, 0, 1.0], [0, 0, 0, 0, 0, 0, 0.0]])
    a = to_env_action(vals, stats)
    assert np.allclose(a[0, :6], [-0.5, 0.5, 1.5, 1.0, 0.0, 0.5])
    assert a[0, 6] == -1.0 and a[1, 6] == 1.0                         # 1 (open) -> -1, 0 -> +1 close


# ----------------------------------------------------------------------------- the tiny default policy
@pytest.fixture(scope="module")
def policy():
    torch.manual_seed(0)
    return tgrpo.load_policy(str(HERE / "default_policy"), lora_rank=8, device="cpu")


def test_prompt_format(policy):
    ids = policy.prompt_ids("Pick up the BBQ sauce and place it in the basket").tolist()
    n = policy.model.config.image_seq_length
    assert ids[0] == 1                                                 # <s>
    assert ids[1:1 + n] == [policy.model.config.image_token_index] * n  # patches right after <s>
    from transformers import AutoTokenizer
    t = AutoTokenizer.from_pretrained(HERE / "default_policy")
    text = t.decode(ids[1 + n:])
    assert text == "In : What action should the robot take to pick up the bbq sauce and place it in the basket ? Out :"
    assert policy.action_id0 == len(t) - 256


@pytest.fixture(scope="module")
def expert_frames(tmp_path_factory):
    """60 real agentview frames of Task 4 (eval init state 3, never in the default's demos) along the
    scripted expert's hover, descent, close and lift, with the expert's actions and the instruction.
    The expert turns the hand while closing, as in the default's demos (otherwise a shut, unturned hand
    looks like the descent to the policy).
    Rendered in a child process: this one must never hold a GL context, because the env workers
    of later tests are forked from it and would inherit it (they hang in mesa otherwise)."""
    frames_file = tmp_path_factory.mktemp("frames") / "frames.npz"
    script = f"""
import numpy as np
from make_default import ScriptedExpert, make_env
from reward import target_for_task
env, language, init_states = make_env({TASK4}, 256)
env.reset()
obs = env.set_init_state(init_states[3])
for _ in range(10):
    obs, _, _, _ = env.step([0, 0, 0, 0, 0, 0, -1])
expert, frames, labels = ScriptedExpert(target_for_task({TASK4}), turn=0.6), [], []   # as the demos: demos --turn 0.6
for _ in range(60):
    a = expert(env)
    frames.append(obs["agentview_image"]), labels.append(a)
    obs, _, _, _ = env.step(a)
np.savez("{frames_file}", frames=np.array(frames), labels=np.array(labels), language=language)
"""
    r = subprocess.run([sys.executable, "-c", script], cwd=HERE, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    data = np.load(frames_file)
    return list(data["frames"]), data["labels"], str(data["language"])


def test_shipped_checkpoint_is_trained_and_follows_the_expert(policy, expert_frames):
    """The committed default is the SFT checkpoint: on frames of a fixed eval init state (never in
    its demos) its greedy actions point the way the scripted expert moves."""
    # Trained: held-out cross-entropy of the action tokens under half that of a uniform guess over the
    # 256 bins (an untrained model is above it). Not "below its own first batches": a warm start begins low.
    val = json.loads((HERE / "default_policy" / "sft_loss.json").read_text())["val_loss_per_epoch"]
    assert val[-1] < 0.5 * np.log(tgrpo.N_BINS), val
    frames, labels, language = expert_frames
    pv = tgrpo.preprocess_frames(frames, policy.image_processor)
    with policy.model.disable_adapter():
        k, _, _ = tgrpo.sample_actions(policy, policy.prompt_ids(language), pv, greedy=True)
    acts = to_env_action(action_tokens_to_values(k.numpy()), policy.stats)
    assert acts.shape == (60, 7) and np.isfinite(acts).all()
    moving = np.abs(labels[:, :3]) > 0.2                     # clear expert motions only
    agree = (np.sign(acts[:, :3]) == np.sign(labels[:, :3]))[moving].mean()
    assert agree > 0.7, agree
    assert (acts[:, 6] == labels[:, 6]).mean() > 0.7         # open while approaching, closed on the object


def test_sft_greedy_tokens_are_the_rollouts_greedy_actions(policy, expert_frames):
    """make_default.greedy_tokens (the held-out gripper screen of `sft`, no KV cache) picks the same
    7 tokens as tgrpo's greedy decoding (KV cache) on real frames of a fixed eval init state."""
    from make_default import greedy_tokens
    frames, _, language = expert_frames
    pv = tgrpo.preprocess_frames(frames, policy.image_processor)
    prompt = policy.prompt_ids(language)
    with policy.model.disable_adapter():
        k, _, _ = tgrpo.sample_actions(policy, prompt, pv, greedy=True)
        ours = greedy_tokens(policy.model, prompt.expand(len(pv), -1), pv, policy.action_id0)
        # `sft` left-pads the shorter prompts of a batch with <pad> (id 3, masked out): same tokens
        padded = greedy_tokens(policy.model, torch.cat([torch.full((len(pv), 3), 3), prompt.expand(len(pv), -1)], 1),
                               pv, policy.action_id0)
    assert ours.shape == (60, 7)
    assert torch.equal(ours, k), (ours != k).sum().item()
    assert torch.equal(padded, k), (padded != k).sum().item()


def test_sampling_logp_matches_teacher_forcing_and_ref(policy):
    torch.manual_seed(1)
    prompt = policy.prompt_ids("pick up the bbq sauce and place it in the basket")
    pv = torch.randn(3, 3, *[policy.model.config.vision_config.image_size] * 2)
    k, logp_old, ent = tgrpo.sample_actions(policy, prompt, pv)
    assert k.shape == (3, 7) and k.min() >= 0 and k.max() < 256
    # The update's forward (with grad) is the sampling forward: the ratio of Eq. 9 is exactly 1.
    logp = tgrpo.action_logp(tgrpo.decode_actions(policy, prompt, pv, k)[1], k)
    assert logp.requires_grad and torch.equal(logp.detach(), logp_old)
    with torch.no_grad(), policy.model.disable_adapter():
        ref = tgrpo.action_logp(tgrpo.decode_actions(policy, prompt, pv, k)[1], k)
    assert torch.equal(ref, logp.detach())                                        # KL 0 before any update
    assert (ent > 0).all() and (ent <= 7 * math.log(256) + 1e-4).all()
    g, _, _ = tgrpo.sample_actions(policy, prompt, pv, greedy=True)
    assert torch.equal(g, tgrpo.sample_actions(policy, prompt, pv, greedy=True)[0])


def _lora_b(policy):
    return {n: p.detach().clone() for n, p in policy.model.named_parameters() if "lora_B" in n}


def test_update_moves_logp_with_the_advantage(policy):
    torch.manual_seed(2)
    prompt = policy.prompt_ids("pick up the bbq sauce and place it in the basket")
    M, T = 4, 3
    pvs = [torch.randn(M, 3, *[policy.model.config.vision_config.image_size] * 2) for _ in range(T)]
    toks, olds = [], []
    for pv in pvs:
        k, lp, _ = tgrpo.sample_actions(policy, prompt, pv)
        toks.append(k), olds.append(lp)
    rewards = torch.tensor([[16.0] * T, [-2.0] * T, [-2.0] * T, [-2.0] * T])   # env 0 best
    batch = dict(rewards=rewards, tokens=toks, logp_old=torch.stack(olds, 1), pixel_values=pvs)
    before = _lora_b(policy)
    opt = torch.optim.AdamW([p for p in policy.model.parameters() if p.requires_grad], lr=1e-3)
    loss, kl = tgrpo.tgrpo_update(policy, opt, prompt, batch, 0.35, 0.65, 0.04, None)
    after = _lora_b(policy)
    assert all(torch.count_nonzero(b) == 0 for b in before.values())        # LoRA B starts at 0
    assert any(torch.count_nonzero(a) > 0 for a in after.values())          # ... and was trained
    with torch.no_grad():
        new = torch.stack([tgrpo.action_logp(tgrpo.decode_actions(policy, prompt, pv, k)[1], k)
                           for pv, k in zip(pvs, toks)], 1)
    gain = (new - batch["logp_old"]).mean(1)
    assert gain[0] > 0 and gain[0] > gain[1:].max()     # the positive-advantage env became likelier
    assert math.isfinite(loss) and kl >= 0
    batch["logp_old"][0, 0] = float("nan")
    with pytest.raises(FloatingPointError):
        tgrpo.tgrpo_update(policy, opt, prompt, batch, 0.35, 0.65, 0.04, None)


class _GradRecorder:
    """Stands in for the optimizer in tgrpo_update: records each step's LoRA gradients, never moves them."""

    def __init__(self, model):
        self.params = [q for n, q in model.named_parameters() if q.requires_grad]
        self.grads = []

    def zero_grad(self, set_to_none=True):
        for q in self.params:
            q.grad = None

    def step(self):
        self.grads.append(torch.cat([q.grad.flatten() for q in self.params]).clone())


def micro_batch_gradients(policy, pixel_values, seed=3):
    """tgrpo_update's per-step gradients (T = 2, M = 4) with the whole group and with micro-batches
    of 1 and 3 (3 leaves a remainder chunk of 1). LoRA B is randomised first so that every LoRA
    matrix, A included, gets a gradient."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for n, q in policy.model.named_parameters():
            if "lora_B" in n:
                q.normal_(0, 0.02)
    prompt = policy.prompt_ids("pick up the bbq sauce and place it in the basket")
    pvs = [pixel_values[:4], pixel_values[4:8]]
    toks, olds = zip(*[tgrpo.sample_actions(policy, prompt, pv)[:2] for pv in pvs])
    batch = dict(rewards=torch.tensor([[16.0, 4], [-2, 2], [4, 4], [-4, 8]]), tokens=list(toks),
                 logp_old=torch.stack(olds, 1), pixel_values=pvs)
    out = {}
    for mb in (0, 1, 3):
        rec = _GradRecorder(policy.model)
        tgrpo.tgrpo_update(policy, rec, prompt, batch, 0.35, 0.65, 0.04, None, micro_batch=mb)
        out[mb] = torch.stack(rec.grads)                     # (T, n_lora_params)
    with torch.no_grad():                                    # back to the initial adapter (B = 0)
        for n, q in policy.model.named_parameters():
            if "lora_B" in n:
                q.zero_()
    return out


def test_micro_batches_give_the_whole_group_gradient():
    """Checked in float64: in float32 a chunk is a batch of another shape, and the CPU's kernels then
    round differently (measured up to 4e-6 of the largest gradient, machine-dependent); in float64
    the difference was 1e-15, and chunk weights off by a factor 1.0001 already fail this test."""
    torch.manual_seed(0)                                     # LoRA A's init, as in the policy fixture
    pol = tgrpo.load_policy(str(HERE / "default_policy"), lora_rank=8, device="cpu")
    pol.model.double()
    pol.dtype = torch.float64
    size = pol.model.config.vision_config.image_size
    g = micro_batch_gradients(pol, torch.randn(8, 3, size, size, generator=torch.Generator().manual_seed(0)))
    assert (g[0].abs().sum(1) > 0).all()                     # every step has a gradient
    for mb in (1, 3):
        assert torch.allclose(g[mb], g[0], rtol=1e-9, atol=1e-12 * g[0].abs().max()), (mb, (g[mb] - g[0]).abs().max())


# ----------------------------------------------------------------------------- reward.py on real LIBERO
def _control_env(task):
    from libero.libero import benchmark, get_libero_path
    from libero.libero.envs.env_wrapper import ControlEnv
    t = benchmark.get_benchmark_dict()["libero_object"]().get_task(task - 1)
    env = ControlEnv(bddl_file_name=os.path.join(get_libero_path("bddl_files"), t.problem_folder, t.bddl_file),
                     use_camera_obs=False, has_offscreen_renderer=False, ignore_done=True)
    env.seed(0)
    env.reset()
    return env, t


def test_task_targets_match_libero():
    from libero.libero import benchmark
    from reward import TASK_TARGETS, target_for_task
    suite = benchmark.get_benchmark_dict()["libero_object"]()
    for i, target in enumerate(TASK_TARGETS):
        assert target[:-2].replace("_", " ") in suite.get_task(i).language
    assert target_for_task(4) == "bbq_sauce_1"
    with pytest.raises(ValueError):
        target_for_task(11)


def _run_expert(env, reward_fn, expert, steps, until=None):
    trace = []
    for _ in range(steps):
        env.step(expert(env))
        r, info = reward_fn(env)
        trace.append((r, info))
        if until and until(info):
            break
    return trace


@pytest.mark.parametrize("task", [TASK4, 8])
def test_reward_stages_with_scripted_expert(task):
    from make_default import ScriptedExpert
    from reward import PickAndPlaceInBasketReward, target_for_task
    from libero.libero import benchmark
    env, _ = _control_env(task)
    env.set_init_state(benchmark.get_benchmark_dict()["libero_object"]().get_task_init_states(task - 1)[0])
    reward_fn = PickAndPlaceInBasketReward(target_for_task(task))
    for _ in range(10):                                          # settle, gripper open
        env.step([0, 0, 0, 0, 0, 0, -1])
        r, info = reward_fn(env)
    assert (r, info["stage"]) == (-2.0, 0)                     # far from the target at the start
    trace = _run_expert(env, reward_fn, ScriptedExpert(target_for_task(task)), 400, lambda i: i["success"])
    stages = [i["stage"] for _, i in trace]
    first = [stages.index(s) for s in range(5)]                  # every stage is reached, in order
    assert first == sorted(first), stages
    assert trace[-1][0] == 16.0 and trace[-1][1]["success"]
    assert all(r == {0: -2, 1: 2, 2: 4, 4: 16}[i["stage"]] for r, i in trace if i["stage"] != 3)
    assert all(8 <= r <= 12 for r, i in trace if i["stage"] == 3)
    assert not any(i["dropped"] for _, i in trace)


@pytest.mark.parametrize("task", [1, 8])
def test_scripted_expert_succeeds_on_eval_init_states(task):
    """The demo generator's own loop (settle, then the expert) on three of the 50 fixed init states."""
    from make_default import make_env, run_expert
    from reward import target_for_task
    env, _, init_states = make_env(task)
    for i in (7, 41):
        env.reset()
        ok, _, _ = run_expert(env, target_for_task(task), env.set_init_state(init_states[i]))
        assert ok, f"task {task}, init state {i}"
    env.close()


def _turning_expert_run(task, **turns):
    """The expert with `turns` (turn=, descent_turn=) from eval init state 3, without rendering.
    Returns (success, rows): per step (phase, yaw action, eef height, yaw turned since the start)."""
    from make_default import ScriptedExpert, make_env, run_expert
    from reward import target_for_task
    env, _, init_states = make_env(task)
    env.reset()
    obs = env.set_init_state(init_states[3])
    rows = []

    class Logged(ScriptedExpert):
        def __call__(self, e):
            phase = self.PHASES[self.phase]
            a = super().__call__(e)
            d, rob = e.env.sim.data, e.env.robots[0]
            rot = d.site_xmat[rob.eef_site_id].reshape(3, 3) @ self.orientation.T
            rows.append((phase, a[5], d.site_xpos[rob.eef_site_id][2], np.arctan2(rot[1, 0], rot[0, 0])))
            return a
    ok, _, _ = run_expert(env, target_for_task(task), obs, expert=Logged(target_for_task(task), **turns))
    env.close()
    return ok, rows


@pytest.mark.parametrize("task", [TASK4, 7])
def test_scripted_expert_turns_while_it_closes(task):
    """demos --turn: the hand turns while the gripper closes, the close ends on the turn (not on the
    15-step timer), the turn is held through the lift, and the pick and place still succeeds."""
    from make_default import ScriptedExpert
    ok, rows = _turning_expert_run(task, turn=0.6)
    assert ok
    close = [(a5, yaw) for phase, a5, _, yaw in rows if phase == "close"]
    lift = [yaw for phase, _, _, yaw in rows if phase == "lift"]
    assert 8 <= len(close) < ScriptedExpert.TIMEOUT["close"]               # ended by the turn
    assert all(a5 > 0 for a5, _ in close[:5])                              # turning from the first closing step
    assert abs(close[0][1]) < 0.05 and all(abs(yaw - 0.6) < 0.15 for yaw in lift)


def test_scripted_expert_turns_on_the_way_down():
    """demos --descent-turn: on the way down the hand's yaw follows the distance descended (so that an
    image shows how far down it is), the close turns it further, and the pick and place succeeds."""
    ok, rows = _turning_expert_run(TASK4, turn=0.4, descent_turn=5.0)
    assert ok
    descent = np.array([(z, yaw) for phase, _, z, yaw in rows if phase == "descend"])
    close_yaw = [yaw for phase, _, _, yaw in rows if phase == "close"]
    down = descent[0, 0] - descent[:, 0]                                     # metres descended
    assert down[-1] > 0.03 and abs(descent[-1, 1] - 5.0 * down[-1]) < 0.1    # yaw follows the descent
    assert np.corrcoef(down, descent[:, 1])[0, 1] > 0.9
    assert close_yaw[-1] > descent[-1, 1] + 0.25                             # and turns further while closing


def test_scripted_expert_grasps_clear_of_a_tall_neighbour():
    """Cream cheese (task 2) lies next to the tall tomato sauce: on init states 1 and 2 a grasp at
    its origin put the hand on the bottle and failed. The expert now shifts the grasp along the
    box, away from the bottle, and succeeds; a bottle with nothing tall nearby keeps its origin."""
    from make_default import ScriptedExpert, make_env, run_expert
    env, _, init_states = make_env(2)
    for i in (1, 2):
        env.reset()
        env.set_init_state(init_states[i])
        offset = ScriptedExpert("cream_cheese_1").grasp_offset(env.env)
        d = env.env.sim.data
        to_bottle = d.body_xpos[env.env.obj_body_id["tomato_sauce_1"]] - d.body_xpos[env.env.obj_body_id["cream_cheese_1"]]
        assert offset[1] == offset[2] == 0 and offset[0] < 0 < to_bottle[0], offset   # along the box's long (x) side, away
        env.reset()
        ok, _, _ = run_expert(env, "cream_cheese_1", env.set_init_state(init_states[i]))
        assert ok, f"task 2, init state {i}"
    env.close()
    env, _, init_states = make_env(4)
    env.reset()
    env.set_init_state(init_states[0])
    assert not np.any(ScriptedExpert("bbq_sauce_1").grasp_offset(env.env))
    env.close()


def _settle(env, init_state, target):
    """Reset `env` to an eval init state, settle 10 no-op steps; returns a fresh reward for `target`."""
    from reward import PickAndPlaceInBasketReward
    env.seed(0)                     # reset() samples a placement first: the same one, for exact replays
    env.reset()
    env.set_init_state(init_state)
    reward_fn = PickAndPlaceInBasketReward(target)
    for _ in range(10):
        env.step([0, 0, 0, 0, 0, 0, -1])
        reward_fn(env)
    return reward_fn


def _rollout(env, reward_fn, act, steps, stop=lambda info: False):
    """Up to `steps` steps of act(env); returns the actions taken, rewards and infos."""
    actions, rewards, infos = [], [], []
    for _ in range(steps):
        actions.append(act(env))
        env.step(actions[-1])
        r, info = reward_fn(env)
        rewards.append(r), infos.append(info)
        if stop(info):
            break
    return actions, rewards, infos


def _replay(actions):
    it = iter(actions)
    return lambda env: next(it)


HOLD = np.array([0, 0, 0, 0, 0, 0, 1.0])        # stay where you are, gripper closed
OPEN = np.array([0, 0, 0, 0, 0, 0, -1.0])       # stay where you are, gripper open


@pytest.mark.parametrize("task", range(1, 11))
def test_reward_invariants_along_successful_placements(task):
    """reward.py's invariants 1 and 2 on two eval init states of every task (20 states in all), with
    the scripted expert letting go deep in the basket (eef at 0.10 m) on one and well above it (0.30 m,
    no lowering) on the other: from the first lift to success the reward never decreases; success
    pays more than any other step; and the successful trajectory sums to more than the same one
    hovering over the basket (gripper closed) from its first 12 to the same length instead.
    The hover replays the recorded actions on a reset env: a sim-state snapshot would not do,
    because robosuite keeps the gripper's command outside the sim state and a restored grasp opens."""
    from make_default import ScriptedExpert, make_env
    from reward import target_for_task
    env, _, init_states = make_env(task)
    target = target_for_task(task)
    for state, release_z in ((task - 1, 0.10), (task + 24, 0.30)):
        reward_fn = _settle(env, init_states[state], target)
        actions, rewards, infos = _rollout(env, reward_fn, ScriptedExpert(target, release_z=release_z), 400,
                                           lambda info: info["success"])
        r = np.array(rewards)
        case = f"task {task}, init state {state}, release at {release_z} m: {rewards[-12:]}"
        assert infos[-1]["success"] and 12 in rewards, case
        first_lift = int(np.argmax(r >= 8))
        assert np.all(np.diff(r[first_lift:]) >= 0), case                           # invariant 1
        assert r[-1] == 16 and r[:-1].max() == 12, case                             # success pays most
        t = rewards.index(12) + 1                                                  # hover from the first 12 on
        reward_fn = _settle(env, init_states[state], target)
        _, prefix, _ = _rollout(env, reward_fn, _replay(actions[:t]), t)
        _, hover, _ = _rollout(env, reward_fn, lambda e: HOLD, len(r) - t)
        assert prefix == rewards[:t], case                                         # the replay is exact
        assert min(hover) >= 8 and max(hover) == 12, (case, hover)                   # it really hovers
        assert r.sum() > r[:t].sum() + sum(hover), case                             # invariant 2
    env.close()


def test_reward_drop_then_recover_beats_giving_up():
    """Invariant 3: the expert lifts the bbq sauce to 0.30 m and lets go away from the basket. The
    drop step pays -4, below every stage, and only once; from there, a fresh expert that goes back,
    grasps and lifts the bottle again sums to more than staying put, and gets the carry's 8 again."""
    from make_default import ScriptedExpert, make_env
    env, _, init_states = make_env(TASK4)
    reward_fn = _settle(env, init_states[0], "bbq_sauce_1")
    expert = ScriptedExpert("bbq_sauce_1")
    lift, _, infos = _rollout(env, reward_fn, expert, 300, lambda info: expert.PHASES[expert.phase] == "carry")
    assert infos[-1]["lifted"]
    let_go, rewards, infos = _rollout(env, reward_fn, lambda e: OPEN, 20, lambda info: info["dropped"])
    assert infos[-1]["dropped"] and rewards[-1] == -4.0 and not infos[-1]["grasped"]
    _, give_up, infos = _rollout(env, reward_fn, lambda e: OPEN, 150)            # giving up: stay put
    assert not any(i["dropped"] for i in infos)                                 # the penalty is paid once
    reward_fn = _settle(env, init_states[0], "bbq_sauce_1")
    _rollout(env, reward_fn, _replay(lift + let_go), len(lift + let_go))
    _, recover, _ = _rollout(env, reward_fn, ScriptedExpert("bbq_sauce_1"), 150)  # go back, grasp, lift
    assert max(recover) >= 8 and sum(recover) > sum(give_up), (recover, give_up)
    reward_fn.reset()                                                           # memory cleared per episode
    assert not reward_fn.carrying and reward_fn.rest_z is None
    env.close()


# ----------------------------------------------------------------------------- env group
@pytest.fixture(scope="module")
def group():
    envs, instruction, init_states = tgrpo.make_env_group(TASK4, 2, 128, seed=0)
    yield envs, instruction, init_states
    envs.close()


def test_group_starts_from_one_fresh_state(group, policy):
    envs, instruction, init_states = group
    state = tgrpo.new_start_state(envs, seed=123)
    assert min(np.abs(state - s).max() for s in init_states) > 1e-3      # not an eval init state
    assert np.abs(state - tgrpo.new_start_state(envs, seed=124)).max() > 1e-3   # fresh each episode
    envs.set_init_state([state, state])
    a, b = envs.get_sim_state()
    assert np.array_equal(a, b)                                           # the whole group starts equal
    prompt = policy.prompt_ids(instruction)
    torch.manual_seed(5)
    b1 = tgrpo.rollout_group(envs, policy, prompt, state, max_steps=4, settle_steps=2)
    torch.manual_seed(5)
    b2 = tgrpo.rollout_group(envs, policy, prompt, state, max_steps=4, settle_steps=2)
    assert b1["rewards"].shape == (2, 4) and len(b1["tokens"]) == 4
    assert torch.equal(b1["rewards"], b2["rewards"])                     # reproducible for a seed
    assert all(torch.equal(x, y) for x, y in zip(b1["tokens"], b2["tokens"]))
    assert torch.allclose(b1["logp_old"], b2["logp_old"])


def test_evaluate_counts_successes(group, policy):
    envs, instruction, init_states = group
    out = tgrpo.evaluate(envs, policy, policy.prompt_ids(instruction), init_states, trials=3,
                         max_steps=3, settle_steps=1)
    assert out == [False, False, False]                                   # 3 steps cannot succeed; one per trial
    out = tgrpo.evaluate(envs, policy, policy.prompt_ids(instruction), init_states, trials=2,
                         max_steps=2, settle_steps=1, greedy=False)
    assert out == [False, False]


# ----------------------------------------------------------------------------- end to end
def _run(*args, env=None):
    return subprocess.run([sys.executable, str(HERE / "tgrpo.py"), *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=900)


@pytest.mark.parametrize("args,needle", [
    (["--task", "11"], "--task must be 1..10"),
    (["--task", "4", "--num-envs", "1"], "--num-envs must be >= 2"),
    (["--task", "4", "--a1", "nan"], "--a1 must be a finite number"),
    (["--task", "4", "--a2", "-1"], "--a2 must be a finite number"),
    (["--task", "4", "--model", "/nonexistent/openvla"], "is not a directory"),
])
def test_bad_arguments_exit_2(args, needle):
    r = _run(*args)
    assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_not_a_vla_checkpoint_exits_2(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    for model in (tmp_path, tmp_path / "empty"):
        model.mkdir(exist_ok=True)
        r = _run("--task", "4", "--model", str(model), "--out", str(tmp_path / "run"))
        assert r.returncode == 2 and "not a" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_no_gl_backend_exits_2(tmp_path):
    r = _run("--task", "4", "--out", str(tmp_path / "run"), env={"MUJOCO_GL": "nosuchgl", "PYOPENGL_PLATFORM": "egl"})
    assert r.returncode == 2 and "OpenGL backend" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_end_to_end_train_checkpoint_resume_eval(tmp_path):
    out = tmp_path / "run"
    common = ["--task", "4", "--num-envs", "2", "--max-steps", "40", "--eval-trials", "2",
              "--eval-max-steps", "3", "--eval-every", "1", "--camera-res", "128", "--seed", "1", "--out", str(out)]
    r = _run(*common, "--episodes", "1", "--video-every", "1")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "slow image processor" not in r.stderr and "[info]" not in r.stdout          # silenced at their source
    assert "macro file" not in r.stderr + r.stdout                                      # robosuite's import advice
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["episode"] == 1 and rows[0]["group"] == 2 and isinstance(rows[0]["drops"], int)
    from PIL import Image
    group_gif, eval_gif = Image.open(out / "episode0001.gif"), Image.open(out / "eval_ep0001_trial0.gif")
    assert group_gif.size == (2 * 128, 128) and group_gif.n_frames == rows[0]["steps"]    # both envs, every step
    assert eval_gif.size == (128, 128) and eval_gif.n_frames == 3                      # the first trial's 3 steps
    assert "ep   1 |" in r.stdout + r.stderr and "| drops " in r.stdout + r.stderr
    assert "eval task 4 after 1 episodes (greedy): success" in r.stdout
    ckpt = out / "ckpt_ep0001"
    assert (ckpt / "adapter_model.safetensors").exists() and (ckpt / "trainer_state.pt").exists()
    from safetensors.torch import load_file
    w = load_file(str(ckpt / "adapter_model.safetensors"))
    # LoRA's B starts at zero. It moves iff the group's rewards differ: equal rewards give zero
    # advantages (Eq. 6-8), and at pi = pi_ref the KL term has zero gradient too.
    moved = any(torch.count_nonzero(v) > 0 for k, v in w.items() if "lora_B" in k)
    assert moved == (rows[0]["reward_std"] > 0), rows[0]
    assert json.loads((out / "eval.json").read_text())["trials"] == 2
    evals = [json.loads(line) for line in (out / "eval.jsonl").read_text().splitlines()]
    assert [e["episode"] for e in evals] == [0, 1]                     # before training, and at the end
    assert {e["decoding"] for e in evals} == {"greedy"}                  # OpenVLA's protocol unless --eval-sample
    assert all(len(e["per_trial"]) == 2 and sum(e["per_trial"]) == e["successes"] for e in evals)
    if importlib.util.find_spec("matplotlib"):
        assert (out / "curves.png").stat().st_size > 0

    r = _run(*common, "--episodes", "2")                                 # refuses to clobber
    assert r.returncode == 2 and "--resume" in r.stderr
    r = _run(*common, "--episodes", "2", "--resume")
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [row["episode"] for row in rows] == [1, 2]
    assert (out / "ckpt_ep0002" / "trainer_state.pt").exists() and not ckpt.exists()
    evals = [json.loads(line) for line in (out / "eval.jsonl").read_text().splitlines()]
    assert [e["episode"] for e in evals] == [0, 1, 2]                  # resuming does not re-evaluate episode 0
    assert json.loads((out / "args.json").read_text())["resume"] == "False"   # the first run's flags are kept
    assert json.loads((out / "args_resume_ep0001.json").read_text())["resume"] == "True"

    # Re-opening the finished run only evaluates; two resumes from one checkpoint keep both flag records.
    for trials in ("1", "2"):
        r = _run(*common, "--eval-trials", trials, "--episodes", "2", "--resume")     # the last flag wins
        assert r.returncode == 0, r.stderr[-3000:]
    assert [json.loads(x)["episode"] for x in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    evals = [json.loads(line) for line in (out / "eval.jsonl").read_text().splitlines()]
    assert [(e["episode"], e["trials"]) for e in evals[3:]] == [(2, 1), (2, 2)]
    assert json.loads((out / "args_resume_ep0002.json").read_text())["eval_trials"] == "1"
    assert json.loads((out / "args_resume_ep0002_2.json").read_text())["eval_trials"] == "2"


def test_env_worker_crash_stops_cleanly_and_resume_works(tmp_path):
    import psutil
    out = tmp_path / "run"
    common = ["--task", "4", "--num-envs", "2", "--max-steps", "30", "--eval-trials", "0",
              "--camera-res", "128", "--out", str(out)]
    proc = subprocess.Popen([sys.executable, str(HERE / "tgrpo.py"), *common, "--episodes", "3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = out / "metrics.jsonl"
    try:
        deadline = time.time() + 600
        while not (metrics.exists() and metrics.read_text().count("\n") >= 1) and time.time() < deadline:
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            time.sleep(0.5)
        psutil.Process(proc.pid).children()[-1].kill()                   # one env worker dies
        _, err = proc.communicate(timeout=600)
    finally:
        proc.kill()
    assert proc.returncode == 1 and "env worker died" in err and "Traceback" not in err, err[-3000:]
    assert (out / "ckpt_ep0001" / "trainer_state.pt").exists()          # the last good checkpoint
    r = _run(*common, "--episodes", "2", "--resume")
    assert r.returncode == 0, r.stderr[-3000:]
    assert [json.loads(x)["episode"] for x in metrics.read_text().splitlines()] == [1, 2]


# ----------------------------------------------------------------------------- make_default.py
def test_sft_reduces_loss_on_a_small_batch():
    from make_default import PROMPT, actions_to_tokens, build_model, sft_loss
    model, processor = build_model(image_size=32, patch=8, width=32, layers=1, seed=0)
    tok = processor.tokenizer
    prompt = tok("<image>" * model.config.image_seq_length + PROMPT.format("pick up the milk and place it in the basket"))["input_ids"]
    g = torch.Generator().manual_seed(0)
    pv = torch.randn(8, 3, 32, 32, generator=g)
    actions = np.clip(np.random.default_rng(0).normal(0, 0.5, (8, 7)), -1, 1)
    actions[:, 6] = np.sign(actions[:, 6]) + (actions[:, 6] == 0)
    stats = {"q01": [-1.0] * 6 + [0.0], "q99": [1.0] * 6 + [1.0], "mask": [True] * 6 + [False]}
    tokens = torch.from_numpy(actions_to_tokens(actions, stats)).long()
    # The inverse of tgrpo's decoding: tokens decode back to the actions (within half a bin).
    back = to_env_action(action_tokens_to_values(tokens.numpy()), stats)
    assert np.abs(back[:, :6] - actions[:, :6]).max() <= 1 / 255 + 1e-6 and np.array_equal(back[:, 6], actions[:, 6])
    prompts = torch.tensor([prompt] * 8)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = sft_loss(model, prompts, pv, tokens, len(tok) - 256).item()
    for _ in range(30):
        loss = sft_loss(model, prompts, pv, tokens, len(tok) - 256)
        opt.zero_grad(), loss.backward(), opt.step()
    assert first > math.log(len(tok)) * 0.8                                # starts near uniform
    assert loss.item() < 0.5 * first, (first, loss.item())


def write_fake_demos(directory, lengths, rng):
    """One Task 4 demo file as `make_default.py demos` writes it: random 32 px frames and actions."""
    directory.mkdir()
    n = sum(lengths)
    np.savez(directory / "task4.npz", pixel_values=rng.normal(size=(n, 3, 32, 32)).astype(np.float16),
             actions=np.concatenate([rng.uniform(-1, 1, (n, 6)), rng.choice([-1.0, 1.0], (n, 1))], 1).astype(np.float32),
             episode_lengths=np.array(lengths), phases=rng.integers(0, 3, n).astype(np.int8),
             instruction="pick up the bbq sauce and place it in the basket")


def test_sft_command_joins_demo_dirs_and_holds_out_one_demo(tmp_path):
    # Two recording runs of the same task (as in the README's recipe) are one task to `sft`:
    # 2 x 6 + 2 x 5 = 22 steps, of which the last demo (5 steps) is held out.
    rng = np.random.default_rng(0)
    for name, lengths in (("a", [6, 6]), ("b", [5, 5])):
        write_fake_demos(tmp_path / name, lengths, rng)
    out = tmp_path / "ckpt"
    r = subprocess.run([sys.executable, str(HERE / "make_default.py"), "sft", "--demos", str(tmp_path / "a"),
                        str(tmp_path / "b"), "--out", str(out), "--image-size", "32", "--patch", "16",
                        "--width", "32", "--layers", "1", "--epochs", "2", "--batch", "4"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "SFT on 17 steps from 1 tasks (5 held out)" in r.stdout, r.stdout
    log = json.loads((out / "sft_loss.json").read_text())
    assert len(log["loss"]) == 2 * (17 // 4) and len(log["val_loss_per_epoch"]) == 2
    for key in ("val_gripper_agreement_per_epoch", "val_gripper_agreement_descent_per_epoch"):
        assert len(log[key]) == 2 and all(0 <= x <= 1 for x in log[key]), log[key]
    assert (out / "config.json").exists() and log["epochs_done"] == 2

    # A warm start (--init) begins from the checkpoint: at lr 0 it must give back its weights and its
    # action statistics exactly (a fresh build, or statistics recomputed from these demos, would not).
    warm = tmp_path / "warm"
    r = subprocess.run([sys.executable, str(HERE / "make_default.py"), "sft", "--demos", str(tmp_path / "b"),
                        "--init", str(out), "--out", str(warm), "--epochs", "1", "--batch", "4", "--lr", "0",
                        "--seed", "1"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    from safetensors.torch import load_file
    before, after = load_file(out / "model.safetensors"), load_file(warm / "model.safetensors")
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    stats = lambda d: json.loads((d / "config.json").read_text())["norm_stats"]
    assert stats(warm) == stats(out)
    assert json.loads((warm / "sft_loss.json").read_text())["recipe"]["width"] == 32
    # --repeat descend:3 close:2: the training frames of the descent (phase 1) are drawn 3 times, the close's (2) twice
    phases = np.concatenate([np.load(tmp_path / "a" / "task4.npz")["phases"], np.load(tmp_path / "b" / "task4.npz")["phases"][:5]])
    r = subprocess.run([sys.executable, str(HERE / "make_default.py"), "sft", "--demos", str(tmp_path / "a"),
                        str(tmp_path / "b"), "--init", str(out), "--out", str(tmp_path / "rep"), "--epochs", "1",
                        "--batch", "4", "--repeat", "descend:3", "close:2"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"SFT on {17 + 2 * (phases == 1).sum() + (phases == 2).sum()} steps from 1 tasks (5 held out)" in r.stdout, r.stdout
    r = subprocess.run([sys.executable, str(HERE / "make_default.py"), "sft", "--demos", str(tmp_path / "b"),
                        "--out", str(tmp_path / "rep"), "--repeat", "descent:3"], capture_output=True, text=True, timeout=600)
    assert r.returncode != 0 and "want PHASE:K" in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]
    # the architecture comes from the checkpoint: a flag that would change it is refused
    r = subprocess.run([sys.executable, str(HERE / "make_default.py"), "sft", "--demos", str(tmp_path / "b"),
                        "--init", str(out), "--out", str(warm), "--width", "64"], capture_output=True, text=True, timeout=600)
    assert r.returncode != 0 and "drop --width" in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]
    r = subprocess.run([sys.executable, str(HERE / "make_default.py"), "sft", "--demos", str(tmp_path / "b"),
                        "--init", str(tmp_path / "b"), "--out", str(warm)], capture_output=True, text=True, timeout=600)
    assert r.returncode != 0 and "is not a checkpoint" in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]


def test_sft_resume_after_a_cut_gives_the_uninterrupted_weights(tmp_path, monkeypatch):
    # A run cut off in its second epoch (here: an exception in the 6th training batch) continues with
    # --resume from the state of its first epoch and ends with exactly the weights of a run never cut.
    import argparse
    from safetensors.torch import load_file
    import make_default
    write_fake_demos(tmp_path / "d", [6, 6, 5, 5], np.random.default_rng(0))
    args = lambda out, **kw: argparse.Namespace(**{**dict(
        demos=[str(tmp_path / "d")], out=str(out), image_size=32, patch=16, width=32, layers=1, seed=0, init=None,
        epochs=3, batch=4, lr=1e-3, shift=2, val_demos=1, repeat=[], resume=False), **kw})
    make_default.cmd_sft(args(tmp_path / "whole"))                  # 17 training steps: 4 batches per epoch
    assert not (tmp_path / "whole" / "sft_state.pt").exists()        # a finished run keeps only the checkpoint

    loss, calls = make_default.sft_loss, []
    def cut(*x):
        if torch.is_grad_enabled():                                  # training batches, not the held-out loss
            calls.append(1)
            if len(calls) == 6:
                raise KeyboardInterrupt
        return loss(*x)
    monkeypatch.setattr(make_default, "sft_loss", cut)
    with pytest.raises(KeyboardInterrupt):
        make_default.cmd_sft(args(tmp_path / "cut"))
    monkeypatch.setattr(make_default, "sft_loss", loss)
    assert (tmp_path / "cut" / "sft_state.pt").exists()
    resumed_args = lambda **kw: args(tmp_path / "cut", image_size=None, patch=None, width=None, layers=None,
                                     resume=True, **kw)             # the architecture comes from the checkpoint
    with pytest.raises(SystemExit, match="cut run's flags"):          # a changed recipe is refused
        make_default.cmd_sft(resumed_args(lr=2e-3))
    make_default.cmd_sft(resumed_args())
    whole, resumed = load_file(tmp_path / "whole" / "model.safetensors"), load_file(tmp_path / "cut" / "model.safetensors")
    assert whole.keys() == resumed.keys() and all(torch.equal(whole[k], resumed[k]) for k in whole)
    log = lambda d: json.loads((tmp_path / d / "sft_loss.json").read_text())
    assert log("cut")["loss"] == log("whole")["loss"] and log("cut")["epochs_done"] == 3
    recipe = lambda d: {k: v for k, v in log(d)["recipe"].items() if k != "out"}
    assert recipe("cut") == {**recipe("whole"), "resumed_after_epoch": 1}   # the cut run's flags, not --resume's
    assert not (tmp_path / "cut" / "sft_state.pt").exists()
    with pytest.raises(SystemExit, match="no .*sft_state.pt"):        # nothing left to resume
        make_default.cmd_sft(resumed_args())


def test_gripper_agreement_compares_decoded_commands():
    from make_default import gripper_agreement
    # Gripper values 1 (open) and 0 (close) as tokens, plus tokens that decode to 0.6 (open) and 0.4 (close).
    o, c, o2, c2 = values_to_action_tokens(np.array([1.0, 0.0, 0.6, 0.4]))
    pred, label = np.array([o, o2, c, c2, o]), np.array([o, o, c, o, c])
    assert gripper_agreement(pred, label) == 3 / 5                       # frames 0, 1, 2 agree
    assert gripper_agreement(pred, label, [False, False, True, True, True]) == 1 / 3
    assert gripper_agreement(pred, label, [False] * 5) is None


def test_demos_command_records_a_successful_demo_with_its_phases(tmp_path):
    # One real demo (Task 4, rendered at 64 px): the expert's run without the renderer first, then
    # the recorded one; every step has its frame, its action and the expert's phase.
    r = subprocess.run([sys.executable, str(HERE / "make_default.py"), "demos", "--tasks", "4", "--per-task", "1",
                        "--camera-res", "64", "--image-size", "32", "--grip-noise", "0.1", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    d = np.load(tmp_path / "task4.npz")
    n = len(d["actions"])
    assert d["pixel_values"].shape == (n, 3, 32, 32) and d["episode_lengths"].tolist() == [n] and len(d["phases"]) == n
    from make_default import ScriptedExpert
    names = [ScriptedExpert.PHASES[k] for k in d["phases"]]
    assert names[0] == "above" and "descend" in names and "release" in names   # the whole pick and place
    assert all(b >= a for a, b in zip(d["phases"], d["phases"][1:]))             # phases only move forward
    assert "task  4: 1/" in r.stdout, r.stdout


def test_sft_command_without_demos_exits_with_a_message(tmp_path):
    r = subprocess.run([sys.executable, str(HERE / "make_default.py"), "sft", "--demos", str(tmp_path),
                        "--out", str(tmp_path / "ckpt")], capture_output=True, text=True, timeout=600)
    assert r.returncode != 0 and "no task*.npz" in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]


# ----------------------------------------------------------------------------- OpenVLA's own model code
# A tiny, randomly initialised OpenVLA built from OpenVLA's own remote code runs through the same lines
# of tgrpo.py as OpenVLA-7B. OPENVLA_CODE names a directory holding configuration_prismatic.py,
# modeling_prismatic.py and processing_prismatic.py (any openvla-7b checkpoint directory; CI uses
# ../shared/openvla_hf). OpenVLA's code needs timm and torchvision, which stay out of the default
# path's env (README, "Running the paper's setting on a GPU"): OPENVLA_PYTHON names an interpreter
# that has them. In any other interpreter, test_openvla_code_path runs the openvla tests in that one.
OPENVLA_CODE = os.environ.get("OPENVLA_CODE")
OPENVLA_PYTHON = os.environ.get("OPENVLA_PYTHON", sys.executable)
OPENVLA_FILES = ("configuration_prismatic.py", "modeling_prismatic.py", "processing_prismatic.py")
HAS_OPENVLA_DEPS = all(importlib.util.find_spec(m) for m in ("timm", "torchvision"))
HOW_TO_ENABLE = ("set OPENVLA_CODE to a directory with OpenVLA's " + ", ".join(OPENVLA_FILES) +
                 " (e.g. an openvla-7b checkpoint) and OPENVLA_PYTHON to a python with the OpenVLA extras "
                 "(README, 'Running the paper's setting on a GPU')")
needs_openvla = pytest.mark.skipif(not (OPENVLA_CODE and HAS_OPENVLA_DEPS), reason="OpenVLA tests: " + HOW_TO_ENABLE)


def build_tiny_openvla(code_dir, out):
    """A ~50M-parameter OpenVLA checkpoint in `out`, written by OpenVLA's own classes: two ViT-S/14
    towers (DINOv2 + SigLIP geometry: 256 patches at 224 px, fused 6-channel input), OpenVLA's
    projector, a 2-layer Llama of width 64 with OpenVLA's vocabulary layout (32000 ids + pad to
    32064; actions = the last 256 ids), LIBERO-Object norm stats, bf16. Loaded like openvla-7b."""
    import importlib
    pkg = Path(out).parent / "openvla_remote_code"            # the remote code is a package (relative imports)
    pkg.mkdir(parents=True, exist_ok=True)
    for f in OPENVLA_FILES:
        (pkg / f).write_bytes((Path(code_dir) / f).read_bytes())
    (pkg / "__init__.py").write_text("")
    sys.path.insert(0, str(pkg.parent))
    cp, mp, pp = (importlib.import_module(f"openvla_remote_code.{f[:-3]}") for f in OPENVLA_FILES)
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import LlamaTokenizerFast
    words = ["<unk>", "<s>", "</s>"] + sorted({w for w in ("In : What action should the robot take to ? Out : pick up "
                                                          "the and place it in basket bbq sauce").split()})
    vocab = {w: i for i, w in enumerate(words + [f"<t{i}>" for i in range(len(words), 32000)])}
    vocab["\u2581"] = vocab.pop("<t29871>")                    # 29871: Llama's lone-space token
    vocab = dict(sorted(vocab.items(), key=lambda kv: kv[1]))
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tk.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    tok = LlamaTokenizerFast(tokenizer_object=tk, unk_token="<unk>", bos_token="<s>", eos_token="</s>", legacy=True)
    tok.add_special_tokens({"pad_token": "<PAD>"})             # id 32000, as in OpenVLA
    stats = {"libero_object": {"action": {"q01": [-0.8, -0.7, -0.9, -0.1, -0.2, -0.3, 0.0],
                                          "q99": [0.9, 0.8, 0.9, 0.1, 0.2, 0.3, 1.0], "mask": [True] * 6 + [False]}}}
    cfg = cp.OpenVLAConfig(
        vision_backbone_id="dinosiglip-vit-so-224px", llm_backbone_id="llama2-7b-pure", arch_specifier="no-align+fused-gelu-mlp",
        use_fused_vision_backbone=True, image_resize_strategy="resize-naive", norm_stats=stats, n_action_bins=256,
        timm_model_ids=["vit_small_patch14_reg4_dinov2", "vit_small_patch14_dinov2"],   # saved keys override the ids
        text_config=dict(vocab_size=32064, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=4, max_position_embeddings=512, pad_token_id=32000),
        pad_token_id=32000, pad_to_multiple_of=64, torch_dtype="bfloat16")
    torch.manual_seed(0)
    model = mp.OpenVLAForActionPrediction(cfg)
    with torch.no_grad():
        # predict_action takes the argmax over the whole vocabulary, ours over the 256 action ids; a
        # random model prefers other ids, so zero their rows and scale the action rows up.
        w = model.language_model.lm_head.weight
        w[:31744], w[32000:] = 0, 0
        w[31744:32000] *= 20
    cp.OpenVLAConfig.register_for_auto_class()
    mp.OpenVLAForActionPrediction.register_for_auto_class("AutoModelForVision2Seq")
    pp.PrismaticImageProcessor.register_for_auto_class("AutoImageProcessor")
    pp.PrismaticProcessor.register_for_auto_class("AutoProcessor")
    images = pp.PrismaticImageProcessor(
        use_fused_vision_backbone=True, image_resize_strategy="resize-naive", input_sizes=[[3, 224, 224]] * 2,
        interpolations=["bicubic", "bicubic"], means=[[0.485, 0.456, 0.406], [0.5, 0.5, 0.5]],
        stds=[[0.229, 0.224, 0.225], [0.5, 0.5, 0.5]])
    model.to(torch.bfloat16).save_pretrained(out)
    pp.PrismaticProcessor(image_processor=images, tokenizer=tok).save_pretrained(out)
    return Path(out)


@pytest.mark.skipif(HAS_OPENVLA_DEPS, reason="this interpreter has OpenVLA's extras: the openvla tests run here directly")
def test_openvla_code_path(tmp_path):
    """Runs the openvla tests below in OPENVLA_PYTHON, the env with OpenVLA's extras."""
    if not OPENVLA_CODE:
        pytest.skip("OpenVLA's own model code is not tested: " + HOW_TO_ENABLE)
    missing = [f for f in OPENVLA_FILES if not (Path(OPENVLA_CODE) / f).exists()]
    assert not missing, f"OPENVLA_CODE={OPENVLA_CODE} lacks {missing}"
    env = {**os.environ, "OPENVLA_CODE": str(Path(OPENVLA_CODE).resolve())}
    probe = subprocess.run([OPENVLA_PYTHON, "-c", "import timm, torchvision"], capture_output=True, text=True)
    if "torchvision::nms does not exist" in probe.stderr:
        # CPU-only torch beside PyPI's CUDA-built torchvision (shared/notes): its compiled ops do not
        # load, and OpenVLA only needs its Python transforms. Skip registering the ops; never on a GPU.
        (tmp_path / "sitecustomize.py").write_text(
            "import sys, types\nsys.modules.setdefault('torchvision._meta_registrations', "
            "types.ModuleType('torchvision._meta_registrations'))\n")
        env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
        probe = subprocess.run([OPENVLA_PYTHON, "-c", "import timm, torchvision"], capture_output=True, text=True, env=env)
    assert probe.returncode == 0, f"OPENVLA_PYTHON={OPENVLA_PYTHON} cannot import timm and torchvision:\n{probe.stderr[-2000:]}"
    t0 = time.time()
    r = subprocess.run([OPENVLA_PYTHON, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(Path(__file__)),
                        "-k", "openvla_ and not openvla_code_path", "--basetemp", str(tmp_path / "inner")],
                       cwd=HERE, capture_output=True, text=True, env=env, timeout=3000)
    print(r.stdout[-3000:], f"\nopenvla tests: {time.time() - t0:.0f} s")
    assert r.returncode == 0 and " passed" in r.stdout and "skipped" not in r.stdout, r.stdout[-6000:] + r.stderr[-3000:]


@pytest.fixture(scope="module")
def tiny_openvla(tmp_path_factory):
    return build_tiny_openvla(OPENVLA_CODE, tmp_path_factory.mktemp("openvla") / "tiny-openvla")


@pytest.fixture(scope="module")
def openvla_policy(tiny_openvla):
    torch.manual_seed(0)
    return tgrpo.load_policy(str(tiny_openvla), lora_rank=8, device="cpu")


@pytest.fixture(scope="module")
def openvla_policy_fp32(tiny_openvla):
    """The same policy in float32: on a CPU with bf16 matrix units (AMX) bf16 rounding depends on the
    batch shape, so checks that compare batches of different shapes run here."""
    torch.manual_seed(0)
    pol = tgrpo.load_policy(str(tiny_openvla), lora_rank=8, device="cpu")
    pol.model.float()
    pol.dtype = torch.float32
    return pol


@needs_openvla
@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
def test_openvla_greedy_actions_equal_predict_action(openvla_policy, openvla_policy_fp32, expert_frames, dtype):
    """On real LIBERO frames, the greedy action of our decoding (what evaluate() sends to the env) equals
    OpenVLA's own predict_action, one frame at a time, after OpenVLA's LIBERO gripper mapping ([0, 1] ->
    [-1, 1], binarize, flip), in all 7 dims. In bf16 (the loaded dtype) ours also runs one frame at a
    time: on a CPU with bf16 matrix units (AMX) the rounding depends on the batch shape, and near-tied
    logits then flip (2 of 224 dims, measured), and a forward costs ~4.5x float32's (measured), so bf16
    checks 16 of the images. A float32 copy checks all 32 in one batch, as evaluate() sends them."""
    frames, _, language = expert_frames
    pol = openvla_policy_fp32 if dtype == "float32" else openvla_policy
    prompt = pol.prompt_ids(language)
    # 20 states of the episode, plus 12 noise images: a random network maps similar frames to similar
    # actions, and the noise makes the greedy actions differ, so the comparison can fail.
    noise = np.random.default_rng(0).integers(0, 256, (12, *frames[0].shape), dtype=np.uint8)
    images = frames[::3] + list(noise)
    if dtype == "bfloat16":
        images = images[::2]                                          # 10 states + 6 noise images
    pv = tgrpo.preprocess_frames(images, pol.image_processor)
    chunk = len(pv) if dtype == "float32" else 1
    k = torch.cat([tgrpo.sample_actions(pol, prompt, pv[i:i + chunk], greedy=True)[0] for i in range(0, len(pv), chunk)])
    ours = to_env_action(action_tokens_to_values(k.numpy()), pol.stats)
    theirs = []
    with torch.no_grad():
        base = pol.model.get_base_model()
        for i in range(len(pv)):
            a = np.asarray(base.predict_action(input_ids=prompt[None], pixel_values=pv[i:i + 1].to(pol.dtype),
                                               unnorm_key="libero_object", do_sample=False), dtype=float)
            a[-1] = -np.sign(2 * a[-1] - 1)
            theirs.append(a)
    theirs = np.array(theirs)
    equal = int((ours == theirs).sum())
    distinct = len({tuple(r) for r in k.tolist()})
    print(f"greedy parity with predict_action ({dtype}, batches of {chunk}): {equal}/{theirs.size} dims equal, "
          f"{distinct} different actions")
    assert equal == theirs.size, np.argwhere(ours != theirs)
    assert distinct >= (10 if dtype == "float32" else 8)    # many different actions were compared (of 32 / 16)


@needs_openvla
def test_openvla_ratio_is_one_before_the_update_and_ref_is_the_base_model(openvla_policy, tiny_openvla, expert_frames):
    """Eq. 9: pi_old recorded while sampling equals pi_theta as the update computes it (with grad)
    before any optimizer step; inside disable_adapter() the log-prob is the loaded base model's,
    before and after an update that moves the LoRA weights."""
    from transformers import AutoModelForVision2Seq
    frames, _, language = expert_frames
    pol = openvla_policy
    prompt = pol.prompt_ids(language)
    pv = tgrpo.preprocess_frames(frames[1::3][:8], pol.image_processor)     # bf16 forwards are slow on CPU
    base = SimpleNamespace(**{**vars(pol), "model": AutoModelForVision2Seq.from_pretrained(
        tiny_openvla, trust_remote_code=True, torch_dtype=torch.bfloat16).eval()})
    base.decode_step = lambda ids, past: base.model.language_model(input_ids=ids, past_key_values=past, use_cache=True)

    def logps(p, pvs, toks, ref=False):
        with torch.no_grad(), p.model.disable_adapter() if ref else contextlib.nullcontext():
            return torch.cat([tgrpo.action_logp(tgrpo.decode_actions(p, prompt, x, t)[1], t) for x, t in zip(pvs, toks)])

    torch.manual_seed(4)
    pvs = list(pv.split(4))                                           # 2 groups of M = 4
    toks, olds = zip(*[tgrpo.sample_actions(pol, prompt, x)[:2] for x in pvs])
    gaps = []
    for x, t, old in zip(pvs, toks, olds):
        new = tgrpo.action_logp(tgrpo.decode_actions(pol, prompt, x, t)[1], t)   # the update's forward, with grad
        assert new.requires_grad
        gaps.append((new.detach() - old).abs().max().item())
    print(f"|log pi_theta - log pi_old| before the first update: max {max(gaps):.3g} over {len(pv)} samples")
    assert max(gaps) == 0.0
    assert torch.equal(logps(pol, pvs, toks, ref=True), logps(base, pvs, toks))

    before = {n: q.detach().clone() for n, q in pol.model.named_parameters() if "lora_" in n}
    batch = dict(rewards=torch.tensor([[16.0], [-2.0], [-2.0], [-2.0]]), tokens=[toks[0]],
                 logp_old=olds[0][:, None], pixel_values=[pvs[0]])
    opt = torch.optim.AdamW([q for q in pol.model.parameters() if q.requires_grad], lr=1e-2)
    tgrpo.tgrpo_update(pol, opt, prompt, batch, 0.35, 0.65, 0.04, None)
    changed = [n for n, q in pol.model.named_parameters() if "lora_B" in n and not torch.equal(q, before[n])]
    assert changed and all("language_model" in n for n in changed)   # LoRA lives in the LLM only
    after = logps(pol, [pvs[0]], [toks[0]])
    assert after[0] > olds[0][0] and (after - olds[0])[0] > (after - olds[0])[1:].max()   # positive advantage: likelier
    assert torch.equal(logps(pol, pvs, toks, ref=True), logps(base, pvs, toks))           # pi_ref did not move
    with torch.no_grad():
        for n, q in pol.model.named_parameters():
            if n in before:
                q.copy_(before[n])


@needs_openvla
def test_openvla_micro_batches_give_the_whole_group_gradient(openvla_policy_fp32, expert_frames):
    """Through OpenVLA's own decoding path, micro-batches add up to the whole group's gradient. Checked
    on the float32 copy: in bf16 a chunk is a batch of another shape, and on a CPU with bf16 matrix
    units (AMX) that alone moved the gradient by 6% (measured), which says nothing about accumulation."""
    pol = openvla_policy_fp32
    frames, _, _ = expert_frames
    pv = tgrpo.preprocess_frames(frames[2::7][:8], pol.image_processor)
    g = micro_batch_gradients(pol, pv)
    assert (g[0].abs().sum(1) > 0).all()
    for mb in (1, 3):
        rel = ((g[mb] - g[0]).norm(dim=1) / g[0].norm(dim=1)).max().item()
        print(f"micro-batch {mb}: relative gradient difference {rel:.2e}")
        assert rel < 1e-4, rel


@needs_openvla
def test_openvla_end_to_end_train_resume_eval(tiny_openvla, tmp_path):
    """The issue's command on OpenVLA's own code: M = 2, 2 episodes, an evaluation, --resume; the
    adapter is saved and loads with peft's PeftModel.from_pretrained onto the base checkpoint."""
    from peft import PeftModel
    from transformers import AutoModelForVision2Seq
    out = tmp_path / "run"
    common = ["--task", "4", "--model", str(tiny_openvla), "--num-envs", "2", "--max-steps", "4", "--eval-trials", "2",
              "--eval-max-steps", "4", "--camera-res", "128", "--micro-batch", "1", "--out", str(out)]
    r = _run(*common, "--episodes", "1")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "timm 0.9.10" in r.stdout and "dtype bfloat16" in r.stdout, r.stdout
    r = _run(*common, "--episodes", "2", "--resume")
    assert r.returncode == 0, r.stderr[-3000:]
    print(r.stdout)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [row["episode"] for row in rows] == [1, 2] and all(math.isfinite(row["loss"]) for row in rows)
    evals = [json.loads(line) for line in (out / "eval.jsonl").read_text().splitlines()]
    assert [(e["episode"], e["trials"], e["decoding"]) for e in evals] == [(1, 2, "greedy"), (2, 2, "greedy")]
    ckpt = out / "ckpt_ep0002"
    from safetensors.torch import load_file
    saved = load_file(str(ckpt / "adapter_model.safetensors"))
    base = AutoModelForVision2Seq.from_pretrained(tiny_openvla, trust_remote_code=True, torch_dtype=torch.bfloat16)
    loaded = PeftModel.from_pretrained(base, ckpt)
    state = {n: q for n, q in loaded.named_parameters() if "lora_" in n}
    assert len(state) == len(saved) > 0
    for n, v in saved.items():
        assert torch.equal(state[n.replace(".weight", ".default.weight")], v)
    moved = any(torch.count_nonzero(v) > 0 for n, v in saved.items() if "lora_B" in n)
    assert moved == any(row["reward_std"] > 0 for row in rows), rows     # zero advantages leave B at 0
