"""SFT speed of the tiny Llava at several tower widths: batches/s of one AdamW step on a batch of 64
(128-px image, 64 patches, a ~30-token prompt, 7 action tokens), random data. Used to size the v9
recipe and to check how two jobs share the 2 cores (run it twice side by side with OMP_NUM_THREADS=1).

    python results/default_v9/bench_sft_speed.py [WIDTH:LAYERS ...]      # from the repository root
"""
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))
import make_default as md  # noqa: E402

shapes = [tuple(map(int, s.split(":"))) for s in sys.argv[1:]] or [(128, 2), (192, 2), (256, 2)]
for width, layers in shapes:
    model, proc = md.build_model(128, 16, width, layers, seed=0)
    tok = proc.tokenizer
    prompts = torch.randint(10, 100, (64, 94))
    prompts[:, :64] = tok.convert_tokens_to_ids("<image>")
    pixels, tokens = torch.randn(64, 3, 128, 128), torch.randint(0, 256, (64, 7))
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    for i in range(8):                       # 3 warm-up steps, 5 timed
        if i == 3:
            t0 = time.time()
        loss = md.sft_loss(model, prompts, pixels, tokens, len(tok) - md.N_ACTION_TOKENS)
        opt.zero_grad(), loss.backward(), opt.step()
    print(f"width {width} layers {layers}: {sum(p.numel() for p in model.parameters())} params, "
          f"{5 / (time.time() - t0):.2f} batches/s, {torch.get_num_threads()} threads", flush=True)
