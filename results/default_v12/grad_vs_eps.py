"""Issue 18: per-parameter gradient magnitude of one Eq. 9 step (beta 0, Table 3's alphas) on a 40-step
Task 4 group of the v12 default, against AdamW's eps (1e-8). grad_vs_eps.log beside it keeps the
three 't=' lines of its output. From the repository root:

    python results/default_v12/grad_vs_eps.py [MODEL]      # MODEL: default_policy/ unless given
"""
import sys
from pathlib import Path

import numpy as np
import torch
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import tgrpo
tgrpo.check_gl()      # MuJoCo's GL backend, as tgrpo.py sets it
torch.manual_seed(0); np.random.seed(0)
policy = tgrpo.load_policy(sys.argv[1] if len(sys.argv) > 1 else "default_policy", 32, "cpu")
envs, instr, _ = tgrpo.make_env_group(4, 8, 256, 0, serial=True)
prompt = policy.prompt_ids(instr)
state = tgrpo.new_start_state(envs, 0)
batch = tgrpo.rollout_group(envs, policy, prompt, state, 40, 10)
adv = tgrpo.tgrpo_advantages(batch["rewards"], 0.35, 0.65)
T = adv.shape[1]
print("T", T, "adv abs mean", adv.abs().mean().item())
params = [p for p in policy.model.parameters() if p.requires_grad]
for t in [0, T // 2, T - 1]:
    policy.model.zero_grad(set_to_none=True)
    pv, k = batch["pixel_values"][t], batch["tokens"][t]
    logp = tgrpo.action_logp(tgrpo.decode_actions(policy, prompt, pv, k)[1], k)
    loss = tgrpo.tgrpo_loss(logp, batch["logp_old"][:, t], adv[:, t], traj_len=T)   # beta 0: the advantage term only
    loss.backward()
    g = torch.cat([p.grad.flatten() for p in params if p.grad is not None]).abs()
    nz = g[g > 0]
    print(f"t={t}: nonzero grads {nz.numel()}/{g.numel()}, |g| median {nz.median():.2e}, p10 {nz.quantile(0.1):.2e}, p90 {nz.quantile(0.9):.2e}, frac<1e-8 {(nz < 1e-8).float().mean():.3f}, loss*T {loss.item()*T:.2e}")
