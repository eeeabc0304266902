#!/usr/bin/env bash
# Issue 18, part 2: one greedy-evaluated TGRPO run on Task 4, with its Fig. 3-style curve.
#
#   bash results/default_v5/learn_task4.sh MODEL SEED A1 A2 LR OUT [EPISODES [M]]   # from the repo root
#
# 30 episodes and M = 8 unless EPISODES or M is given (paper A.1.2; more for issue 18's budget
# probes); 16 greedy trials before training and every 10 episodes (the curve), then 50 greedy trials of
# the final policy (the before/after number). The 50-trial greedy evaluation of MODEL itself is the
# same for every run (greedy, env seed 0, fixed init states):
#   python tgrpo.py --task 4 --model MODEL --episodes 0 --eval-trials 50 --out OUT_sft_greedy50
# Wall times go to OUT/stages.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 6 ] && [ $# -le 8 ] || { echo "usage: learn_task4.sh MODEL SEED A1 A2 LR OUT [EPISODES [M]]" >&2; exit 2; }
MODEL=$1 SEED=$2 A1=$3 A2=$4 LR=$5 OUT=$6 EPISODES=${7:-30} M=${8:-8}
flags=(--task 4 --model "$MODEL" --seed "$SEED" --a1 "$A1" --a2 "$A2" --lr "$LR" --episodes "$EPISODES" --num-envs "$M" --out "$OUT")
mkdir -p "$OUT"
t0=$SECONDS
if [ -e "$OUT/metrics.jsonl" ]; then   # a run cut short by the end of a session: continue it
    python tgrpo.py "${flags[@]}" --resume --eval-every 10 --eval-trials 16
else
    python tgrpo.py "${flags[@]}" --eval-every 10 --eval-trials 16
fi
echo "train+curve: $((SECONDS - t0)) s" >> "$OUT/stages.txt"
t0=$SECONDS
python tgrpo.py "${flags[@]}" --resume --eval-trials 50      # no episodes left: only the evaluation
echo "greedy50: $((SECONDS - t0)) s" >> "$OUT/stages.txt"
