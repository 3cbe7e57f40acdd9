#!/usr/bin/env bash
# `make smoke`: build the wheel, install it into a fresh venv and use it from a folder outside the
# checkout, as a user who ran `pip install motionzoo` would (CI runs this after `make test`).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
py=${PY:-python3}
find_links=()
[ -d /opt/wheels ] && find_links=(--find-links /opt/wheels)

"$repo/.venv/bin/pip" wheel --no-deps -q -w "$work/dist" "$repo"
"$py" -m venv "$work/venv"
pip=("$work/venv/bin/pip" --disable-pip-version-check install -q "${find_links[@]}")
"${pip[@]}" "torch==2.13.0"
"${pip[@]}" "$work"/dist/motionzoo-*.whl

cd "$work"  # no checkout here: everything comes from the installed package
export MOTIONZOO_CACHE="$work/cache"
bin="$work/venv/bin"
"$bin/python" - <<'PY'
import torch
import motionzoo
from motionzoo.geometry import h36m_cameras

names = motionzoo.list_pretrained()
assert "graphsh-synthetic" in names and "linear-h36m-synthetic" in names, names
lifter = motionzoo.load_pretrained("graphsh-synthetic")
camera = h36m_cameras("S9")[0]
pose = lifter.lift(torch.full((2, 16, 2), 500.0), camera)
assert pose.shape == (2, 16, 3) and torch.isfinite(pose).all()
print("smoke: listed", len(names), "pretrained models; loaded and lifted with graphsh-synthetic")
PY
"$bin/motionzoo" --version
"$bin/motionzoo" models > "$work/models.txt"  # to a file: grep -q would cut the pipe
grep -q "pretrained graphsh-synthetic: test/mpjpe" "$work/models.txt" \
    || { echo "smoke: motionzoo models lists no pretrained weights"; exit 1; }
echo "smoke: motionzoo models lists the packaged weights"
"$bin/motionzoo" fit --config linear/h36m_synthetic --trainer.fast_dev_run true \
    --trainer.enable_progress_bar false > "$work/fit.log" 2>&1 || { cat "$work/fit.log"; exit 1; }
if grep -q "args parameter is intended" "$work/fit.log"; then
    echo "smoke: the CLI printed LightningCLI's args warning"; exit 1
fi
echo "smoke: motionzoo fit --config linear/h36m_synthetic (packaged config) ran"
"$bin/python" -m motionzoo.demo --epochs 1 --log-dir "$work/logs" | tail -7
test -d "$work/logs/demo_linear_h36m_synthetic"
echo "smoke: the wheel works outside the checkout"
