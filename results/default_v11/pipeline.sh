#!/usr/bin/env bash
# Issue 18, recipe v11, after demos.sh: v9's SFT on the 192 px demos, the held-out descent screen, 50
# greedy Task 4 trials, then the nine other tasks, 50 greedy trials each, one stage per task (the table:
# TASKS= OUT=WORKDIR/px192_table ./run_all_tasks.sh, after copying task 4's folder there as task4).
#
#   bash results/default_v11/pipeline.sh WORKDIR       # WORKDIR absolute, as given to demos.sh
#
# Each stage runs once: a stage already timed in WORKDIR/stages.txt is skipped. The SFT (~2.6 h, more
# than is left of a session after the demos) continues a cut run with `sft --resume`, which keeps only the
# training flags (the architecture comes from the checkpoint); a stage's time is then that of its last part.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -eq 1 ] || { echo "usage: pipeline.sh WORKDIR" >&2; exit 2; }
W=$1
stage() {
    name=$1; shift
    grep -q "^$name:" "$W/stages.txt" 2>/dev/null && return 0
    t0=$SECONDS; "$@" >> "$W/$name.log" 2>&1
    echo "$name: $((SECONDS - t0)) s: $*" >> "$W/stages.txt"
}
D=("$W"/demos_s{0,1,2,3,4,5})
if [ -e "$W/px192/sft_state.pt" ]; then how=(--resume); else how=(--image-size 192 --width 192); fi
stage sft python make_default.py sft --demos "${D[@]}" "${how[@]}" --out "$W/px192"
stage screen python results/default_v6/screen_descent.py 1 "$W/px192" "${D[@]}"
stage task4_greedy50 python tgrpo.py --task 4 --episodes 0 --eval-trials 50 --model "$W/px192" \
    --out "$W/px192_task4_greedy50"
for T in 1 2 3 5 6 7 8 9 10; do
    stage "task${T}_greedy50" env OUT="$W/px192_table" TASKS="$T" ./run_all_tasks.sh --episodes 0 \
        --eval-trials 50 --model "$W/px192"
done
