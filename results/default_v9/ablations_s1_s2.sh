#!/bin/bash
# As run (issue 18, session of 2026-12-01): the two Table 1 ablations (a1 = 0, a2 = 0) from v9 for
# seeds 1 and 2, at the paper's settings (lr 1e-5, 30 episodes, M = 8, beta 0.04), one job at a time, alone.
# That session ran seed 1 of both (4,076 s and 4,050 s); seed 2's a1 = 0 run started at its end and was cut
# off with it. learn_task4.sh continues a cut run from its last checkpoint (--resume) when started again.
cd /work/run   # a worktree at 348d7df, so edits in /work/main cannot reach a running job
export OMP_NUM_THREADS=1
for S in 1 2; do
  for W in "0 0.65 a1_0" "0.35 0 a2_0"; do
    set -- $W
    t0=$(date +%s)
    bash results/default_v5/learn_task4.sh /work/v9/w192 $S $1 $2 1e-5 /work/v10/learn/v9_$3_s$S >> /work/v10/learn/$3_s$S.log 2>&1
    echo "$3 seed $S: $(( $(date +%s) - t0 )) s: learn_task4.sh /work/v9/w192 $S $1 $2 1e-5 /work/v10/learn/v9_$3_s$S" >> /work/v10/learn/chain2_stages.txt
  done
done
