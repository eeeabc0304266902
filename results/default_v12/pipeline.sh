#!/bin/bash
# Recipe v12 as run: v9 continued for 3 epochs at lr 3e-4 on v9's demos (recorded again at 192 px for v11,
# resampled to 128 px by sft) with an expert phase drawn more often per epoch (make_default.py sft --repeat),
# then the descent/close screen and greedy evaluations of 50 trials, one stage at a time (never two
# evaluations, or an SFT beside one: M=8 envs use ~15 GB, the SFT ~18 GB). Each stage is timed into
# WORKDIR/stages.txt and skipped when it is already there; an SFT cut off goes on from its last epoch.
#   bash results/default_v12/pipeline.sh WORKDIR NAME REPEAT TASK...     (from the repository root)
# As run here (WORKDIR=/work/v12):
#   rep4  "descend:4 close:4" 2 4 7   (flag then named --boundary-repeat 4; its stages were named without
#                                      "rep4_", and screened Tasks 1 and 4 instead of the close screen)
#   desc4 descend:4 2 4 7
#   desc8 descend:8 2 7 4             (SFT cut after epoch 1 by a session end, then resumed)
set -u
W=$1 NAME=$2 REPEAT=$3; shift 3
DEMOS="/work/v11/demos_s0 /work/v11/demos_s1 /work/v11/demos_s2 /work/v11/demos_s3 /work/v11/demos_s4 /work/v11/demos_s5"
stage() {   # stage NAME COMMAND...: run once, log to W/NAME.log (appended), time into W/stages.txt
    local name=$1; shift
    grep -q "^$name " "$W/stages.txt" 2>/dev/null && return 0
    local t0=$(date +%s)
    "$@" >> "$W/$name.log" 2>&1
    echo "$name rc=$? $(( $(date +%s) - t0 )) s  $*" >> "$W/stages.txt"
}
SFT="python make_default.py sft --demos $DEMOS --epochs 3 --lr 3e-4 --repeat $REPEAT --out $W/$NAME"
if [ -f "$W/$NAME/sft_state.pt" ]; then
    stage "sft_$NAME" $SFT --resume
else
    stage "sft_$NAME" $SFT --init /work/v9/w192
fi
stage "screenc_$NAME" python results/default_v6/screen_descent.py 1 "$W/$NAME" $DEMOS
for T in "$@"; do
    stage "${NAME}_task${T}_greedy50" python tgrpo.py --task "$T" --episodes 0 --eval-trials 50 \
        --model "$W/$NAME" --out "$W/${NAME}_task${T}_greedy50"
done
