#!/usr/bin/env bash
# The quick start (`make demo`): installs what is missing, builds, and shows airt working
# on this machine with nothing but the clone:
#   1. writes a small random-weight model of a known shape and prints `airt info` and an
#      `airt bench` table for it;
#   2. starts mosquitto on a free loopback port and `airt serve` with that model, sends one
#      request with mosquitto_rr, prints the reply and one telemetry message, and stops both;
#   3. with a real model at hand (MODEL=path/to/model.gguf, or ../shared/models/
#      stories260K.gguf beside the clone) generates text with `airt run`.
# Its last line is "demo: ok, ..." when the MQTT reply came back.
#
# usage: toolchain/demo.sh [--no-build]
#   --no-build   use the binary as it is (AIRT=path, default build/release/airt)
# env: MODEL (real GGUF model), DEMO_SHAPE (synthetic SHAPE:TYPE, default airt-micro:q8_0),
#      AIRT_TEST_MODELS (where ../shared/models would be)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=1
[ "${1:-}" = "--no-build" ] && build=0
airt=${AIRT:-$root/build/release/airt}
shape=${DEMO_SHAPE:-airt-micro:q8_0}
node=demo

step() { printf '\n== %s\n' "$*"; }
die() { echo "demo: FAILED: $*" >&2; exit 1; }
[ -z "${MODEL:-}" ] || [ -f "$MODEL" ] || die "MODEL=$MODEL: no such file"

if [ $build -eq 1 ]; then
  step "dependencies and build"
  bash toolchain/install-deps.sh
  cmake --preset release >/dev/null
  cmake --build --preset release -j "$(nproc)" --target airt
fi
[ -x "$airt" ] || die "$airt is not built (run make demo, or cmake --build --preset release --target airt)"
for tool in /usr/sbin/mosquitto mosquitto_rr mosquitto_sub; do
  command -v "$tool" >/dev/null || die "$tool is missing (bash toolchain/install-deps.sh installs it)"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/airt-demo.XXXXXX")
broker_pid="" serve_pid="" sub_pid=""
stop() {
  # SIGTERM first: airt drains and publishes its offline status; mosquitto exits at once.
  for p in $sub_pid $serve_pid $broker_pid; do kill -TERM "$p" 2>/dev/null || true; done
  for p in $sub_pid $serve_pid $broker_pid; do wait "$p" 2>/dev/null || true; done
  sub_pid="" serve_pid="" broker_pid=""
}
trap 'stop; rm -rf "$tmp"' EXIT

step "this machine (airt info)"
"$airt" info

step "a synthetic model: $shape (RANDOM WEIGHTS: it measures speed, its text is gibberish)"
model=$tmp/synthetic.gguf
"$airt" bench --synthetic "$shape" --keep "$model" -p 64 -n 16 -r 2
ls -l "$model" | awk '{print "model file: " $NF ", " $5 " bytes"}'

# A free loopback port: ask the kernel for one, then let mosquitto bind it (retried if
# something else took it in between).
free_port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }
  done
  die "no free loopback port found"
}
wait_port() {
  for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

step "MQTT: mosquitto on a loopback port, airt serve with the synthetic model"
for attempt in 1 2 3; do
  port=$(free_port)
  {
    echo "listener $port 127.0.0.1"
    echo "allow_anonymous true"
    [ "$(id -u)" -eq 0 ] && echo "user root"  # else it drops to 'mosquitto', which cannot read $tmp
  } >"$tmp/mosquitto.conf"
  /usr/sbin/mosquitto -c "$tmp/mosquitto.conf" >"$tmp/mosquitto.log" 2>&1 &
  broker_pid=$!
  wait_port "$port" "$broker_pid" && break
  kill "$broker_pid" 2>/dev/null || true
  wait "$broker_pid" 2>/dev/null || true
  broker_pid=""
done
[ -n "$broker_pid" ] || { cat "$tmp/mosquitto.log" >&2; die "mosquitto did not start"; }
echo "mosquitto: 127.0.0.1:$port (pid $broker_pid)"

cat >"$tmp/airt.json" <<JSON
{"telemetry_interval_s": 1, "limits": {"max_prompt_tokens": 128}, "model": {"ctx": 256, "threads": 2}}
JSON
"$airt" serve --config "$tmp/airt.json" -m "$model" --broker "127.0.0.1:$port" --node "$node" --slots 1 \
  >"$tmp/serve.log" 2>&1 &
serve_pid=$!
# The retained status says "online" once airt is subscribed; give up early if it exits.
status=""
for _ in $(seq 60); do
  status=$(mosquitto_sub -h 127.0.0.1 -p "$port" -t "airt/$node/status" -C 1 -W 1 2>/dev/null) || true
  case "$status" in *'"online"'*) break ;; esac
  kill -0 "$serve_pid" 2>/dev/null || break
done
case "$status" in
  *'"online"'*) echo "status:    $status" ;;
  *) cat "$tmp/serve.log" >&2; die "airt serve did not come online (status: ${status:-none})" ;;
esac
mosquitto_sub -h 127.0.0.1 -p "$port" -t "airt/$node/telemetry" -C 1 -W 30 >"$tmp/telemetry.json" 2>&1 &
sub_pid=$!

request='{"id": "demo-1", "prompt": "Once upon a time", "max_tokens": 16, "temperature": 0}'
echo "request:   $request  (to airt/$node/request)"
reply=$(mosquitto_rr -V 5 -h 127.0.0.1 -p "$port" -t "airt/$node/request" -e "demo/reply" -m "$request" -W 60 2>&1) ||
  { cat "$tmp/serve.log" >&2; die "no reply over MQTT (${reply:-timeout})"; }
echo "reply:     $reply"
case "$reply" in *'"finish_reason"'*) ;; *) die "the reply is not a final message" ;; esac
wait "$sub_pid" 2>/dev/null || true
sub_pid=""
echo "telemetry: $(cat "$tmp/telemetry.json")"
stop
echo "stopped airt serve and mosquitto"

models=${AIRT_TEST_MODELS:-$root/../shared/models}
real=${MODEL:-$models/stories260K.gguf}
if [ -f "$real" ]; then
  step "a real model: $real"
  "$airt" run -m "$real" -p "Once upon a time" -n 96 --temp 0
  echo
else
  step "no real model (set MODEL=path/to/model.gguf; README.md says where to get one)"
fi
echo "demo: ok, reply received over MQTT"
