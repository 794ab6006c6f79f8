#!/usr/bin/env bash
# Sets up genaudit on a fresh Debian machine: the Debian packages the project needs, a virtual
# environment in .venv, and the package with its dev extra. Safe to run again (it only installs
# what is missing).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Debian packages: Fashion-MNIST is the training set of the reference generators.
debs=()
[ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || debs+=(dataset-fashion-mnist)
# opencv-doc: ~30 colour photographs for the watermark and memorization benchmarks and tests
[ -e /usr/share/doc/opencv-doc/examples/data/baboon.jpg ] || debs+=(opencv-doc)
# chromium: the HTML report is rendered and checked in a real headless browser by the tests
[ -x /usr/bin/chromium ] || debs+=(chromium)
if [ "${#debs[@]}" -gt 0 ]; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    echo "setup: installing Debian packages: ${debs[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${debs[@]}" >/dev/null
fi

# Python environment. pip (not uv/poetry) so that the pinned torch wheel is taken from local disk.
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $($python --version)" >&2
    "$python" -m venv .venv
fi
if ! .venv/bin/python -c "import genaudit" 2>/dev/null \
    || [ pyproject.toml -nt .venv/.genaudit-installed ]; then
    echo "setup: installing genaudit and its dependencies into .venv (first run takes ~2 minutes)" >&2
    if ! .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev]" >.venv/pip-install.log 2>&1; then
        grep -v "is ignored: it is neither a file nor a directory" .venv/pip-install.log | tail -40 >&2
        echo "setup: pip install failed (full log: .venv/pip-install.log)" >&2
        exit 1
    fi
    touch .venv/.genaudit-installed
fi
