#!/bin/bash
# Issue 18, recipe v8, Task 4 only (as run): SFT on the 60 Task 4 demos (v6's seeds 0-1 + seeds 2-5),
# 20 epochs, 2 demos held out; the held-out descent screen; 50 greedy trials on Task 4.
cd /work/main
while pgrep -f "make_default.py demos" > /dev/null; do sleep 10; done
stage() { name=$1; shift; t0=$(date +%s); "$@" > /work/v8/$name.log 2>&1; echo "$name: $(( $(date +%s) - t0 )) s: $*" >> /work/v8/stages.txt; }
D="/work/v6/t4a /work/v6/t4b /work/v8/demos_t4_s2 /work/v8/demos_t4_s3 /work/v8/demos_t4_s4 /work/v8/demos_t4_s5"
stage sft_t4_60 python make_default.py sft --demos $D --epochs 20 --val-demos 2 --out /work/v8/t4_60
stage screen_t4_60 python results/default_v6/screen_descent.py 2 /work/v8/t4_60 $D
stage greedy50_t4_60 python tgrpo.py --task 4 --episodes 0 --eval-trials 50 --model /work/v8/t4_60 --out /work/v8/runs/t4_60_greedy50
