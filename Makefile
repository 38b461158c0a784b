# The two commands of the README:
#   make run    the main job on the embedded default (offline Fashion-MNIST, CPU)
#   make test   the test suite
# Both do all set-up first (idempotent): pinned CPU torch, this project, the Fashion-MNIST data.

PYTHON ?= python3
PIP = $(PYTHON) -m pip
# The pinned CPU wheel: a bare `torch` requirement would pull the multi-GB CUDA build.
TORCH_PIN ?= torch==2.13.0
EXTRAS ?= test

.PHONY: setup data run test

setup:
	$(PIP) install --quiet "$(TORCH_PIN)"
	$(PIP) install --quiet -e ".[$(EXTRAS)]"
	$(MAKE) --no-print-directory data

data:
	@bash scripts/ensure_data.sh "$(PYTHON)"

run: setup
	$(PYTHON) -m ctslib run --model lenet300 --dataset fashion_mnist --method cts --objective kl --density 0.01

test: setup
	$(PYTHON) -m pytest -q
