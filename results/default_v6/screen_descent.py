"""Where on the descent a policy's greedy action goes wrong, on held-out demos, without rendering.
For each model: on the expert's descent frames of the last HELD demos of every task (the demos `sft`
holds out with --val-demos HELD), free-running greedy decoding (make_default.greedy_tokens) against
the expert's label, bucketed by the frame's step within the descent: the z sign, the gripper, and
the gripper decoded after the expert's own six first tokens (teacher forced). Last, the gripper on
the expert's close frames: a policy that never closes early but never closes at all would fail too.

    python results/default_v6/screen_descent.py HELD MODEL DEMOS [DEMOS ...]   # from the repository root
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))
from make_default import PROMPT, ScriptedExpert, actions_to_tokens, greedy_tokens  # noqa: E402
from tgrpo import action_tokens_to_values  # noqa: E402
from transformers import AutoModelForVision2Seq, AutoProcessor  # noqa: E402

if len(sys.argv) < 4:
    raise SystemExit(__doc__)
held, m, dirs = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
descend, close = ScriptedExpert.PHASES.index("descend"), ScriptedExpert.PHASES.index("close")
model = AutoModelForVision2Seq.from_pretrained(m).eval()
tok = AutoProcessor.from_pretrained(m, use_fast=False).tokenizer
a0 = len(tok) - 256
stats = json.loads((Path(m) / "config.json").read_text())["norm_stats"]["libero_object"]["action"]
by_task = {}
for d in dirs:                                          # joined per task in the order given, as sft does
    for f in Path(d).glob("task*.npz"):
        by_task.setdefault(int(f.stem[4:]), []).append(np.load(f))
step, z_ok, grip_ok, grip_tf_ok, close_ok = [], [], [], [], []
for task, parts in sorted(by_task.items()):
    lengths = np.concatenate([p["episode_lengths"] for p in parts])
    phases = np.concatenate([p["phases"] for p in parts])
    start = lengths[:-held].sum()
    frames = np.nonzero(phases[start:] == descend)[0] + start
    size = model.config.vision_config.image_size
    all_pv = np.concatenate([p["pixel_values"] for p in parts])
    def images(k):                                      # demos recorded at another size: resampled as sft does
        pv = torch.from_numpy(all_pv[k]).float()
        return pv if pv.shape[-1] == size else torch.nn.functional.interpolate(
            pv, size=(size, size), mode="bicubic", antialias=True).half().float()
    pv = images(frames)
    all_labels = actions_to_tokens(np.concatenate([p["actions"] for p in parts]), stats)
    label = all_labels[frames]
    ids = torch.tensor(tok("<image>" * model.config.image_seq_length + PROMPT.format(str(parts[0]["instruction"]).lower()))["input_ids"])
    free = greedy_tokens(model, ids.expand(len(frames), -1), pv, a0).numpy()
    closing = np.nonzero(phases[start:] == close)[0] + start
    free_close = greedy_tokens(model, ids.expand(len(closing), -1), images(closing), a0).numpy()
    ids = ids.expand(len(frames), -1)
    with torch.no_grad():
        tf = model(input_ids=torch.cat([ids, torch.from_numpy(label[:, :6]).long() + a0], 1),
                   pixel_values=pv).logits[:, -1, a0:a0 + 256].argmax(-1).numpy()
    opened = lambda k: action_tokens_to_values(k) > 0.5
    z = lambda k: np.sign(np.round(action_tokens_to_values(k), 2))
    z_ok.append(z(free[:, 2]) == z(label[:, 2]))
    grip_ok.append(opened(free[:, 6]) == opened(label[:, 6]))
    grip_tf_ok.append(opened(tf) == opened(label[:, 6]))
    close_ok.append(opened(free_close[:, 6]) == opened(all_labels[closing, 6]))
    first = np.r_[True, np.diff(frames) != 1]             # a new descent starts where frames jump
    step.append(np.arange(len(frames)) - np.maximum.accumulate(np.where(first, np.arange(len(frames)), 0)))
step, z_ok, grip_ok, grip_tf_ok = map(np.concatenate, (step, z_ok, grip_ok, grip_tf_ok))
print(f"{m}: {len(step)} held-out descent frames; z sign agrees {z_ok.mean():.2f}, gripper {grip_ok.mean():.2f}, "
      f"gripper after the expert's xyz {grip_tf_ok.mean():.2f}")
for lo, hi in [(0, 5), (5, 10), (10, 15), (15, 20), (20, 99)]:
    k = (step >= lo) & (step < hi)
    if k.any():
        print(f"  descent steps {lo:2d}-{hi:2d}: {k.sum():3d} frames  z sign {z_ok[k].mean():.2f}  "
              f"gripper {grip_ok[k].mean():.2f}  (after the expert's xyz {grip_tf_ok[k].mean():.2f})")
close_ok = np.concatenate(close_ok)
print(f"  close phase: {len(close_ok)} frames  gripper {close_ok.mean():.2f}")
