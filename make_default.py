"""The embedded default policy: a tiny model with OpenVLA's interface, trained offline on CPU.

    python make_default.py expert --trials 50                 # 1. scripted expert, success on the eval init states
    python make_default.py demos --per-task 20 --out demos    # 2. demonstrations (fresh placements, rendered)
    python make_default.py sft --demos demos --out default_policy   # 3. build the tiny VLA and SFT it
    python make_default.py sft --demos more --init default_policy --out v2   # (or go on from a checkpoint)
    python make_default.py sft --demos demos --out default_policy --resume  # (or finish a run cut off)
    python make_default.py build --out default_policy         # (a randomly initialised model instead)
    python make_default.py phases default_policy --task 4     # where the policy departs from the expert

The model. OpenVLA-7B is a Prismatic VLM (vision towers -> MLP projector -> Llama-2) that writes
each of the 7 action dimensions as one of the LAST 256 tokens of its vocabulary. The default has
the same shape from transformers' own classes: SiglipVisionModel -> MLP projector ->
LlamaForCausalLM, i.e. a LlavaForConditionalGeneration whose image patches sit right after <s>
as in OpenVLA, a word-level tokenizer whose last 256 ids are the action tokens, and OpenVLA's
`norm_stats` in its config. It is saved with save_pretrained and loaded by tgrpo.py through the
same AutoModelForVision2Seq / AutoProcessor calls as an OpenVLA checkpoint.

The expert reads privileged simulator state; the demonstrations store what the policy sees
during RL (tgrpo.preprocess_frames of the agentview frame) and OpenVLA-style action tokens;
SFT is OpenVLA's objective, cross-entropy on the 7 action tokens, multi-task over all ten tasks.
"""
import argparse
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import (LlamaConfig, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor,
                          PreTrainedTokenizerFast, SiglipImageProcessor, SiglipVisionConfig)

from reward import TASK_TARGETS

SPECIALS = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]
PROMPT = "In: What action should the robot take to {}?\nOut:"   # OpenVLA's prompt
N_ACTION_TOKENS = 256


# ----------------------------------------------------------------------------- the model
def build_tokenizer():
    """Word-level tokenizer over the prompt template and the ten LIBERO-Object instructions;
    the last 256 ids are the action tokens, as in OpenVLA (token id = vocab_size - bin)."""
    split = pre_tokenizers.Whitespace()      # words and punctuation runs
    instructions = [f"pick up the {t[:-2].replace('_', ' ')} and place it in the basket"
                    for t in TASK_TARGETS]
    words = sorted({w for s in instructions for w, _ in split.pre_tokenize_str(PROMPT.format(s))})
    vocab = SPECIALS + words + [f"<act_{i}>" for i in range(N_ACTION_TOKENS)]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocab)}, unk_token="<unk>"))
    tok.pre_tokenizer = split
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>",
                                   eos_token="</s>", pad_token="<pad>")
    fast.add_special_tokens({"additional_special_tokens": ["<image>"]})  # already in vocab
    assert len(fast) == len(vocab)
    return fast


