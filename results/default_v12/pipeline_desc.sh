#!/bin/bash
# Recipe v12, second variant (desc4), as run: as pipeline.sh but only the descent frames drawn 4 times
# per epoch (the close's once), so that near the bottom "keep descending" outweighs "close" 4 to 1
# more than in the demos. Then the screens (now with the close phase, v9 and rep4 again) and greedy
# Tasks 2, 4, 7. Stages timed into WORKDIR/stages.txt, each run once.
#   bash results/default_v12/pipeline_desc.sh WORKDIR        (from the repository root; /work/v12 here)
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
stage sft_desc4 python make_default.py sft --demos $DEMOS --init /work/v9/w192 --epochs 3 --lr 3e-4 \
    --repeat descend:4 --out "$W/desc4"
for M in /work/v9/w192 "$W/rep4" "$W/desc4"; do
    stage "screenc_$(basename $M)" python results/default_v6/screen_descent.py 1 "$M" $DEMOS
done
for T in 2 4 7; do
    stage "desc4_task${T}_greedy50" python tgrpo.py --task $T --episodes 0 --eval-trials 50 --model "$W/desc4" \
        --out "$W/desc4_task${T}_greedy50"
done
