"""TGRPO: Trajectory-wise Group Relative Policy Optimization (arXiv 2506.08440), single-file reference.

Online RL fine-tuning of a vision-language-action policy in LIBERO-Object. What TGRPO changes
with respect to GRPO (paper Sec. 3.2-3.3, Algorithm 1):
  * a group is M parallel copies of ONE task, all started from the same state; they run until
    any of them succeeds or max steps is hit, so all M trajectories have the same length T;
  * the advantage fuses a per-step group z-score S_{i,t} (Eq. 6) with a per-trajectory z-score
    T_i of the summed reward (Eq. 7): Adv_{i,t} = a1 * S_{i,t} + a2 * T_i (Eq. 8);
  * rewards come from a dense multi-stage reward (reward.py, Algorithm 2);
  * the loss of Eq. 9 (ratio * Adv, a KL penalty to the reference, no clipping) is applied time
    step by time step: for each t, one optimizer update on the M samples of that step.

    python tgrpo.py --task 4 --a1 0.35 --a2 0.65                         # embedded CPU default
    python tgrpo.py --task 4 --model /path/to/openvla-7b-finetuned-libero-object   # on a GPU

Importing this file needs only torch and numpy: libero, mujoco and transformers load on use.
"""
import argparse
import contextlib
import functools
import io
import json
import logging
import math
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from reward import PickAndPlaceInBasketReward, target_for_task

HERE = Path(__file__).resolve().parent
# Table 3 of the paper: (a1, a2) per task; the defaults of --a1/--a2.
TABLE3 = {1: (10, 1), 2: (1, 0.1), 3: (10, 5), 4: (0.35, 0.65), 5: (0.3, 0.7),
          6: (0.3, 0.7), 7: (10, 1), 8: (10, 1), 9: (0.3, 0.7), 10: (0.3, 0.7)}


