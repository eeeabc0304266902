#!/bin/bash
# Recipe v12 (rep4) as run (its SFT flag was then called --boundary-repeat 4, now --repeat descend:4 close:4): v9 warm-started on v9's demos (recorded again at 192 px for v11, resampled to
# 128 by sft) with the descent and close frames drawn 4 times per epoch; then the screens and the
# greedy evaluations, one stage at a time (never two evaluations at once: M=8 envs use ~15 GB).
# Each stage is timed into WORKDIR/stages.txt and skipped when it is already there.
#   bash results/default_v12/pipeline.sh WORKDIR        (from the repository root; WORKDIR=/work/v12 here)
set -u
W=$1
DEMOS="/work/v11/demos_s0 /work/v11/demos_s1 /work/v11/demos_s2 /work/v11/demos_s3 /work/v11/demos_s4 /work/v11/demos_s5"
stage() {   # stage NAME COMMAND...: run once, log to W/NAME.log, time into W/stages.txt
    local name=$1; shift
    grep -q "^$name " "$W/stages.txt" 2>/dev/null && return 0
    local t0=$(date +%s)
    "$@" > "$W/$name.log" 2>&1
    echo "$name rc=$? $(( $(date +%s) - t0 )) s  $*" >> "$W/stages.txt"
}
stage sft_rep4 python make_default.py sft --demos $DEMOS --init /work/v9/w192 --epochs 3 --lr 3e-4 \
    --repeat descend:4 close:4 --out "$W/rep4"
for M in /work/v9/w192 "$W/rep4"; do
    stage "screen1_$(basename $M)" python results/default_v6/screen_descent.py 1 "$M" $DEMOS
    stage "screen4_$(basename $M)" python results/default_v6/screen_descent.py 4 "$M" $DEMOS
done
for T in 2 4 7; do     # 9 and 3 were listed too; the run was stopped after 7 (all 0/50 but Task 4)
    stage "task${T}_greedy50" python tgrpo.py --task $T --episodes 0 --eval-trials 50 --model "$W/rep4" \
        --out "$W/rep4_task${T}_greedy50"
done
