#!/usr/bin/env bash
# Issue 18, recipe v6: the shipped default's recipe (results/README.md, section 1) with an expert that
# turns the hand by 0.6 rad while it closes the gripper (demos --turn 0.6) and ends the close when the
# turn is done. Why: held out, the SFT defaults' greedy z goes up halfway down the descent and the
# gripper follows it (results/default_v6/screen_*.txt): from the agentview camera the fingers hide
# behind the hand, so the late descent looks like the early lift. A turned hand is visible.
# 10 demos per task, 20 for Task 4 (placement seeds 0 and 1), no grip noise, the same model and SFT.
#
#   bash results/default_v6/pipeline.sh WORKDIR      # from the repository root; ~1 h on the 2-core machine
#
# Demos and checkpoints go to WORKDIR (GBs of demos: never in the repo); each stage's log and wall time
# (WORKDIR/stages.txt) and the SFT curve are copied here at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
W=${1:?usage: pipeline.sh WORKDIR}
HERE=results/default_v6
mkdir -p "$W"
stage() {   # stage NAME COMMAND...: run, log to WORKDIR/NAME.log, append the wall time to stages.txt
    local name=$1 t0=$SECONDS; shift
    "$@" > "$W/$name.log" 2>&1
    echo "$name: $((SECONDS - t0)) s: $*" | tee -a "$W/stages.txt"
}
# two processes side by side (2 cores)
( stage demos_1-5 python make_default.py demos --tasks 1-5 --per-task 10 --turn 0.6 --out "$W/demos"
  stage demos_4b python make_default.py demos --tasks 4 --per-task 10 --seed 1 --turn 0.6 --out "$W/demos_t4b" ) & p=$!
stage demos_6-10 python make_default.py demos --tasks 6-10 --per-task 10 --turn 0.6 --out "$W/demos"; wait $p
stage sft python make_default.py sft --demos "$W/demos" "$W/demos_t4b" --out "$W/default_v6"
stage screen python results/default_v6/screen_descent.py 1 "$W/default_v6" "$W/demos" "$W/demos_t4b"
stage screen_shipped python results/default_v6/screen_descent.py 1 default_policy "$W/demos" "$W/demos_t4b"
stage phases python make_default.py phases default_policy "$W/default_v6" --task 4 --states 0-3 --turn 0.6
# Not run: the screen and phases showed the descent worse than the shipped default's (results/README.md),
# so the 50 greedy Task 4 trials (~25 min) were not spent on it:
# stage greedy50 python tgrpo.py --task 4 --episodes 0 --eval-trials 50 --model "$W/default_v6" --out "$W/runs/v6_task4_greedy50"
cp "$W"/stages.txt "$W"/*.log "$W"/default_v6/sft_loss.json "$W"/default_v6/sft_loss.png "$HERE"/
du -sh "$W/default_v6"