# ----------------------------------------------------------------------------- args
def parse_args(argv=None):
    p = argparse.ArgumentParser(description="TGRPO on one LIBERO-Object task (paper Algorithm 1).")
    p.add_argument("--task", type=int, required=True, help="task 1..10 as in the paper's Table 2 (4 = bbq sauce)")
    p.add_argument("--a1", type=float, default=None, help="weight of the step advantage S (Eq. 8); default: Table 3 for --task")
    p.add_argument("--a2", type=float, default=None, help="weight of the trajectory advantage T (Eq. 8); default: Table 3 for --task")
    p.add_argument("--beta", type=float, default=0.04, help="KL penalty weight (Eq. 9); the paper gives none, 0.04 is GRPO's")
    p.add_argument("--clip-eps", type=float, default=None, help="PPO-style ratio clipping; off by default as in Eq. 9")
    p.add_argument("--lr", type=float, default=1e-5, help="AdamW learning rate (paper A.1.2)")
    p.add_argument("--episodes", type=int, default=30, help="training episodes, one group each (paper A.1.2); 0 = evaluate only")
    p.add_argument("--max-steps", type=int, default=200, help="max policy steps per training episode (paper A.1.2)")
    p.add_argument("--num-envs", type=int, default=8, help="group size M: parallel envs of the task (paper: unspecified)")
    p.add_argument("--seed", type=int, default=0, help="seeds torch, numpy, python and the episode start states")
    p.add_argument("--model", default=str(HERE / "default_policy"),
                   help="local VLA checkpoint directory (OpenVLA or the embedded default)")
    p.add_argument("--lora-rank", type=int, default=32, help="LoRA rank (OpenVLA's fine-tuning default)")
    p.add_argument("--micro-batch", type=int, default=0,
                   help="update the M samples of a step in chunks of this size, accumulating gradients: "
                        "the same update with less GPU memory (0: all M at once)")
    p.add_argument("--out", default=None, help="output directory (default: runs/task<N>_a1_<a1>_a2_<a2>_seed<S>)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    p.add_argument("--eval-trials", type=int, default=50, help="evaluation episodes on the suite's fixed init states (paper: 50)")
    p.add_argument("--eval-every", type=int, default=0, help="also evaluate before training and every N episodes (0: only at the end)")
    p.add_argument("--eval-sample", action="store_true",
                   help="evaluate with sampled actions, as in the rollouts, instead of OpenVLA's greedy decoding")
    p.add_argument("--eval-max-steps", type=int, default=280, help="max steps per evaluation episode (OpenVLA's LIBERO-Object eval)")
    p.add_argument("--settle-steps", type=int, default=10, help="no-op steps after a reset while objects settle (OpenVLA eval)")
    p.add_argument("--camera-res", type=int, default=256, help="agentview render resolution (OpenVLA's LIBERO eval: 256)")
    p.add_argument("--video-every", type=int, default=0,
                   help="write a GIF of the training group (all M envs tiled) every N episodes (0: never); "
                        "every evaluation writes one of its first trial")
    p.add_argument("--serial-envs", action="store_true", help="run envs in this process (DummyVectorEnv) instead of subprocesses")
    args = p.parse_args(argv)
    if not 1 <= args.task <= 10:
        p.error(f"--task must be 1..10 (Table 2), got {args.task}")
    a1, a2 = TABLE3[args.task]
    args.a1 = a1 if args.a1 is None else args.a1
    args.a2 = a2 if args.a2 is None else args.a2
    for name in ("a1", "a2", "beta", "lr"):
        v = getattr(args, name)
        if not math.isfinite(v) or v < 0:
            p.error(f"--{name} must be a finite number >= 0, got {v}")
    if args.clip_eps is not None and not 0 < args.clip_eps < 1:
        p.error(f"--clip-eps must be in (0, 1), got {args.clip_eps}")
    if args.num_envs < 2:
        p.error(f"--num-envs must be >= 2: a group of one has no relative advantage (got {args.num_envs})")
    for name in ("episodes", "eval_trials", "eval_every", "settle_steps", "micro_batch", "video_every"):
        if getattr(args, name) < 0:
            p.error(f"--{name.replace('_', '-')} must be >= 0")
    for name in ("max_steps", "eval_max_steps", "lora_rank", "camera_res"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if not Path(args.model).is_dir():
        p.error(f"--model {args.model} is not a directory")
    args.out = Path(args.out or f"runs/task{args.task}_a1_{args.a1:g}_a2_{args.a2:g}_seed{args.seed}")
    return args


def die(msg, code=2):
    print(f"tgrpo.py: error: {msg}", file=sys.stderr)
    sys.exit(code)


# ----------------------------------------------------------------------------- Eq. 6-9
def _group_zscore(x, dim):
    """(x - mean) / std over the group dim, std with n-1 as in Eq. 6/7.
    A group whose values are all equal has no relative signal: advantage 0, never NaN."""
    if x.shape[dim] < 2:
        raise ValueError(f"a group needs at least 2 members to compare, got {x.shape[dim]}")
    x = x if x.is_floating_point() else x.float()
    mean, std = x.mean(dim, keepdim=True), x.std(dim, keepdim=True, correction=1)
    flat = x.amax(dim, keepdim=True) == x.amin(dim, keepdim=True)
    return torch.where(flat, torch.zeros_like(x), (x - mean) / torch.where(flat, torch.ones_like(std), std))


def step_advantages(rewards):
    """Eq. 6. rewards: (M, T) per-step rewards R_{i,t} -> S: (M, T), z-scored across the M envs at each t."""
    if rewards.dim() != 2:
        raise ValueError(f"rewards must be (M, T), got shape {tuple(rewards.shape)}")
    return _group_zscore(rewards, dim=0)


def trajectory_advantages(rewards):
    """Eq. 7. rewards: (M, T) -> T: (M,), the z-score of R_i = sum_t R_{i,t} across the group."""
    if rewards.dim() != 2:
        raise ValueError(f"rewards must be (M, T), got shape {tuple(rewards.shape)}")
    return _group_zscore(rewards.sum(dim=1), dim=0)


def tgrpo_advantages(rewards, a1, a2):
    """Eq. 8. rewards: (M, T) -> Adv: (M, T) = a1 * S_{i,t} + a2 * T_i (T_i broadcast over t)."""
    return a1 * step_advantages(rewards) + a2 * trajectory_advantages(rewards)[:, None]


def tgrpo_loss(logp, logp_old, adv, traj_len=1, beta=0.0, logp_ref=None, clip_eps=None):
    """Eq. 9 for the M samples of one time step, negated (a loss to minimize).
    logp: (M,) log pi_theta(a_i,t) of each sampled action (sum over its 7 tokens), with grad;
    logp_old: (M,) the same under the sampling policy; adv: (M,) Adv_{i,t}; logp_ref: (M,)
    under pi_ref (needed when beta > 0); traj_len: |o_i|. Returns a scalar:
        ( -mean_i(r_i * Adv_i) + beta * mean_i(KL_i) ) / traj_len,   r_i = exp(logp - logp_old),
    KL_i = exp(ref - logp) - (ref - logp) - 1 (the k3 estimator, >= 0, as in GRPO).
    clip_eps (off by default: Eq. 9 has no clipping) uses min(r * Adv, clip(r, 1-eps, 1+eps) * Adv)."""
    ratio = torch.exp(logp - logp_old.detach())
    gain = ratio * adv
    if clip_eps is not None:
        gain = torch.minimum(gain, ratio.clamp(1 - clip_eps, 1 + clip_eps) * adv)
    loss = -gain.mean()
    if beta > 0:
        if logp_ref is None:
            raise ValueError("beta > 0 needs logp_ref")
        d = logp_ref.detach() - logp
        loss = loss + beta * (torch.exp(d) - d - 1).mean()
    return loss / traj_len


# ----------------------------------------------------------------------------- action tokens (OpenVLA)
N_BINS = 256                                           # actions are the last 256 token ids
BINS = np.linspace(-1.0, 1.0, N_BINS)                  # 256 edges -> 255 bin centers
BIN_CENTERS = (BINS[:-1] + BINS[1:]) / 2


def values_to_action_tokens(x):
    """Normalized actions in [-1, 1], (..., 7) -> action token index k in [0, 256), where the
    vocabulary id is vocab_size - 256 + k == vocab_size - bin (OpenVLA's tokenizer)."""
    return N_BINS - np.digitize(np.clip(x, -1.0, 1.0), BINS)


def action_tokens_to_values(k):
    """Inverse of values_to_action_tokens: the bin center (ids of bins 255 and 256 decode alike)."""
    return BIN_CENTERS[np.clip(N_BINS - np.asarray(k) - 1, 0, N_BINS - 2)]


def to_env_action(values, stats):
    """(M, 7) normalized values -> LIBERO actions: un-normalize with q01/q99 where mask, then the
    gripper [0, 1] (1 = open) -> binarized {-1 open, +1 close} as in OpenVLA's LIBERO eval."""
    q01, q99, mask = (np.asarray(stats[k]) for k in ("q01", "q99", "mask"))
    a = np.where(mask, 0.5 * (values + 1) * (q99 - q01) + q01, values)
    a[:, -1] = -np.sign(2 * a[:, -1] - 1)
    a[:, -1][a[:, -1] == 0] = -1.0                     # exactly 0.5 counts as open
    return a


def preprocess_frames(frames, image_processor):
    """agentview frames (M, H, W, 3) uint8 -> pixel_values, as OpenVLA's LIBERO eval: rotate 180
    degrees (LIBERO renders upside down), JPEG round trip, 224x224, center crop of 90% area."""
    from PIL import Image
    images = []
    for f in frames:
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(f[::-1, ::-1])).save(buf, format="JPEG", quality=95)
        img = Image.open(buf).convert("RGB").resize((224, 224), Image.LANCZOS)
        c = 224 * (1 - math.sqrt(0.9)) / 2
        images.append(img.crop((c, c, 224 - c, 224 - c)).resize((224, 224), Image.LANCZOS))
    return image_processor(images, return_tensors="pt")["pixel_values"]


# ----------------------------------------------------------------------------- env group
class RewardedEnv:
    """One LIBERO env plus its own Algorithm 2 reward, so the reward is computed inside the
    vector-env worker that owns the simulator. Speaks the worker protocol of LIBERO's venv."""

    def __init__(self, bddl, target, res):
        from libero.libero.envs import OffScreenRenderEnv
        self.env = OffScreenRenderEnv(bddl_file_name=bddl, camera_names=["agentview"], camera_heights=res,
                                      camera_widths=res, ignore_done=True)   # horizon handled here
        self.reward_fn = PickAndPlaceInBasketReward(target)

    def __getattr__(self, name):              # seed, get_sim_state, check_success, close: the env's own
        return getattr(self.env, name)

    def reset(self):
        self.reward_fn.reset()
        return self.env.reset()

    def set_init_state(self, state):
        self.reward_fn.reset()
        return self.env.set_init_state(state)

    def step(self, action):
        obs, _, done, _ = self.env.step(action)   # done == task success in LIBERO
        reward, info = self.reward_fn(self.env)
        return obs, reward, done, info


def check_gl():
    """Fail early, in a child process, if MuJoCo cannot get an offscreen GL context."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
    r = subprocess.run([sys.executable, "-c", "import mujoco; mujoco.GLContext(8, 8).free()"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["?"])[-1]
        die(f"no working OpenGL backend for MuJoCo (MUJOCO_GL={os.environ['MUJOCO_GL']}: {last}). "
            "Install libegl1 libgl1-mesa-dri (EGL) or libosmesa6 with MUJOCO_GL=osmesa.")


def quiet_macro_advice(record):
    """Logging filter: robosuite (under LIBERO) advises on import, in three lines, to create a private
    macro file. Harmless here, and it came before anything of ours; only those lines are dropped."""
    return not record.getMessage().startswith(("No private macro file", "It is recommended to use a private macro",
                                               "To setup, run: python"))


def make_env_group(task, num_envs, res, seed, serial=False):
    """M envs of one libero_object task in LIBERO's vector env. Returns (envs, instruction, init states)."""
    logging.getLogger("robosuite_logs").addFilter(quiet_macro_advice)      # before robosuite's first import
    from libero.libero import benchmark, get_libero_path
    from libero.libero.envs import DummyVectorEnv, SubprocVectorEnv
    with contextlib.redirect_stdout(io.StringIO()):      # the suite prints its task order, always the same
        suite = benchmark.get_benchmark_dict()["libero_object"]()
    t = suite.get_task(task - 1)
    bddl = os.path.join(get_libero_path("bddl_files"), t.problem_folder, t.bddl_file)
    fns = [functools.partial(RewardedEnv, bddl, target_for_task(task), res) for _ in range(num_envs)]
    try:
        envs = (DummyVectorEnv if serial else SubprocVectorEnv)(fns)
        envs.seed(seed)
    except (EOFError, OSError) as e:   # a worker died while building its env; it printed why
        die(f"could not start the {num_envs} LIBERO envs ({type(e).__name__}); see the worker's error above", code=1)
    return envs, t.language, suite.get_task_init_states(task - 1)


def new_start_state(envs, seed):
    """A fresh random placement from env 0's reset (never one of the suite's 50 eval states).
    Every worker is seeded, so an evaluation in between does not change later episodes."""
    envs.seed([seed] * len(envs))
    envs.reset(id=0)
    return envs.workers[0].get_sim_state()


# ----------------------------------------------------------------------------- policy
# LoRA on the language model's linear layers only: the same names in OpenVLA (Llama-2) and the
# default (Llama), never the vision towers or lm_head (see shared notes on peft's "all-linear").
LORA_TARGETS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


def load_policy(path, lora_rank, device):
    """The only model-specific code: OpenVLA (remote code, bf16) or the embedded default (Llava)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForVision2Seq, AutoProcessor
    try:
        cfg = AutoConfig.from_pretrained(path, trust_remote_code=True)
    except Exception as e:  # noqa: BLE001 - any failure here means "not a checkpoint"
        die(f"--model {path} is not a VLA checkpoint ({type(e).__name__}: {str(e).splitlines()[0]})")
    stats = getattr(cfg, "norm_stats", None) or {}
    if (Path(path) / "dataset_statistics.json").exists():     # OpenVLA's get_vla prefers this file
        stats = json.loads((Path(path) / "dataset_statistics.json").read_text())
    stats = stats.get("libero_object") or stats.get("libero_object_no_noops")
    if cfg.model_type not in ("openvla", "llava") or stats is None:
        die(f"--model {path} is not a LIBERO-Object VLA checkpoint (model_type={cfg.model_type}, "
            "needs norm_stats for libero_object)")
    stats = dict(stats["action"])
    stats.setdefault("mask", [True] * len(stats["q01"]))       # predict_action's default: all dims
    openvla = cfg.model_type == "openvla"
    dtype = torch.bfloat16 if openvla else torch.float32
    model = AutoModelForVision2Seq.from_pretrained(path, trust_remote_code=True, torch_dtype=dtype).to(device)
    # use_fast=False: the saved (slow) processor, chosen explicitly rather than warned about.
    processor = AutoProcessor.from_pretrained(path, trust_remote_code=True, use_fast=False)
    tok = processor.tokenizer
    # OpenVLA inserts its 256 patch embeddings after <s> itself; Llava needs one placeholder token
    # per patch there. OpenVLA appends the lone-space token 29871 before the actions.
    prefix = "" if openvla else "<image>" * cfg.image_seq_length
    suffix = [29871] if openvla else []

    def prompt_ids(instruction):
        text = f"{prefix}In: What action should the robot take to {instruction.lower()}?\nOut:"
        ids = tok(text, add_special_tokens=True)["input_ids"]
        ids += [s for s in suffix if ids[-1] != s]
        return torch.tensor(ids, device=device)

    lora = LoraConfig(r=lora_rank, lora_alpha=min(lora_rank, 16), lora_dropout=0.0,
                      target_modules=LORA_TARGETS, init_lora_weights="gaussian")
    model = get_peft_model(model, lora)   # B = 0 at init: the adapted model starts equal to pi_ref
    model.eval()                          # no dropout anywhere, and OpenVLA only returns its KV cache in eval mode
    # One cached decoding step (input_ids (M, 1)). OpenVLA's own forward serves it only for batch
    # size 1, so we call its language model (a plain LlamaForCausalLM, LoRA inside) directly.
    lm = model.base_model.model.language_model if openvla else model

    def decode_step(ids, past):
        return lm(input_ids=ids, past_key_values=past, use_cache=True)

    return SimpleNamespace(model=model, image_processor=processor.image_processor, prompt_ids=prompt_ids,
                           decode_step=decode_step, stats=stats, action_id0=tok.vocab_size - N_BINS,
                           dtype=dtype, device=device, kind="openvla" if openvla else "default")


def decode_actions(policy, prompt, pixel_values, tokens=None, greedy=False):
    """The policy's one forward path, for rollouts and for the update alike: one batched prefix
    forward (image + prompt), then 7 decoding steps with the KV cache. prompt: (L,) ids;
    pixel_values: (M, C, H, W); tokens: (M, 7) action indices to teacher-force (the update), or
    None to sample them (greedy: argmax). Returns tokens (M, 7) and logits (M, 7, 256) float32
    over the action ids (the softmax is restricted to them: our choice; OpenVLA decodes the same
    ids). Because sampling and the update run these same lines on the same batch, pi_old and
    pi_theta agree exactly before the first optimizer step: the ratio of Eq. 9 starts at 1."""
    m, a0 = pixel_values.shape[0], policy.action_id0
    ids = prompt.expand(m, -1)
    out = policy.model(input_ids=ids, attention_mask=torch.ones_like(ids),
                       pixel_values=pixel_values.to(policy.device, policy.dtype), use_cache=True)
    chosen, logits = [], []
    for j in range(7):
        lj = out.logits[:, -1, a0:a0 + N_BINS].float()
        if tokens is not None:
            k = tokens[:, j].to(policy.device)
        elif greedy:
            k = lj.argmax(-1)
        else:
            k = torch.multinomial(torch.softmax(lj, -1), 1)[:, 0]
        chosen.append(k), logits.append(lj)
        if j < 6:
            out = policy.decode_step((k + a0)[:, None], out.past_key_values)
    return torch.stack(chosen, 1), torch.stack(logits, 1)


def action_logp(logits, tokens):
    """(M, 7, 256) logits, (M, 7) tokens -> (M,) log-prob of each whole 7-dim action."""
    return torch.log_softmax(logits, -1).gather(-1, tokens.to(logits.device)[..., None]).squeeze(-1).sum(-1)


@torch.no_grad()
def sample_actions(policy, prompt, pixel_values, greedy=False):
    """One batched query for the whole group. Returns tokens (M, 7) int64, logp (M,) under the
    sampling policy (pi_old), entropy (M,) summed over the 7 dims."""
    k, logits = decode_actions(policy, prompt, pixel_values, greedy=greedy)
    ent = -(torch.softmax(logits, -1) * torch.log_softmax(logits, -1)).sum((-2, -1))
    return k.cpu(), action_logp(logits, k).cpu(), ent.cpu()


# ----------------------------------------------------------------------------- rollout
def rollout_group(envs, policy, prompt, start_state, max_steps, settle_steps, greedy=False, record=False):
    """Algorithm 1, line 2: M trajectories from one start state until any env succeeds or max_steps.
    Returns a dict of rewards (M, T), tokens (T, M, 7), logp_old (M, T), pixel_values [T x (M, ...)],
    and drops: how many (env, step) pairs paid the drop penalty. record=True also keeps every step's
    M agentview frames, tiled into one image (frames)."""
    m = len(envs)
    envs.reset()        # clears controller/gripper state that set_init_state does not restore
    obs = envs.set_init_state([start_state] * m)
    noop = np.array([[0, 0, 0, 0, 0, 0, -1.0]] * m)      # gripper open, as OpenVLA's eval waits
    for _ in range(settle_steps):
        obs, _, _, _ = envs.step(noop)
    rewards, tokens, logps, ents, pvs, stages, drops, frames = [], [], [], [], [], [], 0, []
    t_env = t_pol = 0.0
    success = np.zeros(m, dtype=bool)
    from tqdm import tqdm
    for _ in tqdm(range(max_steps), desc="rollout", leave=False, unit="step"):
        t0 = time.perf_counter()
        if record:
            frames.append(tile([o["agentview_image"] for o in obs]))
        pv = preprocess_frames([o["agentview_image"] for o in obs], policy.image_processor)
        k, logp, ent = sample_actions(policy, prompt, pv, greedy)
        t1 = time.perf_counter()
        obs, r, done, info = envs.step(to_env_action(action_tokens_to_values(k.numpy()), policy.stats))
        t_env += time.perf_counter() - t1
        t_pol += t1 - t0
        rewards.append(torch.as_tensor(r, dtype=torch.float32))
        tokens.append(k), logps.append(logp), ents.append(ent), pvs.append(pv)
        stages.append([i["stage"] for i in info])
        drops += sum(i["dropped"] for i in info)
        success |= np.asarray(done, dtype=bool)
        if success.any():                                  # the group ends together (A.1.2)
            break
    return dict(rewards=torch.stack(rewards, 1), tokens=tokens, logp_old=torch.stack(logps, 1),
                entropy=torch.stack(ents, 1), pixel_values=pvs, success=success,
                max_stage=int(np.max(stages)), drops=drops, frames=frames, t_env=t_env, t_policy=t_pol)


# ----------------------------------------------------------------------------- update
def tgrpo_update(policy, optimizer, prompt, batch, a1, a2, beta, clip_eps, micro_batch=0):
    """Algorithm 1, lines 3-11: for each time step t, Eq. 9 over the M samples at t, then one update.
    (S_{i,t} only depends on the fixed rewards, so Eq. 8 is computed for all t up front.)
    micro_batch > 0 splits the M samples into chunks whose gradients add up to the same update,
    so the update's activation memory is that of micro_batch samples instead of M."""
    adv = tgrpo_advantages(batch["rewards"], a1, a2)                  # (M, T), Eq. 8
    M, T = adv.shape
    chunk = micro_batch or M
    losses, kls = [], []
    for t in range(T):
        optimizer.zero_grad(set_to_none=True)
        loss_t, kl_t = 0.0, 0.0
        for i in range(0, M, chunk):
            j = slice(i, i + chunk)
            pv, k = batch["pixel_values"][t][j], batch["tokens"][t][j]
            logp = action_logp(decode_actions(policy, prompt, pv, k)[1], k).cpu()
            logp_ref = None
            if beta > 0:
                with torch.no_grad(), policy.model.disable_adapter():  # pi_ref = base model
                    logp_ref = action_logp(decode_actions(policy, prompt, pv, k)[1], k).cpu()
                d = logp_ref - logp.detach()
                kl_t += (torch.exp(d) - d - 1).sum().item() / M
            # tgrpo_loss is a mean over its samples: weighting each chunk by its share of M
            # makes the accumulated gradient that of the whole group.
            loss = tgrpo_loss(logp, batch["logp_old"][j, t], adv[j, t], traj_len=T, beta=beta,
                              logp_ref=logp_ref, clip_eps=clip_eps) * (len(k) / M)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite loss {loss.item()} at time step {t}")
            loss.backward()
            loss_t += loss.item()
        optimizer.step()
        losses.append(loss_t), kls.append(kl_t)
    return float(np.mean(losses)), float(np.mean(kls)) if beta > 0 else 0.0


# ----------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate(envs, policy, prompt, init_states, trials, max_steps, settle_steps, greedy=True, frames=None):
    """OpenVLA's LIBERO protocol: greedy actions, the suite's fixed init states in order (trial i
    uses state i mod 50), settle, then up to max_steps; success = done. M trials at a time.
    greedy=False samples the actions instead (the policy TGRPO's rollouts optimize).
    frames: a list to receive the first trial's agentview frames (for a video).
    Returns one bool per trial (trial i = init state i mod 50), so runs can be compared state by state."""
    from tqdm import tqdm
    m, successes = len(envs), []
    envs.seed([0] * m)       # OpenVLA's eval seeds its env with 0: the seed moves objects even from a fixed state
    noop = np.array([[0, 0, 0, 0, 0, 0, -1.0]] * m)
    bar = tqdm(total=math.ceil(trials / m) * max_steps, desc="eval", leave=False, unit="step")
    for start in range(0, trials, m):
        ids = list(range(min(m, trials - start)))
        envs.reset(id=ids)
        obs = envs.set_init_state([init_states[(start + i) % len(init_states)] for i in ids], id=ids)
        for _ in range(settle_steps):
            obs, _, _, _ = envs.step(noop[ids], id=ids)
        obs, done = list(obs), np.zeros(len(ids), dtype=bool)
        for step in range(max_steps):
            if frames is not None and start == 0 and not done[0]:
                frames.append(tile([obs[0]["agentview_image"]]))
            live = [i for i in ids if not done[i]]
            pv = preprocess_frames([obs[i]["agentview_image"] for i in live], policy.image_processor)
            k, _, _ = sample_actions(policy, prompt, pv, greedy=greedy)
            step_obs, _, d, _ = envs.step(to_env_action(action_tokens_to_values(k.numpy()), policy.stats), id=live)
            for j, i in enumerate(live):
                obs[i], done[i] = step_obs[j], bool(d[j])
            bar.set_postfix_str(f"success {sum(successes) + done.sum()}/{len(successes) + len(ids)}", refresh=False)
            bar.update(1)
            if done.all():
                break
        bar.update(max_steps - 1 - step)
        successes += done.tolist()
    bar.close()
    return successes


def report_setup(policy):
    """Versions, device and dtype at the start of a run; warn where a version is known to move results."""
    from importlib.metadata import version
    v = {name: version(name) for name in ("torch", "transformers", "peft", "mujoco")}
    if policy.kind == "openvla":
        v["timm"] = version("timm")
    print(" | ".join(f"{k} {x}" for k, x in v.items()) + f" | device {policy.device} | dtype {str(policy.dtype)[6:]}")
    if policy.kind == "openvla" and tuple(int(x) for x in v["mujoco"].split(".")[:3]) >= (3, 3, 3):
        print(f"warning: mujoco {v['mujoco']} renders LIBERO darker than the mujoco the public OpenVLA LIBERO "
              "checkpoints were trained with; they lose ~18 points of success there (openvla#282). "
              "mujoco 2.3.7 (requirements.txt) does not.", file=sys.stderr)


# ----------------------------------------------------------------------------- checkpoints
def latest_checkpoint(out):
    """The newest complete checkpoint (trainer_state.pt is written last), or None."""
    done = sorted(p.parent for p in Path(out).glob("ckpt_ep*/trainer_state.pt"))
    return done[-1] if done else None


def save_checkpoint(out, episode, policy, optimizer):
    ckpt = Path(out) / f"ckpt_ep{episode:04d}"
    policy.model.save_pretrained(ckpt)                        # LoRA adapter only (peft)
    state = dict(episode=episode, optimizer=optimizer.state_dict(), torch_rng=torch.get_rng_state(),
                 numpy_rng=np.random.get_state(), python_rng=random.getstate())
    torch.save(state, ckpt / "trainer_state.pt.tmp")
    os.replace(ckpt / "trainer_state.pt.tmp", ckpt / "trainer_state.pt")
    for old in Path(out).glob("ckpt_ep*"):                    # keep only the newest good one
        if old != ckpt:
            shutil.rmtree(old)
    return ckpt


def load_checkpoint(ckpt, policy, optimizer):
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file
    set_peft_model_state_dict(policy.model, load_file(str(ckpt / "adapter_model.safetensors")))
    state = torch.load(ckpt / "trainer_state.pt", weights_only=False)
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"]), np.random.set_state(state["numpy_rng"]), random.setstate(state["python_rng"])
    return state["episode"]


def plot_run(out):
    """Fig. 3-style PNG of a run (mean trajectory reward per episode, evaluation success) next to its
    metrics. matplotlib is optional: without it, no PNG."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    rows = [json.loads(x) for x in open(out / "metrics.jsonl")] if (out / "metrics.jsonl").exists() else []
    evals = [json.loads(x) for x in open(out / "eval.jsonl")] if (out / "eval.jsonl").exists() else []
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
    ax[0].plot([r["episode"] for r in rows], [r["reward_mean"] for r in rows], "o-", ms=3)
    ax[0].set(xlabel="episode", ylabel="mean trajectory reward", title="rollouts (group of M)")
    # one line per (decoding, trials): 16 and 50 trials are different measurements, never joined
    for decoding, trials in sorted({(e.get("decoding", "greedy"), e["trials"]) for e in evals}):
        pts = [e for e in evals if (e.get("decoding", "greedy"), e["trials"]) == (decoding, trials)]
        ax[1].plot([e["episode"] for e in pts], [100 * e["success_rate"] for e in pts],
                   "s-" if decoding == "greedy" else "^--", label=f"{decoding}, {trials} trials")
    ax[1].set(xlabel="episode", ylabel="success rate (%)", ylim=(-5, 105), title="evaluation, fixed init states")
    if evals:
        ax[1].legend(fontsize=8)
    fig.suptitle(out.name, fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=100)
    plt.close(fig)
    return out / "curves.png"


def tile(images, size=128, cols=4):
    """Agentview frames (each H x W x 3 uint8, upside down as LIBERO renders them) -> one upright
    uint8 image, `cols` per row, each frame `size` px."""
    from PIL import Image
    small = [np.asarray(Image.fromarray(np.ascontiguousarray(f[::-1, ::-1])).resize((size, size))) for f in images]
    small += [np.zeros_like(small[0])] * (-len(small) % cols if len(small) > cols else 0)
    rows = [np.concatenate(small[i:i + cols], 1) for i in range(0, len(small), cols)]
    return np.concatenate(rows, 0)


def save_video(frames, path, fps=10):
    """Frames (list of H x W x 3 uint8) -> an animated GIF, with Pillow (already needed for the images)."""
    from PIL import Image
    if frames:
        images = [Image.fromarray(f) for f in frames]
        images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    return path


# ----------------------------------------------------------------------------- records
def open_run_dir(args):
    """Create --out, refuse to overwrite a run unless --resume, and record the flags. A resumed run
    keeps the first run's args.json; each resume's flags go beside it (args_resume_epNNNN.json,
    then _2, _3, ... for further resumes from the same checkpoint), so no record is lost."""
    out = args.out
    if args.resume and latest_checkpoint(out) is None:
        die(f"--resume: no checkpoint in {out}")
    if not args.resume and (out / "metrics.jsonl").exists():
        die(f"{out} already holds a run: pass --resume to continue it or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    args_file = out / "args.json"
    if args.resume:
        stem, n = f"args_resume_ep{latest_checkpoint(out).name[7:]}", 1
        args_file = out / f"{stem}.json"
        while args_file.exists():
            n += 1
            args_file = out / f"{stem}_{n}.json"
    args_file.write_text(json.dumps({k: str(v) for k, v in vars(args).items()}, indent=1))
    return out


def record_episode(args, episode, batch, loss, kl, seconds):
    """One line on the console and the same numbers as a JSON line in metrics.jsonl."""
    from tqdm import tqdm
    R = batch["rewards"].sum(1)
    row = dict(episode=episode, steps=batch["rewards"].shape[1], reward_mean=R.mean().item(),
               reward_std=R.std().item(), successes=int(batch["success"].sum()), group=args.num_envs,
               max_stage=batch["max_stage"], drops=batch["drops"], logp=batch["logp_old"].mean().item(),
               entropy=batch["entropy"].mean().item(), kl=kl, loss=loss, time_env=batch["t_env"],
               time_policy=batch["t_policy"], time_update=seconds["update"], time_episode=seconds["episode"])
    with open(args.out / "metrics.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")
    tqdm.write(f"ep {episode:3d} | T {row['steps']:3d} | R {row['reward_mean']:8.1f} +- {row['reward_std']:6.1f} "
               f"| succ {row['successes']}/{args.num_envs} | stage {row['max_stage']} | drops {row['drops']} "
               f"| logp {row['logp']:7.2f} | ent {row['entropy']:6.2f} | kl {kl:.2e} | loss {loss:+.2e} "
               f"| env {row['time_env']:.0f}s pol {row['time_policy']:.0f}s upd {row['time_update']:.0f}s")
    if args.video_every and episode % args.video_every == 0:
        save_video(batch["frames"], args.out / f"episode{episode:04d}.gif")


def run_evaluation(args, envs, policy, prompt, init_states, episode):
    """Evaluate now: one JSON line per evaluation in eval.jsonl (the last one also in eval.json), a GIF
    of the first trial, and the curves redrawn."""
    t, frames = time.perf_counter(), []
    decoding = "sampled" if args.eval_sample else "greedy"
    outcomes = evaluate(envs, policy, prompt, init_states, args.eval_trials, args.eval_max_steps,
                        args.settle_steps, greedy=not args.eval_sample, frames=frames)
    n = sum(outcomes)
    res = dict(task=args.task, episode=episode, success_rate=n / len(outcomes), successes=n, trials=args.eval_trials,
               decoding=decoding, seconds=time.perf_counter() - t, per_trial=[int(x) for x in outcomes])
    with open(args.out / "eval.jsonl", "a") as f:
        f.write(json.dumps(res) + "\n")
    (args.out / "eval.json").write_text(json.dumps(res, indent=1))
    save_video(frames, args.out / f"eval_ep{episode:04d}_trial0.gif")
    print(f"eval task {args.task} after {episode} episodes ({decoding}): success {n}/{args.eval_trials} = {100 * n / len(outcomes):.1f}%")
    plot_run(args.out)


# ----------------------------------------------------------------------------- main
def main(argv=None):
    args = parse_args(argv)
    out = open_run_dir(args)
    # Seeding: python, numpy, torch here; episode e's start state from seed * 100003 + e (new_start_state).
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")   # the env workers fork after the tokenizer loads
    check_gl()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    policy = load_policy(args.model, args.lora_rank, device)    # before the envs: a bad --model fails fast
    envs, instruction, init_states = make_env_group(args.task, args.num_envs, args.camera_res, args.seed, args.serial_envs)
    optimizer = torch.optim.AdamW([p for p in policy.model.parameters() if p.requires_grad], lr=args.lr)
    prompt = policy.prompt_ids(instruction)
    report_setup(policy)
    start = load_checkpoint(latest_checkpoint(out), policy, optimizer) if args.resume else 0
    print(f"task {args.task}: '{instruction}' | M={args.num_envs} a1={args.a1:g} a2={args.a2:g} beta={args.beta:g} "
          f"| model {args.model} on {device} | episodes {start}..{args.episodes} | out {out}")
    from tqdm import tqdm
    ep = start
    try:
        if args.eval_every and args.eval_trials and start == 0:
            run_evaluation(args, envs, policy, prompt, init_states, 0)      # the SFT policy, before any update
        for ep in tqdm(range(start, args.episodes), desc="TGRPO", unit="episode", initial=start, total=args.episodes):
            t0 = time.perf_counter()
            state = new_start_state(envs, args.seed * 100_003 + ep)          # Algorithm 1, line 2: a group of M
            batch = rollout_group(envs, policy, prompt, state, args.max_steps, args.settle_steps,
                                  record=args.video_every > 0 and (ep + 1) % args.video_every == 0)
            t1 = time.perf_counter()                                        # lines 3-11: Eq. 8, then Eq. 9 per step
            loss, kl = tgrpo_update(policy, optimizer, prompt, batch, args.a1, args.a2, args.beta, args.clip_eps,
                                    args.micro_batch)
            t2 = time.perf_counter()
            save_checkpoint(out, ep + 1, policy, optimizer)
            record_episode(args, ep + 1, batch, loss, kl, dict(update=t2 - t1, episode=t2 - t0))
            if args.eval_every and args.eval_trials and (ep + 1) % args.eval_every == 0 and ep + 1 < args.episodes:
                run_evaluation(args, envs, policy, prompt, init_states, ep + 1)
        if args.eval_trials:
            run_evaluation(args, envs, policy, prompt, init_states, args.episodes)
        else:
            plot_run(out)
    except (EOFError, BrokenPipeError, ConnectionError) as e:
        die(f"an env worker died during episode {ep + 1} ({type(e).__name__}: {e}); "
            f"last good checkpoint: {latest_checkpoint(out)}; rerun with --resume", code=1)
    except FloatingPointError as e:
        die(f"episode {ep + 1}: {e}; stopped without saving it. Last good checkpoint: {latest_checkpoint(out)}", code=1)
    finally:
        try:
            envs.close()
        except (EOFError, OSError):    # a dead worker cannot be closed; it is gone already
            pass


if __name__ == "__main__":
    main()
