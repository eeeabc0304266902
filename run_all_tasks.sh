#!/usr/bin/env bash
# TGRPO on the ten LIBERO-Object tasks with the paper's Table 3 (a1, a2), then one results table
# beside the paper's TGRPO row of Table 1, built from whatever task results are in OUT.
#
#   ./run_all_tasks.sh                          # paper defaults, embedded CPU policy
#   ./run_all_tasks.sh --model /path/to/openvla-7b-finetuned-libero-object --seed 1
#   TASKS="1 5 9" ./run_all_tasks.sh ...        # a subset, e.g. one node of a cluster
#   TASKS= ./run_all_tasks.sh                   # no runs: only the table from OUT
#
# Extra flags go to every tgrpo.py run. With GPUs (nvidia-smi), tasks are spread over them, one
# process per GPU at a time; on CPU they run in turn. OUT=dir sets where runs and the table go.
set -euo pipefail
cd "$(dirname "$0")"
OUT=${OUT:-runs/all_tasks}
mkdir -p "$OUT"
A1=(10 1 10 0.35 0.3 0.3 10 10 0.3 0.3)          # Table 3, Task1..Task10
A2=(1 0.1 5 0.65 0.7 0.7 1 1 0.7 0.7)
PAPER=(78 86 92 76 98 94 98 98 94 96)            # Table 1, TGRPO row (% success)

run_task() {   # task gpu [extra flags]; gpu "" = CPU (robosuite's EGL chokes on an empty CUDA_VISIBLE_DEVICES)
  local t=$1 gpu=$2; shift 2
  echo "task $t (a1=${A1[t-1]} a2=${A2[t-1]}) -> $OUT/task$t.log"
  env ${gpu:+CUDA_VISIBLE_DEVICES=$gpu} python tgrpo.py --task "$t" --a1 "${A1[t-1]}" --a2 "${A2[t-1]}" \
    --out "$OUT/task$t" "$@" > "$OUT/task$t.log" 2>&1 || echo "task $t FAILED (see $OUT/task$t.log)"
}

TASKS=(${TASKS-1 2 3 4 5 6 7 8 9 10})
for t in "${TASKS[@]}"; do
  [[ $t =~ ^([1-9]|10)$ ]] || { echo "run_all_tasks.sh: TASKS holds '$t'; tasks are 1..10" >&2; exit 2; }
done
ngpu=$( (nvidia-smi -L 2>/dev/null || true) | grep -c '^GPU' || true)
if [ "$ngpu" -gt 0 ]; then
  for g in $(seq 0 $((ngpu - 1))); do          # GPU g runs the g-th, (g+ngpu)-th, ... task of TASKS in turn
    ( for i in "${!TASKS[@]}"; do
        if [ $((i % ngpu)) -eq "$g" ]; then run_task "${TASKS[i]}" "$g" "$@"; fi
      done ) &
  done
  wait
else
  for t in "${TASKS[@]}"; do run_task "$t" "" "$@"; done
fi

python - "$OUT" "${PAPER[@]}" > "$OUT/results.md" <<'PY'
import json, sys
from pathlib import Path
out, paper = Path(sys.argv[1]), [float(p) for p in sys.argv[2:]]
rows, ours = ["| | " + " | ".join(f"Task{t}" for t in range(1, 11)) + " | Avg |", "|---" * 12 + "|"], []
for t in range(1, 11):
    f = out / f"task{t}" / "eval.json"
    ours.append(100 * json.loads(f.read_text())["success_rate"] if f.exists() else None)
done = [x for x in ours if x is not None]
avg = f"{sum(done) / len(done):.1f}%" if len(done) == 10 else "-"
rows.append("| this run | " + " | ".join("-" if x is None else f"{x:.0f}%" for x in ours) + f" | {avg} |")
rows.append("| paper TGRPO (Table 1) | " + " | ".join(f"{p:.0f}%" for p in paper) + f" | {sum(paper) / 10:.1f}% |")
print("\n".join(rows))
PY
cat "$OUT/results.md"
