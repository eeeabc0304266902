#!/usr/bin/env bash
# As run (issue 18, the next session of 2026-12-01, from 16:06): seed 2 of both Table 1 ablations from v9,
# one after the other. The a1 = 0 run had been cut off after episode 9 by the end of the previous session
# (ablations_s1_s2.sh); learn_task4.sh continued it from ckpt_ep0009 (--resume), so its stages.txt times
# only episodes 10-30. From 17:01 one demo process of results/default_v11/demos.sh ran beside the a2 = 0
# run, so that run's wall time is not an alone figure. Wall times: each run's stages.txt.
set -euo pipefail
cd /work/run   # a worktree at 348d7df, so edits in /work/main cannot reach a running job
export OMP_NUM_THREADS=1
bash results/default_v5/learn_task4.sh /work/v9/w192 2 0 0.65 1e-5 /work/v10/learn/v9_a1_0_s2 >> /work/v10/learn/a1_0_s2.log 2>&1
bash results/default_v5/learn_task4.sh /work/v9/w192 2 0.35 0 1e-5 /work/v10/learn/v9_a2_0_s2 >> /work/v10/learn/a2_0_s2.log 2>&1
