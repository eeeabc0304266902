#!/bin/bash
# As run (issue 18, recipe v9). After pipeline.sh's Task 4 evaluation of NAME: if Task 4 is inside the
# band (>= 10/50 greedy), the other nine tasks, 50 greedy trials each, one after another (each task's
# result persists in /work/v9/table_NAME); else pipeline.sh for the width-128 model at 20 epochs.
#   nohup ./table_after.sh w192 &
NAME=$1
cd /work/main
while ! grep -q "^greedy50_$NAME:" /work/v9/stages.txt 2>/dev/null; do sleep 20; done
s=$(python -c "import json; print(json.load(open('/work/v9/runs/${NAME}_greedy50/eval.json'))['successes'])")
echo "task 4: $s/50" > /work/v9/table_$NAME.gate
if [ "$s" -lt 10 ]; then   # below the band: try the narrow model with more updates instead
    exec /work/v9/pipeline.sh /work/v9 w128e20 --epochs 20
fi
t0=$(date +%s)
OUT=/work/v9/table_$NAME TASKS="1 2 3 5 6 7 8 9 10" ./run_all_tasks.sh --episodes 0 --eval-trials 50 --model /work/v9/$NAME > /work/v9/table_$NAME.log 2>&1
echo "table_$NAME: $(( $(date +%s) - t0 )) s: OUT=/work/v9/table_$NAME TASKS=\"1 2 3 5 6 7 8 9 10\" ./run_all_tasks.sh --episodes 0 --eval-trials 50 --model /work/v9/$NAME" >> /work/v9/stages.txt
