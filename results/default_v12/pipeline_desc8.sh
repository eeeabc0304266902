#!/bin/bash
# Recipe v12, third variant (desc8), as started at the end of a session: as pipeline_desc.sh with the
# descent frames drawn 8 times per epoch; it waits for pipeline_desc.sh's last evaluation (never two
# evaluations or an SFT beside an evaluation: memory). Stages timed into WORKDIR/stages.txt, each run once.
#   bash results/default_v12/pipeline_desc8.sh WORKDIR        (from the repository root; /work/v12 here)
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
until grep -q "^desc4_task7_greedy50 " "$W/stages.txt"; do sleep 20; done
stage sft_desc8 python make_default.py sft --demos $DEMOS --init /work/v9/w192 --epochs 3 --lr 3e-4 \
    --repeat descend:8 --out "$W/desc8"
stage screenc_desc8 python results/default_v6/screen_descent.py 1 "$W/desc8" $DEMOS
for T in 2 7 4; do
    stage "desc8_task${T}_greedy50" python tgrpo.py --task $T --episodes 0 --eval-trials 50 --model "$W/desc8" \
        --out "$W/desc8_task${T}_greedy50"
done