def build_model(image_size=128, patch=16, width=128, layers=2, seed=0, norm_stats=None):
    """A tiny Llava with OpenVLA's interface. Returns (model, processor), both unsaved."""
    torch.manual_seed(seed)
    tok = build_tokenizer()
    n_patches = (image_size // patch) ** 2
    vision = SiglipVisionConfig(hidden_size=width, intermediate_size=2 * width, num_hidden_layers=layers,
                                num_attention_heads=4, image_size=image_size, patch_size=patch)
    text = LlamaConfig(vocab_size=len(tok), hidden_size=width, intermediate_size=2 * width,
                       num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=4,
                       max_position_embeddings=256, bos_token_id=1, eos_token_id=2, pad_token_id=3)
    cfg = LlavaConfig(vision_config=vision, text_config=text, image_token_index=tok.convert_tokens_to_ids("<image>"),
                      vision_feature_layer=-1, vision_feature_select_strategy="full",
                      image_seq_length=n_patches)
    # OpenVLA's un-normalization statistics: dims 0-5 mapped from [-1, 1] to [q01, q99] (identity
    # by default), the gripper passed through as a [0, 1] value (1 = open).
    cfg.norm_stats = {"libero_object": {"action": norm_stats or {
        "q01": [-1.0] * 6 + [0.0], "q99": [1.0] * 6 + [1.0], "mask": [True] * 6 + [False]}}}
    model = LlavaForConditionalGeneration(cfg)
    images = SiglipImageProcessor(size={"height": image_size, "width": image_size})
    processor = LlavaProcessor(image_processor=images, tokenizer=tok, patch_size=patch,
                               vision_feature_select_strategy="full", num_additional_image_tokens=0)
    return model, processor


# ----------------------------------------------------------------------------- the scripted expert
class ScriptedExpert:
    """Privileged pick-and-place controller for any LIBERO-Object task: hover above the target,
    descend, close, lift, carry over the basket, lower, release, holding the gripper's starting
    yaw throughout. Call with a LIBERO env (ControlEnv/OffScreenRenderEnv) once per step;
    returns a 7-dim OSC_POSE delta action."""
    PHASES = ["above", "descend", "close", "lift", "carry", "lower", "release"]
    TIMEOUT = {"above": 80, "descend": 60, "close": 15, "lift": 60, "carry": 80, "lower": 40, "release": 10**9}

    HAND = np.array([0.10, 0.03])    # Panda hand half-extents (m) along the eef x (finger) and y axes; measured 0.10, 0.032

    def __init__(self, target, basket="basket_1", release_z=0.20, turn=0.0, descent_turn=0.0):
        self.target, self.basket, self.release_z = target, basket, release_z   # eef height of the release
        # turn (rad): while closing, turn the hand by this much, and hold that yaw from then on. Seen from
        # the agentview camera the fingers hide behind the hand, so the late descent, the close and the
        # early lift look alike and a single-image policy lifts before it grasps; a turning hand tells
        # them apart, and the close then ends when the turn is done rather than on a timer.
        # descent_turn (rad per metre): on the way down, turn the hand in proportion to the distance
        # descended, so that its yaw, visible from far, tells how far down it is.
        self.turn, self.descent_turn, self.descent_yaw = turn, descent_turn, 0.0
        self.phase, self.steps, self.anchor, self.orientation, self.last_z, self.still = 0, 0, None, None, None, 0
        self.offset = None

    def grasp_offset(self, e):
        """Where to grasp, relative to the target's origin: the origin, unless the hand (20 cm long
        along its finger axis) would come down on a taller neighbour; then the smallest shift along
        the target's long side that clears it (or, if none does, overlaps it least), keeping
        >= 1.5 cm of the target between the fingers. (Cream cheese lies 8 cm from the tall tomato
        sauce: half of its grasps at the origin landed the hand on the bottle.)"""
        d = e.sim.data
        rot = d.site_xmat[e.robots[0].eef_site_id].reshape(3, 3)
        reach = np.abs(rot[:2, :2]) @ self.HAND              # the hand's footprint, world x/y half-sizes
        lo, hi = body_bounds(e.sim, self.target)
        others = [body_bounds(e.sim, name) for name in e.obj_body_id if name != self.target]
        taller = [(olo[:2], ohi[:2]) for olo, ohi in others if ohi[2] > hi[2] + 0.01]
        origin = d.body_xpos[e.obj_body_id[self.target]][:2]
        axis = int(np.argmax(hi[:2] - lo[:2]))                # the target's long side, world x or y
        best, best_overlap = np.zeros(3), np.inf
        for shift in [0.005 * k for k in sorted(range(-10, 11), key=abs)]:   # 0, -5 mm, +5 mm, ... +-5 cm
            c = origin.copy()
            c[axis] += shift
            if shift and not lo[axis] + 0.015 <= c[axis] <= hi[axis] - 0.015:
                continue
            overlap = sum(np.prod(np.clip(np.minimum(c + reach, ohi) - np.maximum(c - reach, olo), 0, None))
                          for olo, ohi in taller)              # footprint area over taller neighbours (m^2)
            if overlap < best_overlap:
                best, best_overlap = np.r_[c - origin, 0.0], overlap
            if overlap == 0:
                break
        return best

    def __call__(self, env):
        e, d = env.env, env.env.sim.data           # re-read every call: a hard reset replaces the sim
        if self.offset is None:
            self.offset = self.grasp_offset(e)
        obj = d.body_xpos[e.obj_body_id[self.target]] + self.offset
        basket = d.body_xpos[e.obj_body_id[self.basket]]
        eef = d.site_xpos[e.robots[0].eef_site_id]
        rot = d.site_xmat[e.robots[0].eef_site_id].reshape(3, 3)
        if self.orientation is None:
            self.orientation = rot.copy()
        name = self.PHASES[self.phase]
        if self.anchor is None:                    # where the eef was when the phase began
            self.anchor = eef.copy()
        goal, grip, tol = {
            "above": (obj + [0, 0, 0.12], -1, 0.005),
            "descend": (obj, -1, 0.005),
            "close": (self.anchor, 1, -1),
            "lift": (np.r_[self.anchor[:2], 0.30], 1, 0.01),
            "carry": (np.r_[basket[:2], 0.30], 1, 0.01),
            "lower": (np.r_[basket[:2], self.release_z], 1, 0.01),
            "release": (self.anchor, -1, -1),
        }[name]
        if name == "descend":
            self.descent_yaw = self.descent_turn * max(0.0, self.anchor[2] - eef[2])
        yaw = self.descent_yaw + (self.turn if self.phase >= self.PHASES.index("close") else 0.0)
        c, s_ = np.cos(yaw), np.sin(yaw)
        err = np.array([[c, -s_, 0], [s_, c, 0], [0, 0, 1]]) @ self.orientation @ rot.T   # hold the (turned) starting yaw
        yaw_err = (err[1, 0] - err[0, 1]) / 2       # sin of the yaw error
        action = np.zeros(7)
        speed = 0.5 if name == "descend" else 1.0  # descend gently: fast fingers push small boxes away
        action[:3] = np.clip((goal - eef) / 0.05, -speed, speed)   # OSC_POSE moves <= 5 cm per unit action
        action[5] = np.clip(yaw_err / 0.5, -1, 1)  # <= 0.5 rad per unit action
        action[6] = grip
        self.steps += 1
        # The fingers stop on the table above the object's origin, so "descend" ends when the hand
        # stalls, not on a timer: a single-image policy cannot learn a switch that only a clock sees.
        # (A turning hand can pause for a step on its way down: then the stall must last two steps.)
        self.still = self.still + 1 if name == "descend" and self.steps > 5 and self.last_z - eef[2] < 0.0005 else 0
        stalled = self.still >= (2 if self.descent_turn else 1)
        self.last_z = eef[2]
        turned = name == "close" and self.turn and self.steps >= 8 and abs(yaw_err) < 0.1   # fingers shut, hand turned
        if np.linalg.norm(goal - eef) < tol or stalled or turned or self.steps >= self.TIMEOUT[name]:
            self.phase, self.steps, self.anchor = min(self.phase + 1, len(self.PHASES) - 1), 0, None
        return action


def body_bounds(sim, body):
    """World axis-aligned bounds (lo, hi), each (3,), of the collision geoms of `body` and its
    children (LIBERO objects keep their geoms in a child body named <body>_main)."""
    m, d = sim.model, sim.data
    points = []
    for g in range(m.ngeom):
        if not m.body_id2name(m.geom_bodyid[g]).startswith(body) or m.geom_contype[g] + m.geom_conaffinity[g] == 0:
            continue
        rot, pos = d.geom_xmat[g].reshape(3, 3), d.geom_xpos[g]
        if m.geom_type[g] == 7:                    # mesh: its vertices
            start, n = m.mesh_vertadr[m.geom_dataid[g]], m.mesh_vertnum[m.geom_dataid[g]]
            local = m.mesh_vert[start:start + n]
        else:                                      # primitive: the corners of its bounding box
            r, h, _ = m.geom_size[g]
            half = {2: [r, r, r], 3: [r, r, h + r], 5: [r, r, h]}.get(m.geom_type[g], m.geom_size[g])  # sphere, capsule, cylinder
            local = np.array([[i, j, k] for i in (-1, 1) for j in (-1, 1) for k in (-1, 1)]) * half
        points.append(local @ rot.T + pos)
    points = np.concatenate(points)
    return points.min(0), points.max(0)


def make_env(task, render_res=None):
    """One LIBERO env of libero_object task 1..10; with render_res, the agentview camera only."""
    from tgrpo import quiet_macro_advice
    logging.getLogger("robosuite_logs").addFilter(quiet_macro_advice)     # robosuite's import advice
    from libero.libero import benchmark, get_libero_path
    from libero.libero.envs.env_wrapper import ControlEnv
    suite = benchmark.get_benchmark_dict()["libero_object"]()
    t = suite.get_task(task - 1)
    bddl = os.path.join(get_libero_path("bddl_files"), t.problem_folder, t.bddl_file)
    kw = dict(use_camera_obs=False, has_offscreen_renderer=False) if render_res is None else dict(
        camera_names=["agentview"], camera_heights=render_res, camera_widths=render_res)
    return ControlEnv(bddl_file_name=bddl, ignore_done=True, **kw), t.language, suite.get_task_init_states(task - 1)


def run_expert(env, target, obs, max_steps=300, settle=10, record=False, noise=0.0, rng=None, grip_noise=0.0,
               phases=None, expert=None):
    """Settle, then the expert until success or max_steps. Returns (success, frames, actions).
    With noise > 0 the executed xyz action gets N(0, noise) added while the recorded label stays
    the expert's (DART-style): the demos then also show how to recover from small drifts.
    grip_noise > 0 does the same for the gripper on the way down: with this probability per step,
    while the hand is still > 5 cm above the target, the gripper is closed for 3-12 steps while the
    label stays "open, keep descending" (the SFT default's greedy failure: it closes early).
    phases: a list that receives the expert's phase index of every recorded step.
    expert: a ScriptedExpert (or a variant of it) for `target`; default a new ScriptedExpert."""
    frames, actions, false_close = [], [], 0
    for _ in range(settle):
        obs, _, _, _ = env.step([0, 0, 0, 0, 0, 0, -1])
    expert = expert or ScriptedExpert(target)
    for _ in range(max_steps):
        a = expert(env)
        if record:
            frames.append(obs["agentview_image"]), actions.append(a)
            if phases is not None:
                phases.append(expert.phase)
        a = a.copy()
        if noise > 0 and expert.PHASES[expert.phase] not in ("close", "release"):
            a[:3] += rng.normal(0, noise, 3)
        if grip_noise > 0 and not false_close and expert.PHASES[expert.phase] == "descend":
            d, e = env.env.sim.data, env.env
            height = d.site_xpos[e.robots[0].eef_site_id][2] - d.body_xpos[e.obj_body_id[target]][2]
            if height > 0.05 and rng.random() < grip_noise:
                false_close = int(rng.integers(3, 13))
        if false_close:
            a[6], false_close = 1.0, false_close - 1
        obs, _, done, _ = env.step(a)
        if done:
            return True, frames, actions
    return False, frames, actions


def parse_tasks(spec):
    lo, _, hi = spec.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def cmd_expert(a):
    """Success of the scripted expert on each task's fixed (evaluation) init states."""
    results = {}
    for task in parse_tasks(a.tasks):
        env, _, init_states = make_env(task)
        wins = 0
        for i in range(a.trials):
            env.reset()
            ok, _, _ = run_expert(env, TASK_TARGETS[task - 1], env.set_init_state(init_states[i % len(init_states)]))
            wins += ok
        results[task] = wins / a.trials
        print(f"task {task:2d} ({TASK_TARGETS[task - 1]}): expert success {wins}/{a.trials}", flush=True)
        env.close()
    if a.out:
        Path(a.out).write_text(json.dumps(results, indent=1))


def cmd_demos(a):
    """Successful expert demonstrations from fresh random placements (never the eval init states),
    stored as the policy sees them: pixel_values (N, 3, S, S) float16 and LIBERO actions (N, 7).
    Each attempt runs first without the renderer (~7x faster per step); only those that succeed are
    run again with the camera and recorded (same placement seed, same noise draws). The two runs
    agree closely but not bit for bit, so a recorded run that fails is dropped too (and counted)."""
    from tgrpo import preprocess_frames
    processor = SiglipImageProcessor(size={"height": a.image_size, "width": a.image_size})
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for task in parse_tasks(a.tasks):
        env, language, _ = make_env(task, a.camera_res)
        dry, _, _ = make_env(task)
        pvs, acts, phs, kept, tried, lost, t0 = [], [], [], 0, 0, 0, time.time()

        def attempt(e, seed, **kw):
            e.seed(seed)
            return run_expert(e, TASK_TARGETS[task - 1], e.reset(), noise=a.noise, rng=np.random.default_rng(seed + 1),
                              grip_noise=a.grip_noise, expert=ScriptedExpert(TASK_TARGETS[task - 1], turn=a.turn,
                                                                             descent_turn=a.descent_turn), **kw)
        while kept < a.per_task and tried < 3 * a.per_task:
            seed = a.seed * 1000 + 100 * task + tried
            tried += 1
            if not attempt(dry, seed)[0]:
                continue
            phases = []
            ok, frames, actions = attempt(env, seed, record=True, phases=phases)
            if ok:
                kept += 1
                pvs.append(preprocess_frames(frames, processor).half())
                acts.append(np.array(actions, dtype=np.float32)), phs.append(np.array(phases, dtype=np.int8))
            lost += not ok
        if not kept:
            raise SystemExit(f"make_default.py: error: task {task}: no successful demo in {tried} attempts")
        np.savez(out / f"task{task}.npz", pixel_values=torch.cat(pvs).numpy(), actions=np.concatenate(acts),
                 episode_lengths=np.array([len(x) for x in acts]), phases=np.concatenate(phs), instruction=language)
        print(f"task {task:2d}: {kept}/{tried} successful demos ({lost} failed only when rendered), "
              f"{sum(len(x) for x in acts)} steps, {time.time() - t0:.0f}s", flush=True)
        env.close(), dry.close()


@torch.no_grad()
def cmd_phases(a):
    """Where a policy departs from the expert: drive the expert (no noise) from fixed init states and,
    on every frame, ask each policy for its greedy action. Per expert phase: how often the gripper
    command agrees and, where the expert moves clearly (|a| > 0.1), how often the xyz signs agree."""
    from tgrpo import action_tokens_to_values, load_policy, preprocess_frames, sample_actions, to_env_action
    if not 1 <= a.task <= len(TASK_TARGETS):
        raise SystemExit(f"make_default.py: error: --task must be 1..{len(TASK_TARGETS)}, got {a.task}")
    env, language, init_states = make_env(a.task, a.camera_res)
    policies = [load_policy(m, 8, "cpu") for m in a.models]
    tally = {m: {ph: np.zeros(8) for ph in ScriptedExpert.PHASES} for m in a.models}   # n, grip, xyz agree, xyz moving
    for s in parse_tasks(a.states):
        env.reset()
        obs = env.set_init_state(init_states[s])
        for _ in range(10):
            obs, _, _, _ = env.step([0, 0, 0, 0, 0, 0, -1])
        expert = ScriptedExpert(TASK_TARGETS[a.task - 1], turn=a.turn, descent_turn=a.descent_turn)
        for _ in range(300):
            phase = expert.PHASES[expert.phase]
            act = expert(env)
            moving = np.abs(act[:3]) > 0.1
            for m, pol in zip(a.models, policies):
                k, _, _ = sample_actions(pol, pol.prompt_ids(language),
                                         preprocess_frames([obs["agentview_image"]], pol.image_processor), greedy=True)
                p = to_env_action(action_tokens_to_values(k.numpy()), pol.stats)[0]
                tally[m][phase] += np.r_[1, p[6] == act[6], moving & (np.sign(p[:3]) == np.sign(act[:3])), moving]
            obs, _, done, _ = env.step(act)
            if done:
                break
        print(f"init state {s}: expert {'succeeded' if done else 'failed'}", flush=True)
    for m in a.models:
        print(f"{m}: phase, frames, gripper agreement, xyz sign agreement where the expert moves (frames)")
        for ph, (n, grip, *agree_moving) in tally[m].items():
            if n:
                signs = " ".join(f"{ag / mv:.2f} ({int(mv)})" if mv else "  -  " for ag, mv in
                                 zip(agree_moving[:3], agree_moving[3:]))
                print(f"  {ph:8s} {int(n):4d}  {grip / n:.2f}  {signs}")
    env.close()


def action_norm_stats(actions):
    """OpenVLA's statistics over all demos: q01/q99 of dims 0-5; the gripper as a [0, 1] value."""
    return {"q01": np.quantile(actions[:, :6], 0.01, axis=0).tolist() + [0.0],
            "q99": np.quantile(actions[:, :6], 0.99, axis=0).tolist() + [1.0], "mask": [True] * 6 + [False]}


def actions_to_tokens(actions, stats):
    """LIBERO actions (N, 7) -> action token indices (N, 7), the inverse of tgrpo.to_env_action."""
    from tgrpo import values_to_action_tokens
    q01, q99 = np.asarray(stats["q01"][:6]), np.asarray(stats["q99"][:6])
    x = np.empty_like(actions)
    x[:, :6] = 2 * (actions[:, :6] - q01) / (q99 - q01 + 1e-8) - 1
    x[:, 6] = (1 - actions[:, 6]) / 2                    # LIBERO -1 open / +1 close -> 1 open / 0 close
    return values_to_action_tokens(x)


def sft_loss(model, prompts, pixel_values, tokens, action_id0, pad_id=3):
    """OpenVLA's objective: cross-entropy on the 7 action tokens, teacher forced. prompts: (B, L)
    ids, left-padded with pad_id (masked out); pixel_values: (B, 3, S, S); tokens: (B, 7) indices."""
    ids = torch.cat([prompts, tokens + action_id0], dim=1)
    mask = (ids != pad_id).long()
    pos = (mask.cumsum(1) - 1).clamp(min=0)       # positions as at inference, where there is no padding
    logits = model(input_ids=ids, attention_mask=mask, position_ids=pos, pixel_values=pixel_values).logits
    return torch.nn.functional.cross_entropy(logits[:, -8:-1].reshape(-1, logits.shape[-1]), ids[:, -7:].reshape(-1))


@torch.no_grad()
def greedy_tokens(model, prompts, pixel_values, action_id0, pad_id=3):
    """The 7 action indices (B, 7) that greedy decoding picks, each token conditioned on the model's
    own previous ones (as tgrpo.decode_actions, without a KV cache). Teacher-forced argmaxes would let
    the gripper token see the expert's true xyz tokens, which hides early closes."""
    chosen = prompts[:, :0]
    for _ in range(7):
        ids = torch.cat([prompts, chosen + action_id0], dim=1)
        mask = (ids != pad_id).long()
        pos = (mask.cumsum(1) - 1).clamp(min=0)
        logits = model(input_ids=ids, attention_mask=mask, position_ids=pos, pixel_values=pixel_values).logits
        chosen = torch.cat([chosen, logits[:, -1, action_id0:action_id0 + N_ACTION_TOKENS].argmax(-1, keepdim=True)], 1)
    return chosen


def gripper_agreement(pred, label, mask=None):
    """Share of frames on which two gripper tokens decode to the same command, open iff the decoded
    value > 0.5 (as tgrpo.to_env_action binarizes it). pred, label: (N,) token indices of the
    gripper dim; mask: (N,) bool, the frames to count. None when no frame counts."""
    from tgrpo import action_tokens_to_values
    opened = lambda k: action_tokens_to_values(np.asarray(k)) > 0.5
    agree = opened(pred) == opened(label)
    agree = agree if mask is None else agree[np.asarray(mask, dtype=bool)]
    return float(agree.mean()) if len(agree) else None


def random_shift(x, pad, gen):
    """DrQ-style augmentation: replicate-pad each image by `pad` pixels and crop back at a random
    offset. x: (B, C, H, W). Object and gripper move together, so what the action depends on
    (where the hand is relative to the target) is kept; only the absolute pixel position changes."""
    if pad == 0:
        return x
    b, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad), mode="replicate")
    dx, dy = torch.randint(0, 2 * pad + 1, (2, b), generator=gen).tolist()
    return torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(b)])


