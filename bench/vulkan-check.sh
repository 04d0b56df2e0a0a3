#!/usr/bin/env bash
# The Vulkan backend on a board with a real GPU, in one run (under ~8 minutes on a
# Jetson-class GPU): the device as airt sees it, pp/tg on vulkan and cpu, the per-op
# profile, --backend auto's decision, and the fraction of the device's copy bandwidth decode
# reaches; one summary table at the end.
#
#   bench/vulkan-check.sh path/to/airt
#
# Environment:
#   MODEL=FILE  one model instead of the synthetic TinyLlama q4_0 and q8_0 (a small model
#               makes it run on a software device: MODEL=../shared/models/stories260K.gguf)
#   P=512 N=128 REPS=2 GPU=-1 THREADS=  (bench -p, -n, -r, --gpu, -t)
#   OUT=DIR     where the logs and synthetic models go (default: a temporary directory)
#
# Bandwidth fraction = bytes of weights read per decoded token x tg t/s / the device's
# copy bandwidth (airt info --bandwidth). The weight bytes are the model's (bench's
# model_bytes), the token-embedding table included, so the fraction is a slight overestimate.
set -euo pipefail

AIRT=${1:?usage: vulkan-check.sh path/to/airt}
[[ -x $AIRT ]] || { echo "vulkan-check: $AIRT is not an executable airt" >&2; exit 2; }
P=${P:-512} N=${N:-128} REPS=${REPS:-2} GPU=${GPU:--1}
OUT=${OUT:-$(mktemp -d /tmp/vulkan-check.XXXXXX)}
mkdir -p "$OUT"
threads=()
[[ -n ${THREADS:-} ]] && threads=(-t "$THREADS")
gpu=()
[[ $GPU != -1 ]] && gpu=(--gpu "$GPU")
start=$SECONDS

say() { printf '\n== %s\n' "$*"; }

# A column of bench's CSV output by name: the value on each data row.
csv_column() {
  awk -F, -v key="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == key) c = i; next } c { print $c }'
}

models=()
if [[ -n ${MODEL:-} ]]; then
  models=("$MODEL")
else
  for type in q4_0 q8_0; do
    file=$OUT/tinyllama-$type.gguf
    if [[ ! -s $file ]]; then
      say "synthetic tinyllama-1.1b:$type -> $file"
      "$AIRT" bench --synthetic "tinyllama-1.1b:$type" --keep "$file" -p 8 -n 2 -r 1 "${threads[@]}" >/dev/null
    fi
    models+=("$file")
  done
fi

say "airt info --bandwidth"
"$AIRT" info --bandwidth --bw-mib 256 "${threads[@]}" | tee "$OUT/info.txt"
dev=$((GPU < 0 ? 0 : GPU))
vk_bw=$(sed -n "s/^vulkan $dev bandwidth: \([0-9.]*\) GB\/s.*/\1/p" "$OUT/info.txt")

summary=() decisions=()
declare -A pp tg
for model in "${models[@]}"; do
  name=$(basename "$model" .gguf)
  pp=() tg=()
  for backend in vulkan cpu; do
    say "$name: bench --backend $backend -p $P -n $N -r $REPS"
    "$AIRT" bench -m "$model" --backend "$backend" "${gpu[@]}" "${threads[@]}" -p "$P" -n "$N" -r "$REPS" -o csv \
      >"$OUT/$name-$backend.csv" 2>"$OUT/$name-$backend.err" || { cat "$OUT/$name-$backend.err" >&2; exit 1; }
    cat "$OUT/$name-$backend.csv"
    mapfile -t ts < <(csv_column t_s_mean <"$OUT/$name-$backend.csv")
    pp[$backend]=${ts[0]:-n/a} tg[$backend]=${ts[1]:-n/a}
  done
  bytes=$(csv_column model_bytes <"$OUT/$name-vulkan.csv" | head -1)

  say "$name: per-op profile (vulkan, -p $P -n $N -r 1)"
  "$AIRT" bench -m "$model" --backend vulkan "${gpu[@]}" "${threads[@]}" -p "$P" -n "$N" -r 1 --profile \
    2>"$OUT/$name-profile.err" | tee "$OUT/$name-profile.md"
  grep -h "profile" "$OUT/$name-profile.err" >&2 || true
  top=$(awk -F' [|] ' '/^profile: tg/ { t = 1; next }
                        t && /^[|] [a-z]/ && !/^[|] op / { sub(/^[|] /, "", $1); sub(/ [|]$/, "", $4); print $1 " " $4 "%"; exit }' \
        "$OUT/$name-profile.md")

  say "$name: --backend auto"
  "$AIRT" run -m "$model" "${threads[@]}" -p "Once upon a time" -n 1 --backend auto >/dev/null 2>"$OUT/$name-auto.err"
  # The decision and each device's note: every line before the run's own statistics.
  auto=$(sed -n '/^airt: load /q; s/^airt: //p' "$OUT/$name-auto.err" | paste -sd ';' -)
  echo "${auto:-(no note)}"

  frac=n/a
  if [[ -n $vk_bw && ${tg[vulkan]} != n/a ]]; then
    frac=$(awk -v b="$bytes" -v t="${tg[vulkan]}" -v w="$vk_bw" 'BEGIN { printf "%.3f", b * t / (w * 1e9) }')
  fi
  speedup=$(awk -v v="${tg[vulkan]}" -v c="${tg[cpu]}" 'BEGIN { if (c > 0) printf "%.2fx", v / c; else print "n/a" }')
  summary+=("| $name | ${pp[vulkan]} | ${pp[cpu]} | ${tg[vulkan]} | ${tg[cpu]} | $speedup | $frac | ${top:-n/a} |")
  decisions+=("auto ($name): ${auto:-(no note)}")
done

say "summary (vulkan device $dev: ${vk_bw:-n/a} GB/s copy; $((SECONDS - start)) s; logs in $OUT)"
echo "| model | pp$P vulkan t/s | pp$P cpu t/s | tg$N vulkan t/s | tg$N cpu t/s | tg vulkan/cpu | bandwidth fraction | largest tg op (% of step) |"
echo "|---|---:|---:|---:|---:|---:|---:|---|"
printf '%s\n' "${summary[@]}"
printf '%s\n' "${decisions[@]}"
