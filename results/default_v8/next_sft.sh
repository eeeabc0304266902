#!/bin/bash
# Queued for the next session: ten-task SFT, 8 epochs (12 would not finish in the session), on 30 demos per task (v6's 10 + seeds 2, 3) + 60 for Task 4.
cd /work/main

while pgrep -f "demos_rest.sh" > /dev/null; do sleep 15; done
t0=$(date +%s)
python make_default.py sft --demos /work/v6/demos /work/v6/demos_t4b /work/v8/demos_t4_s2 /work/v8/demos_t4_s3 /work/v8/demos_t4_s4 /work/v8/demos_t4_s5 /work/v8/demos_s2 /work/v8/demos_s3 --epochs 8 --out /work/v8/ten_30 > /work/v8/sft_ten_30.log 2>&1
echo "sft_ten_30: $(( $(date +%s) - t0 )) s: python make_default.py sft --demos /work/v6/demos /work/v6/demos_t4b /work/v8/demos_t4_s{2,3,4,5} /work/v8/demos_s2 /work/v8/demos_s3 --epochs 8 --out /work/v8/ten_30" >> /work/v8/stages.txt
