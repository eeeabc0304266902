"""Build the embedded default policy: a tiny model with OpenVLA's interface, offline, on CPU.

    python make_default.py --out default_policy

OpenVLA-7B is a Prismatic VLM (vision towers -> MLP projector -> Llama-2) that writes each of
the 7 action dimensions as one of the LAST 256 tokens of its vocabulary. The default built here
has the same shape from transformers' own classes: SiglipVisionModel -> MLP projector ->
LlamaForCausalLM, i.e. a LlavaForConditionalGeneration whose image patches sit right after <s>
as in OpenVLA, a word-level tokenizer whose last 256 ids are the action tokens, and OpenVLA's
`norm_stats` in its config. It is saved with save_pretrained and loaded by tgrpo.py through
the same AutoModelForVision2Seq / AutoProcessor calls as an OpenVLA checkpoint.
The weights are random (seeded): it is a stand-in that runs everywhere, not a trained policy.
"""
import argparse
import json

import numpy as np
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import (LlamaConfig, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor,
                          PreTrainedTokenizerFast, SiglipImageProcessor, SiglipVisionConfig)

from reward import TASK_TARGETS

SPECIALS = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]
PROMPT = "In: What action should the robot take to {}?\nOut:"   # OpenVLA's prompt
N_ACTION_TOKENS = 256


class ScriptedExpert:
    """Privileged pick-and-place controller for any LIBERO-Object task: hover above the target,
    descend, close, lift, carry over the basket, lower, release. Call with a LIBERO env
    (ControlEnv/OffScreenRenderEnv) once per step; returns a 7-dim OSC_POSE delta action."""
    PHASES = ["above", "descend", "close", "lift", "carry", "lower", "release"]
    TIMEOUT = {"above": 80, "descend": 60, "close": 15, "lift": 60, "carry": 80, "lower": 40, "release": 10**9}

    def __init__(self, target, basket="basket_1"):
        self.target, self.basket = target, basket
        self.phase, self.steps, self.anchor = 0, 0, None

    def __call__(self, env):
        e, d = env.env, env.env.sim.data
        obj = d.body_xpos[e.obj_body_id[self.target]]
        basket = d.body_xpos[e.obj_body_id[self.basket]]
        eef = d.site_xpos[e.robots[0].eef_site_id]
        name = self.PHASES[self.phase]
        if self.anchor is None:                    # where the eef was when the phase began
            self.anchor = eef.copy()
        goal, grip, tol = {
            "above": (obj + [0, 0, 0.12], -1, 0.01),
            "descend": (obj + [0, 0, 0.01], -1, 0.005),
            "close": (self.anchor, 1, -1),
            "lift": (np.r_[self.anchor[:2], 0.30], 1, 0.01),
            "carry": (np.r_[basket[:2], 0.30], 1, 0.01),
            "lower": (np.r_[basket[:2], 0.20], 1, 0.01),
            "release": (self.anchor, -1, -1),
        }[name]
        action = np.zeros(7)
        action[:3] = np.clip((goal - eef) / 0.05, -1, 1)   # OSC_POSE moves <= 5 cm per unit action
        action[6] = grip
        self.steps += 1
        if np.linalg.norm(goal - eef) < tol or self.steps >= self.TIMEOUT[name]:
            self.phase, self.steps, self.anchor = min(self.phase + 1, len(self.PHASES) - 1), 0, None
        return action


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


def build_default(out, image_size=64, patch=8, width=128, layers=2, seed=0):
    torch.manual_seed(seed)
    tok = build_tokenizer()
    n_patches = (image_size // patch) ** 2
    vision = SiglipVisionConfig(hidden_size=width // 2, intermediate_size=width, num_hidden_layers=layers,
                                num_attention_heads=2, image_size=image_size, patch_size=patch)
    text = LlamaConfig(vocab_size=len(tok), hidden_size=width, intermediate_size=2 * width,
                       num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=4,
                       max_position_embeddings=256, bos_token_id=1, eos_token_id=2, pad_token_id=3)
    cfg = LlavaConfig(vision_config=vision, text_config=text, image_token_index=tok.convert_tokens_to_ids("<image>"),
                      vision_feature_layer=-1, vision_feature_select_strategy="full",
                      image_seq_length=n_patches)
    # OpenVLA's un-normalization statistics: dims 0-5 mapped from [-1, 1] to [q01, q99]
    # (identity here), the gripper passed through as a [0, 1] value (1 = open).
    cfg.norm_stats = {"libero_object": {"action": {
        "q01": [-1.0] * 6 + [0.0], "q99": [1.0] * 6 + [1.0], "mask": [True] * 6 + [False]}}}
    model = LlavaForConditionalGeneration(cfg)
    images = SiglipImageProcessor(size={"height": image_size, "width": image_size})
    processor = LlavaProcessor(image_processor=images, tokenizer=tok, patch_size=patch,
                               vision_feature_select_strategy="full", num_additional_image_tokens=0)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    n = sum(p.numel() for p in model.parameters())
    print(json.dumps({"out": str(out), "params": n, "vocab": len(tok), "image_patches": n_patches}))
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="default_policy", help="directory to write the checkpoint to")
    p.add_argument("--image-size", type=int, default=64, help="model input resolution (pixels)")
    p.add_argument("--patch", type=int, default=8, help="vision patch size (pixels)")
    p.add_argument("--width", type=int, default=128, help="language model hidden size")
    p.add_argument("--layers", type=int, default=2, help="layers in each of the vision and language towers")
    p.add_argument("--seed", type=int, default=0, help="weight initialisation seed")
    a = p.parse_args()
    build_default(a.out, a.image_size, a.patch, a.width, a.layers, a.seed)
