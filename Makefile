# The two commands of the README:
#   make run    the main job on the embedded default (offline Fashion-MNIST, CPU), then the reproduction book
#               at the default (cpu) scale: every run precomputed with progress bars, then `jupyter-book build book`
#   make test   the test suite (the notebooks and the book at the smoke scale included)
# Both do all set-up first (idempotent): pinned CPU torch, this project with its test and book extras, the
# Fashion-MNIST data; `make test` also installs headless Chromium for the book's browser test.

PYTHON ?= python3
PIP = $(PYTHON) -m pip
# The pinned CPU wheel: a bare `torch` requirement would pull the multi-GB CUDA build.
TORCH_PIN ?= torch==2.13.0
EXTRAS ?= test,book

.PHONY: setup data browser run book test reproduce-results reproduce-resnet20 reproduce-vit reproduce-authors reproduce-budget verify-results

# The committed run records (results/, ctslib/runs/archive.py) that every run store reads instead of computing:
# the cpu-scale runs too slow for the cold book's budget. results/cpu: the figures in ARCHIVED (the open choices'
# page: 81 CTS_KL runs); results/resnet20-fmnist: ResNet-20's evidence set (the chapter "The
# paper's model on CPU" and Fig. 5 at cpu scale: 135 runs, ~8 core-hours; a book build never computes them);
# results/vit-fmnist: the chapter "Self-attention" (a small ViT: 201 runs, ~1.7 core-hours, never computed by a build);
# results/authors-code: the page "ctslib and the authors' code" (LeNet and ResNet-20 runs under the authors' choices;
# its equivalence/ folder is made by scripts/authors_code.py from a clone of their code, not by a target here);
# results/budget-fmnist: the chapter "Does CTS catch up with more training?" (225 LeNet runs at 3 training budgets).
# reproduce-results / reproduce-resnet20 / reproduce-vit recompute them from scratch (no archive read) into a fresh
# store and commit them; verify-results recomputes N records chosen at random and compares.
ARCHIVED ?= open
EVIDENCE ?= resnet20,fig5
VIT ?= vit
AUTHORS ?= authors,authors_resnet20
BUDGET ?= budget
REPRODUCE_STORE ?= _build/reproduce-store
WORKERS ?= auto
N ?= 2
# the test suite on one process per core (pytest-xdist); the smoke book's tests share one worker, so it is built once
TEST_WORKERS ?= auto

setup:
	$(PIP) install --quiet "$(TORCH_PIN)"
	$(PIP) install --quiet -e ".[$(EXTRAS)]"
	$(MAKE) --no-print-directory data

data:
	@bash scripts/ensure_data.sh "$(PYTHON)"

browser:
	@bash scripts/ensure_browser.sh

run: setup
	$(PYTHON) -m ctslib run --model lenet300 --dataset fashion_mnist --method cts --objective kl --density 0.01
	PYTHON="$(PYTHON)" bash scripts/build_book.sh

book: setup
	PYTHON="$(PYTHON)" bash scripts/build_book.sh

# the test suite also tests the cluster executors (a local Ray cluster, submitit's local executor)
test: EXTRAS = test,book,ray,slurm
test: setup browser
	$(PYTHON) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

reproduce-results: setup
	CTS_RESULTS=none $(PYTHON) -m ctslib --store "$(REPRODUCE_STORE)" book --scale cpu --figures $(ARCHIVED)
	$(PYTHON) -m ctslib --store "$(REPRODUCE_STORE)" results save --scale cpu --figures $(ARCHIVED)

reproduce-resnet20: setup
	CTS_RESULTS=none $(PYTHON) -m ctslib --store "$(REPRODUCE_STORE)" book --scale cpu --figures $(EVIDENCE) --workers $(WORKERS)
	$(PYTHON) -m ctslib --store "$(REPRODUCE_STORE)" results save --scale cpu --figures $(EVIDENCE)

reproduce-vit: setup
	CTS_RESULTS=none $(PYTHON) -m ctslib --store "$(REPRODUCE_STORE)" book --scale cpu --figures $(VIT) --workers $(WORKERS)
	$(PYTHON) -m ctslib --store "$(REPRODUCE_STORE)" results save --scale cpu --figures $(VIT)

reproduce-authors: setup
	CTS_RESULTS=none $(PYTHON) -m ctslib --store "$(REPRODUCE_STORE)" book --scale cpu --figures $(AUTHORS) --workers $(WORKERS)
	$(PYTHON) -m ctslib --store "$(REPRODUCE_STORE)" results save --scale cpu --figures $(AUTHORS)

reproduce-budget: setup
	CTS_RESULTS=none $(PYTHON) -m ctslib --store "$(REPRODUCE_STORE)" book --scale cpu --figures $(BUDGET) --workers $(WORKERS)
	$(PYTHON) -m ctslib --store "$(REPRODUCE_STORE)" results save --scale cpu --figures $(BUDGET)

verify-results: setup
	$(PYTHON) -m ctslib results check
	$(PYTHON) -m ctslib results verify --sample $(N)