def cmd_sft(a):
    from tqdm import tqdm
    state_file = Path(a.out) / "sft_state.pt"         # written after every epoch but the last (--resume)
    if a.resume and a.init:
        raise SystemExit("make_default.py: error: --resume continues the run in --out; drop --init")
    if a.resume and not state_file.exists():
        raise SystemExit(f"make_default.py: error: --resume: no {state_file} (a finished run leaves none)")
    repeat = [(name, int(k)) for name, _, k in (x.partition(":") for x in a.repeat)
              if name in ScriptedExpert.PHASES and k.isdigit() and int(k) >= 1]
    if len(repeat) < len(a.repeat):
        raise SystemExit(f"make_default.py: error: --repeat {' '.join(a.repeat)}: want PHASE:K with K >= 1 and "
                         f"PHASE one of {' '.join(ScriptedExpert.PHASES)}")
    same = {k: getattr(a, k) for k in ("demos", "epochs", "batch", "lr", "shift", "seed", "val_demos", "repeat")}
    st = torch.load(state_file, weights_only=False) if a.resume else None   # checked before the demos load
    if st is not None and st["same"] != same:
        raise SystemExit(f"make_default.py: error: --resume needs the cut run's flags: {st['same']}")
    torch.manual_seed(a.seed)
    by_task = {}                                      # several --demos dirs: a task's files are joined
    for directory in a.demos:
        for f in Path(directory).glob("task*.npz"):
            by_task.setdefault(int(f.stem[4:]), []).append(np.load(f))
    if not by_task:
        raise SystemExit(f"make_default.py: error: no task*.npz in {' '.join(a.demos)}")
    keys = ("actions", "episode_lengths") + (
        ("phases",) if all("phases" in d for parts in by_task.values() for d in parts) else ())  # older demos: none
    data = [{"instruction": parts[0]["instruction"], **{k: np.concatenate([d[k] for d in parts]) for k in keys}}
            for _, parts in sorted(by_task.items())]
    # The frames are most of the memory (460 demos: 5.7 GB as float16): one preallocated copy, filled
    # file by file in the order of `data` (two copies beside a training run met the OOM killer).
    pixel_values, offset = None, 0
    for d in (d for _, parts in sorted(by_task.items()) for d in parts):
        frames = torch.from_numpy(d["pixel_values"])
        if pixel_values is None:
            pixel_values = torch.empty((sum(len(x["actions"]) for x in data), *frames.shape[1:]), dtype=frames.dtype)
        pixel_values[offset:offset + len(frames)] = frames
        offset += len(frames)
    del frames
    actions = np.concatenate([d["actions"] for d in data])
    given = {k: getattr(a, k) for k in ("image_size", "patch", "width", "layers") if getattr(a, k) is not None}
    init = a.out if a.resume else a.init
    if init:                                          # a warm start keeps the checkpoint's shape and its
        if given:                                     # action statistics (its tokens' meaning)
            raise SystemExit(f"make_default.py: error: --{'resume' if a.resume else 'init'} takes the architecture "
                             f"from the checkpoint; drop --{next(iter(given)).replace('_', '-')}")
        try:
            model = LlavaForConditionalGeneration.from_pretrained(init, torch_dtype=torch.float32)
            processor = LlavaProcessor.from_pretrained(init, use_fast=False)   # the slow one it was saved with
        except (OSError, ValueError) as e:
            raise SystemExit(f"make_default.py: error: {init} is not a checkpoint of this script ({e})")
        stats = model.config.norm_stats["libero_object"]["action"]
    else:                                             # flags not given: build_model's defaults
        stats = action_norm_stats(actions)
        model, processor = build_model(**given, seed=a.seed, norm_stats=stats)
    v = model.config.vision_config                    # the shape as built or loaded, for the recipe record
    a.image_size, a.patch, a.width, a.layers = v.image_size, v.patch_size, v.hidden_size, v.num_hidden_layers
    tok = processor.tokenizer
    n_img = model.config.image_seq_length
    prompt_of = {str(d["instruction"]): tok("<image>" * n_img + PROMPT.format(str(d["instruction"]).lower()))["input_ids"]
                 for d in data}
    width = max(len(p) for p in prompt_of.values())
    # Prompts differ in length across tasks: left-pad with <pad> (masked out) so that actions sit last.
    prompts = torch.cat([torch.tensor([[3] * (width - len(p)) + p] * len(d["actions"]))
                         for d in data for p in [prompt_of[str(d["instruction"])]]])
    if pixel_values.shape[-1] != a.image_size:        # demos recorded at another size: resample them once,
        pixel_values = torch.cat([torch.nn.functional.interpolate(   # bicubic with antialias, as the processor's PIL resize
            c.float(), size=(a.image_size, a.image_size), mode="bicubic", antialias=True).half()
            for c in pixel_values.split(1024)])
    tokens = torch.from_numpy(actions_to_tokens(actions, stats)).long()
    action_id0 = len(tok) - N_ACTION_TOKENS
    # Held out: the last --val-demos demonstrations of every task, to choose the recipe by measurement.
    held = torch.zeros(len(tokens), dtype=torch.bool)
    offset = 0
    for d in data:
        lengths = d["episode_lengths"]
        held[offset + lengths[:len(lengths) - a.val_demos].sum():offset + lengths.sum()] = True
        offset += lengths.sum()
    train_idx, val_idx = torch.nonzero(~held).squeeze(1), torch.nonzero(held).squeeze(1)
    phases = np.concatenate([d["phases"] for d in data]) if "phases" in keys else None
    for phase, k in repeat:       # e.g. descend:4: the phase where greedy decoding closes early, drawn 4 times
        if phases is None:
            raise SystemExit("make_default.py: error: --repeat needs demos recorded with phases")
        hard = torch.from_numpy(phases == ScriptedExpert.PHASES.index(phase))
        train_idx = torch.cat([train_idx] + [train_idx[hard[train_idx]]] * (k - 1))
    n = len(train_idx)
    print(f"SFT on {n} steps from {len(data)} tasks ({len(val_idx)} held out), "
          f"model {sum(p.numel() for p in model.parameters())} params")

    # The held-out gripper decision as greedy decoding takes it, on all frames and on the expert's
    # descent, where the v3 default closed early (results/README.md, section 4).
    @torch.no_grad()
    def val_loss():
        model.eval()
        losses, preds = [], []
        for i in val_idx.split(256):
            losses.append(sft_loss(model, prompts[i], pixel_values[i].float(), tokens[i], action_id0).item() * len(i))
            preds.append(greedy_tokens(model, prompts[i], pixel_values[i].float(), action_id0)[:, 6])
        model.train()
        pred, label = torch.cat(preds).numpy(), tokens[val_idx, 6].numpy()
        descent = None if phases is None else phases[val_idx.numpy()] == ScriptedExpert.PHASES.index("descend")
        return (sum(losses) / len(val_idx), gripper_agreement(pred, label),
                None if descent is None else gripper_agreement(pred, label, descent))
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.01)
    steps = a.epochs * (n // a.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=steps, pct_start=0.05)
    gen = torch.Generator().manual_seed(a.seed)
    curve, val_curve, bar = [], [], tqdm(total=steps, desc="SFT", unit="batch")
    out = Path(a.out)
    processor.save_pretrained(out)                   # unchanged by training: saved once
    start, recipe = 0, vars(a)
    if a.resume:     # weights, optimizer, schedule, data order and curves as the last finished epoch left them
        model.load_state_dict(st["model"]), opt.load_state_dict(st["opt"]), sched.load_state_dict(st["sched"])
        gen.set_state(st["gen"])
        curve, val_curve, start = st["curve"], st["val_curve"], st["epoch"]
        recipe = {**st.get("recipe", recipe), "resumed_after_epoch": start}   # the cut run's flags (--init, sizes)
        bar.update(start * (n // a.batch))
    model.train()
    for epoch in range(start, a.epochs):
        perm = train_idx[torch.randperm(n, generator=gen)]
        for b in range(n // a.batch):
            idx = perm[b * a.batch:(b + 1) * a.batch]
            images = random_shift(pixel_values[idx].float(), a.shift, gen)
            loss = sft_loss(model, prompts[idx], images, tokens[idx], action_id0)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step(), sched.step()
            curve.append(loss.item())
            bar.update(1), bar.set_postfix(epoch=epoch + 1, loss=f"{np.mean(curve[-50:]):.3f}")
        if len(val_idx):
            val_curve.append(val_loss())
            tqdm.write(f"epoch {epoch + 1}: train {np.mean(curve[-(n // a.batch):]):.3f}  held-out {val_curve[-1][0]:.3f}"
                       f"  gripper agrees {val_curve[-1][1]:.3f} (on the descent: {val_curve[-1][2]})")
        # Saved after every epoch: a run cut short keeps its last epoch (--resume goes on from it).
        model.save_pretrained(out)
        if epoch + 1 < a.epochs:                     # one file, replaced whole: a cut never leaves half of it
            torch.save({"epoch": epoch + 1, "same": same, "model": model.state_dict(), "opt": opt.state_dict(),
                        "sched": sched.state_dict(), "gen": gen.get_state(), "curve": curve, "val_curve": val_curve,
                        "recipe": recipe},
                       out / "sft_state.tmp")
            os.replace(out / "sft_state.tmp", state_file)
        else:                                        # finished: the checkpoint alone (the optimizer is 2x the model)
            state_file.unlink(missing_ok=True)
        column = lambda j: [v[j] for v in val_curve]
        (out / "sft_loss.json").write_text(json.dumps({
            "epochs_done": epoch + 1, "loss": curve[:: max(1, len(curve) // 500)], "val_loss_per_epoch": column(0),
            "val_gripper_agreement_per_epoch": column(1), "val_gripper_agreement_descent_per_epoch": column(2),
            "recipe": recipe}))
    bar.close()
    try:                                             # the plot is optional: no matplotlib, no PNG
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        plt.figure(figsize=(6, 3.5))
        plt.plot(curve, lw=0.5, alpha=0.5)
        k = max(1, len(curve) // 100)
        plt.plot(np.arange(len(curve))[k - 1:], np.convolve(curve, np.ones(k) / k, "valid"))
        plt.xlabel("batch"), plt.ylabel("cross-entropy (7 action tokens)"), plt.yscale("log")
        plt.tight_layout(), plt.savefig(out / "sft_loss.png", dpi=100)
    except ImportError:
        pass
    print(f"saved {out}; final loss {np.mean(curve[-50:]):.3f}")


def cmd_build(a):
    model, processor = build_model(a.image_size, a.patch, a.width, a.layers, a.seed)
    model.save_pretrained(a.out)
    processor.save_pretrained(a.out)
    print(json.dumps({"out": str(a.out), "params": sum(p.numel() for p in model.parameters())}))


if __name__ == "__main__":
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("expert", help="measure the scripted expert on the fixed init states")
    e.add_argument("--tasks", default="1-10", help="task range, e.g. 4 or 1-10")
    e.add_argument("--trials", type=int, default=50, help="init states per task (50 = all)")
    e.add_argument("--out", default=None, help="write the success rates to this JSON file")
    f = sub.add_parser("phases", help="compare policies' greedy actions with the expert's, per expert phase")
    f.add_argument("models", nargs="+", help="checkpoint directories")
    f.add_argument("--task", type=int, default=4, help="task 1..10")
    f.add_argument("--states", default="0-3", help="eval init states, e.g. 0-3")
    f.add_argument("--camera-res", type=int, default=256, help="render resolution, as tgrpo.py --camera-res")
    f.add_argument("--turn", type=float, default=0.0, help="the expert's turn while closing, as demos --turn")
    f.add_argument("--descent-turn", type=float, default=0.0, help="the expert's turn on the way down, as demos --descent-turn")
    d = sub.add_parser("demos", help="record expert demonstrations")
    d.add_argument("--tasks", default="1-10", help="task range, e.g. 4 or 1-10")
    d.add_argument("--per-task", type=int, default=20, help="successful demonstrations per task")
    d.add_argument("--out", default="demos", help="directory for task<N>.npz")
    d.add_argument("--camera-res", type=int, default=256, help="render resolution, as tgrpo.py --camera-res")
    d.add_argument("--image-size", type=int, default=128, help="model input resolution (must match sft)")
    d.add_argument("--seed", type=int, default=0, help="placement seeds")
    d.add_argument("--noise", type=float, default=0.2, help="std of the noise added to executed xyz actions (0 = none)")
    d.add_argument("--turn", type=float, default=0.0,
                   help="radians the expert turns the hand while it closes the gripper (0 = none)")
    d.add_argument("--descent-turn", type=float, default=0.0,
                   help="radians per metre descended that the expert turns the hand on the way down (0 = none)")
    d.add_argument("--grip-noise", type=float, default=0.0,
                   help="per-step probability of a false gripper close on the way down (0 = none)")
    for name, sp in (("sft", sub.add_parser("sft", help="train the tiny VLA on the demos")),
                     ("build", sub.add_parser("build", help="save a randomly initialised tiny VLA"))):
        sp.add_argument("--out", default="default_policy", help="checkpoint directory")
        # sft: None = build_model's defaults (128/16/128/2), or the --init checkpoint's
        sp.add_argument("--image-size", type=int, default=None if name == "sft" else 128, help="model input resolution (pixels; 128)")
        sp.add_argument("--patch", type=int, default=None if name == "sft" else 16, help="vision patch size (pixels; 16)")
        sp.add_argument("--width", type=int, default=None if name == "sft" else 128, help="hidden size of both towers (128)")
        sp.add_argument("--layers", type=int, default=None if name == "sft" else 2, help="layers in each tower (2)")
        sp.add_argument("--seed", type=int, default=0, help="initialisation (and data order) seed")
        if name == "sft":
            sp.add_argument("--demos", nargs="+", default=["demos"],
                            help="directories written by `demos` (a task's demos in several are joined)")
            sp.add_argument("--init", default=None,
                            help="warm start: continue from this checkpoint (its shape, weights and action statistics)")
            sp.add_argument("--epochs", type=int, default=12, help="passes over the demonstrations")
            sp.add_argument("--batch", type=int, default=64, help="batch size")
            sp.add_argument("--lr", type=float, default=1e-3, help="peak AdamW learning rate (one-cycle)")
            sp.add_argument("--shift", type=int, default=6, help="random-shift augmentation, pixels (0 = none)")
            sp.add_argument("--val-demos", type=int, default=1, help="demos per task held out for a validation loss")
            sp.add_argument("--repeat", nargs="+", default=[], metavar="PHASE:K",
                            help="draw the training frames of an expert phase K times per epoch, e.g. descend:4 "
                                 f"(phases: {' '.join(ScriptedExpert.PHASES)})")
            sp.add_argument("--resume", action="store_true",
                            help="continue a run in --out cut off after an epoch (same flags; SFT at 192 px outlasts a session)")
    a = p.parse_args()
    {"expert": cmd_expert, "demos": cmd_demos, "sft": cmd_sft, "build": cmd_build, "phases": cmd_phases}[a.cmd](a)
