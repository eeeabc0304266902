"""Free-running greedy gripper screen on held-out demos: for each model, on the last demo of every
task in DEMOS (the demo `sft` holds out), how often the greedy gripper command, decoded on the
model's own previous tokens, matches the expert's label: on all frames and on the expert's descent.

    python results/default_v5/screen_gripper.py DEMOS MODEL [MODEL ...]     # from the repository root
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))
from make_default import PROMPT, ScriptedExpert, actions_to_tokens, greedy_tokens, gripper_agreement  # noqa: E402
from transformers import AutoModelForVision2Seq, AutoProcessor  # noqa: E402

demos = Path(sys.argv[1])
descend = ScriptedExpert.PHASES.index("descend")
for m in sys.argv[2:]:
    model = AutoModelForVision2Seq.from_pretrained(m).eval()
    tok = AutoProcessor.from_pretrained(m, use_fast=False).tokenizer
    stats = json.loads((Path(m) / "config.json").read_text())["norm_stats"]["libero_object"]["action"]
    preds, labels, descent = [], [], []
    for f in sorted(demos.glob("task*.npz"), key=lambda f: int(f.stem[4:])):
        d = np.load(f)
        s = d["episode_lengths"][:-1].sum()
        ids = torch.tensor(tok("<image>" * model.config.image_seq_length + PROMPT.format(str(d["instruction"]).lower()))["input_ids"])
        pv = torch.from_numpy(d["pixel_values"][s:]).float()
        preds.append(greedy_tokens(model, ids.expand(len(pv), -1), pv, len(tok) - 256)[:, 6].numpy())
        labels.append(actions_to_tokens(d["actions"][s:], stats)[:, 6])
        descent.append(d["phases"][s:] == descend)
        print(f"{m} {f.stem}: all {gripper_agreement(preds[-1], labels[-1]):.3f}, "
              f"descent {gripper_agreement(preds[-1], labels[-1], descent[-1]):.3f}", flush=True)
    p, lab, dsc = map(np.concatenate, (preds, labels, descent))
    print(f"{m} all tasks: all {gripper_agreement(p, lab):.3f}, descent {gripper_agreement(p, lab, dsc):.3f} "
          f"({int(dsc.sum())} descent frames of {len(p)})")
