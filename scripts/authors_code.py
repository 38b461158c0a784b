"""The authors' own CTS search and ctslib's `authors_code` bundle, side by side on identical inputs and noise.

    git clone https://github.com/tanayarora09/TLAB /path/to/TLAB          # your own clone (full history)
    CTS_AUTHORS_CODE=/path/to/TLAB python scripts/authors_code.py          # draw, compare, commit the data
    CTS_AUTHORS_CODE=/path/to/TLAB python scripts/authors_code.py --bench  # time per search step, interleaved

For LeNet-300-100 at its cpu preset (15,000 Fashion-MNIST images, batch 128, 4 search epochs = 472 steps), CTS_KL
under GRADBALANCE at 0.92% and 0.24% density (0.8^21, 0.8^27, on the book's grid), seeds 0-2, each case is searched
twice from ctslib's rewind point theta_k of that seed:

1. by the authors' code: their `KldLogit.optimize_mask` (search/concrete.py) on their `MaskedModel` /
   `LotteryLinear` layers (models/base.py, models/LotteryLayers.py) holding ctslib's theta_k;
2. by ctslib: `ctslib.runs.pipeline.cts_search` of the run `search_like(config, "authors_code")`, i.e. exactly the
   search `ctslib run --search-like authors_code` runs.

Both see the same batches in the same order and the same Concrete noise: their layers draw theirs with
`torch.rand_like` from torch's global generator, and the batches given to their loop are ctslib's `Batches`
shuffled by that same global generator, seeded as ctslib's draw phase seeds its own (`phase_seed(seed, 'draw')`),
so one stream of random numbers feeds both codes in the same order. Then each case records, per step, R_KL, the
expected density E[||m||_0] / d before the step and lambda after it, and the final tickets; the authors' ticket is
also trained with ctslib's training (`pipeline.train_ticket`, the run's own schedule from theta_k). For reference,
two more draws: ctslib's bundle without the x100 scales (what the scale does), and the authors' code with another
noise stream (how far two draws of the same search lie apart).

Written (committed; `tests/report/test_authors_code.py` redraws ctslib's side and checks it against them):
    results/authors-code/equivalence/manifest.json   setting, their commit, the shims, per case: IoU, trace agreement,
                                                     kept counts, trained top-1 of their ticket, seconds
    results/authors-code/equivalence/traces.npz      per case and step: R, E[density], lambda of both codes
    results/authors-code/equivalence/tickets.npz     the authors' tickets, bit-packed
    benchmarks/results/vs_authors_code.json          (--bench) seconds per search step of both, interleaved

Their repository has no licence, so nothing of it is copied into this one: it is read from your clone at run time
and executed with the smallest shims, each listed in SHIMS (and in the manifest): CUDA device literals -> CPU,
`torch.distributed` calls made no-ops (one process), one f-string that needs Python 3.12, and three imports this
path never uses (h5py, torchinfo, their data module) stubbed. Nothing else of their code is changed; the search
runs through their `optimize_mask`, not through a copy of it.

Time: ~4 s a search on one thread for either code; the whole script ~2 min (on the 2-core AMD EPYC VM).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ctslib import __version__  # noqa: E402
from ctslib.cts import SearchSettings  # noqa: E402
from ctslib.report.authors import EQUIVALENCE_DIR, EQUIVALENCE_FORMAT, max_relative  # noqa: E402
from ctslib.runs.authors_code import AUTHORS_COMMIT, FORWARD_KL_COMMIT, search_like  # noqa: E402
from ctslib.runs.pipeline import cts_search, search_inputs, train_ticket  # noqa: E402
from ctslib.runs.presets import base_config  # noqa: E402
from ctslib.runs.runtime import phase_seed  # noqa: E402
from ctslib.tickets import Ticket  # noqa: E402

ENV = "CTS_AUTHORS_CODE"
OUT = EQUIVALENCE_DIR
BENCH_OUT = ROOT / "benchmarks" / "results" / "vs_authors_code.json"
DENSITIES = (0.8 ** 21, 0.8 ** 27)  # 0.92% and 0.24%: the book's LeNet grid, in the highly sparse end
SEEDS = (0, 1, 2)

# (file, text in their file, what it becomes, why): applied to the source read from the clone before it runs.
SHIMS = (
    ("models/base.py", 'device = "cuda"', 'device = "cpu"', "CUDA device literals -> CPU (this machine has no GPU)"),
    ("models/base.py", "device = 'cuda'", "device = 'cpu'", "CUDA device literal -> CPU"),
    ("search/concrete.py", "device = 'cuda'", "device = 'cpu'", "CUDA device literals -> CPU"),
    ("search/concrete.py", "x, y = x.cuda(), y.cuda()", "x, y = x, y", "the batches are on the CPU already"),
    ("search/concrete.py", '{self.mm.get_buffer("MASK").std().item():.3f}',
     "{self.mm.get_buffer('MASK').std().item():.3f}",
     "a progress-bar f-string reusing its quotes, which Python < 3.12 cannot parse"),
)
# Run-time stand-ins, not textual: `dist` in their modules (all_reduce, barrier, broadcast: no-ops in one process,
# where torch.distributed has no process group); the modules `h5py`, `torchinfo` (imported by models/base.py for
# ticket files and summaries) and `data.index` (imported by search/concrete.py for a type hint), none used here.
STANDINS = ("torch.distributed in their modules: all_reduce / barrier / broadcast are no-ops (one process)",
            "modules h5py, torchinfo and data.index: empty stand-ins (imported, never used on this path)")


class _OneProcess:
    """`torch.distributed` for one process: every collective leaves its tensor as it is."""

    ReduceOp = torch.distributed.ReduceOp

    @staticmethod
    def all_reduce(tensor, op=None):
        return None

    @staticmethod
    def barrier(*args, **kwargs):
        return None

    @staticmethod
    def broadcast(tensor, src=0):
        return None


def _commit(root: Path) -> str:
    try:
        return subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git clone)"


def load_authors_code(root: Path) -> types.SimpleNamespace:
    """Their LotteryLayers, base (MaskedModel) and concrete (the search) modules, from the clone at `root`."""
    for name in ("models/LotteryLayers.py", "models/base.py", "search/concrete.py"):
        if not (root / name).is_file():
            raise SystemExit(f"{ENV}={root}: no {name} there; point {ENV} at a clone of "
                             f"https://github.com/tanayarora09/TLAB (git clone it, then {ENV}=/path/to/TLAB)")
    for stub in ("h5py", "torchinfo"):
        sys.modules.setdefault(stub, types.ModuleType(stub))
    data_pkg, data_index = types.ModuleType("data"), types.ModuleType("data.index")
    data_pkg.__path__ = []
    data_index.DataHandle = object
    sys.modules["data"], sys.modules["data.index"] = data_pkg, data_index
    modules = {}
    for package in ("models", "search"):
        pkg = types.ModuleType(package)
        pkg.__path__ = [str(root / package)]
        sys.modules[package] = pkg
    for dotted, rel in (("models.LotteryLayers", "models/LotteryLayers.py"), ("models.base", "models/base.py"),
                        ("search.concrete", "search/concrete.py")):
        source = (root / rel).read_text()
        for file, old, new, why in SHIMS:
            if file == rel:
                if old not in source:
                    raise SystemExit(f"{rel} at {_commit(root)} has no {old!r}: the shim '{why}' does not apply to "
                                     f"this commit of their code (written for {AUTHORS_COMMIT[:7]})")
                source = source.replace(old, new)
        module = types.ModuleType(dotted)
        module.__file__ = str(root / rel)
        module.__package__ = dotted.rpartition(".")[0]
        sys.modules[dotted] = module
        exec(compile(source, str(root / rel), "exec"), module.__dict__)
        if "dist" in module.__dict__:
            module.dist = _OneProcess
        modules[dotted.rpartition(".")[2]] = module
    return types.SimpleNamespace(**modules, root=root, commit=_commit(root))


def their_lenet(code: types.SimpleNamespace, model: nn.Module) -> nn.Module:
    """ctslib's LeNet-300-100 (at theta_k) as their MaskedModel: blocks of LotteryLinear layers holding its weights,
    in the order of ctslib's prunable weights (so their flat MASK is ctslib's flat alpha_logit, element by element)."""
    masked_model, lottery_linear = code.base.MaskedModel, code.LotteryLayers.LotteryLinear

    class Block(nn.Module):
        def __init__(self, fc: nn.Module):
            super().__init__()
            self.fc = fc

    class LeNet(masked_model):
        def __init__(self):
            super().__init__()
            self.b1, self.b2, self.b3 = (Block(lottery_linear(layer.in_features, layer.out_features))
                                         for layer in (model.fc1, model.fc2, model.fc3))
            self.init_base(0, 1)

        def forward(self, x):
            x = torch.relu(self.b1.fc(torch.flatten(x, 1)))
            x = torch.relu(self.b2.fc(x))
            return self.b3.fc(x)

    net = LeNet()
    with torch.no_grad():
        for block, layer in zip((net.b1, net.b2, net.b3), (model.fc1, model.fc2, model.fc3)):
            block.fc.weight.copy_(layer.weight)
            block.fc.bias.copy_(layer.bias)
    return net


class _Loader:
    """What their loop iterates: ctslib's batches (`for x, y in loader`), with the sampler hook it calls."""

    def __init__(self, batches):
        self.batches = batches
        self.sampler = types.SimpleNamespace(set_epoch=lambda epoch: None)

    def __iter__(self):
        return iter(self.batches)

    def __len__(self):
        return len(self.batches)


def authors_search(code: types.SimpleNamespace, config, noise_seed: int | None = None, trace: bool = True) -> dict:
    """Their KldLogit search (GRADBALANCE) on `config`'s theta_k, batches and noise; per-step trace and ticket."""
    inputs = search_inputs(config, generator=torch.default_generator)
    net = their_lenet(code, inputs.model)  # (builds layers: uses the global generator, which is re-seeded below)
    epochs = config.search_epochs
    if epochs != int(epochs) or inputs.steps != int(epochs) * inputs.steps_per_epoch:
        raise SystemExit(f"their loop runs whole epochs; {config.label} searches {epochs} epochs")
    epochs = int(epochs)

    base = code.concrete.KldLogit
    traced = {"objective": [], "expected_density": [], "lam": [], "seconds": []}

    class Traced(base):
        def _compute_loss(self, x, y):
            out = super()._compute_loss(x, y)
            if trace:
                traced["objective"].append(float(out.detach()))
            return out

        def optimize_step(self, x, y):
            if trace:
                with torch.no_grad():
                    traced["expected_density"].append(
                        float(torch.sigmoid(self.mm.get_buffer("MASK")).sum() / self.mm.num_prunable))
            start = time.perf_counter()
            super().optimize_step(x, y)
            traced["seconds"].append(time.perf_counter() - start)
            if trace:
                traced["lam"].append(float(self.lagrange_multiplier))

    searcher = Traced(0, 1, net)
    # (their data handle is the 4th argument: `handle` in FrozenConcrete.build, `transforms` in KldLogit.build)
    searcher.build(config.density, torch.optim.Adam, {"lr": SearchSettings.lr},
                   types.SimpleNamespace(eval_transforms=[]), gradbalance=True)
    seed = phase_seed(config.seed if noise_seed is None else noise_seed, "draw")
    torch.manual_seed(seed)  # the stream ctslib's draw phase starts from (the batches' order, then the noise)
    start = time.perf_counter()
    _, flat = searcher.optimize_mask(_Loader(inputs.batches), epochs, inputs.steps_per_epoch,
                                     reduce_epochs=[int(0.88 * epochs)])
    seconds = time.perf_counter() - start
    alpha_logit = searcher.mm.get_buffer("MASK").detach().clone()
    searcher.finish()
    sizes = [layer.MASK_NUMEL for layer in net.lottery_layers]
    masks = {n: part.view(inputs.model.get_parameter(n).shape).clone()
             for n, part in zip(("fc1.weight", "fc2.weight", "fc3.weight"), flat.cpu().split(sizes))}
    return {"ticket": Ticket(masks), "trace": traced, "seconds": seconds, "steps": len(traced["seconds"]),
            "alpha_logit": alpha_logit}


def case_config(density: float, seed: int):
    return search_like(base_config("cpu", "lenet300", method="cts", objective="kl", density=density, seed=seed),
                       "authors_code")


def equivalence(code: types.SimpleNamespace) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    cases, traces, tickets = [], {}, {"format": np.array("ctslib.authors-tickets/1")}
    started = time.perf_counter()
    for i, (density, seed) in enumerate((d, s) for d in DENSITIES for s in SEEDS):
        config = case_config(density, seed)
        theirs = authors_search(code, config)
        ours = cts_search(config)
        unscaled = cts_search(config.with_(objective_scale=1.0, sparsity_scale=1.0))
        their_trace = theirs["trace"]
        ours_trace = {"objective": ours.objective, "expected_density": ours.expected_density, "lam": ours.lam}
        their_r = their_trace["objective"]  # their _compute_loss is R itself (optimize_step scales it by 100)
        case = {
            "density": density, "seed": seed, "run_id": config.run_id, "config": config.to_dict(),
            "steps": theirs["steps"], "kept_authors": theirs["ticket"].num_kept, "kept_ctslib": ours.ticket.num_kept,
            "iou": theirs["ticket"].iou(ours.ticket),
            "max_relative_difference": {"objective": max_relative(ours.objective, their_r),
                                        "expected_density": max_relative(ours.expected_density,
                                                                         their_trace["expected_density"]),
                                        "lam": max_relative(ours.lam, their_trace["lam"])},
            "final": {"authors": {"expected_density": their_trace["expected_density"][-1],
                                  "lam": their_trace["lam"][-1]},
                      "ctslib": {"expected_density": ours.expected_density[-1], "lam": ours.lam[-1]}},
            "iou_without_scales": theirs["ticket"].iou(unscaled.ticket),
            # the scores at the ticket's threshold: the k-th and (k+1)-th largest alpha_logit of each code (a swap of
            # weights between the tickets is a near-tie there), and the codes' largest difference of any alpha_logit
            "alpha_at_threshold": {"authors": theirs["alpha_logit"].topk(ours.ticket.num_kept + 1).values[-2:].tolist(),
                                   "ctslib": ours.alpha_logit.topk(ours.ticket.num_kept + 1).values[-2:].tolist()},
            "alpha_max_abs_difference": float((theirs["alpha_logit"] - ours.alpha_logit).abs().max()),
            "seconds_authors": theirs["seconds"], "seconds_ctslib": ours.seconds,
        }
        if seed == SEEDS[0]:  # the noise floor: their code again, with another seed's noise and data order
            other = authors_search(code, config, noise_seed=seed + 1000, trace=False)
            case["iou_authors_other_noise"] = theirs["ticket"].iou(other["ticket"])
        case["top1_authors_ticket"] = train_ticket(config, theirs["ticket"])["top1"]
        cases.append(case)
        for name in ("objective", "expected_density", "lam"):
            traces[f"authors_{name}_{i}"] = np.asarray(their_r if name == "objective" else their_trace[name])
            traces[f"ctslib_{name}_{i}"] = np.asarray(ours_trace[name])
        for j, (name, mask) in enumerate(theirs["ticket"].masks.items()):
            tickets[f"bits{i}_{j}"] = np.packbits(mask.numpy().astype(bool).reshape(-1))
            tickets[f"shape{j}"] = np.array(mask.shape, dtype=np.int64)
        tickets["names"] = np.array(list(theirs["ticket"].masks))
        print(f"d={density:.4%} seed {seed}: IoU {case['iou']:.4f} (kept {case['kept_authors']} / "
              f"{case['kept_ctslib']}), max relative difference R {case['max_relative_difference']['objective']:.1e}"
              f" E[density] {case['max_relative_difference']['expected_density']:.1e} lambda "
              f"{case['max_relative_difference']['lam']:.1e}; without the x100: IoU {case['iou_without_scales']:.3f}"
              + (f"; their code, other noise: IoU {case['iou_authors_other_noise']:.3f}"
                 if "iou_authors_other_noise" in case else "")
              + f"; their ticket trained: {case['top1_authors_ticket']:.2%}", flush=True)
    manifest = {
        "format": EQUIVALENCE_FORMAT, "authors_repository": "https://github.com/tanayarora09/TLAB", "authors_commit": code.commit,
        "expected_commit": AUTHORS_COMMIT, "shims": [{"file": f, "from": o, "to": n, "why": w} for f, o, n, w in SHIMS],
        "standins": list(STANDINS), "command": f"{ENV}=/path/to/TLAB python scripts/authors_code.py",
        "setting": {"preset": "cpu", "model": "lenet300", "dataset": "fashion_mnist", "objective": "kl",
                    "step": "gradbalance", "bundle": "authors_code", "densities": list(DENSITIES),
                    "seeds": list(SEEDS)},
        "environment": {"ctslib_version": __version__, "torch_version": torch.__version__,
                        "python_version": platform.python_version(), "threads": torch.get_num_threads(),
                        "cpu_capability": torch.backends.cpu.get_cpu_capability()},
        "seconds": time.perf_counter() - started, "cases": cases,
        "published_cts_kl_files": published_files(code.root),
    }
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    np.savez_compressed(OUT / "traces.npz", **traces)
    np.savez_compressed(OUT / "tickets.npz", **tickets)
    print(f"wrote {OUT.relative_to(ROOT)}/ in {manifest['seconds']:.0f} s")


def published_files(root: Path) -> dict:
    """Their published CTS_KL result files (saved/results/**/fwkldlogit/*) and the file of commit FORWARD_KL_COMMIT
    (when their KL was the forward one) each is byte-identical to, by git blob hash."""
    def tree(rev: str) -> dict[str, str]:
        out = subprocess.run(["git", "-C", str(root), "ls-tree", "-r", rev], capture_output=True, text=True,
                             check=True).stdout
        return {line.split("\t", 1)[1]: line.split()[2] for line in out.splitlines()}
    try:
        head, old = tree("HEAD"), tree(FORWARD_KL_COMMIT)
    except (OSError, subprocess.CalledProcessError):
        return {"note": f"not computed: the clone has no commit {FORWARD_KL_COMMIT} (clone with full history)"}
    by_blob = {blob: path for path, blob in old.items()}
    files = sorted(p for p in head if "/fwkldlogit/" in p or p.endswith("/fwkldlogit.json"))
    same = {p: by_blob[head[p]] for p in files if head[p] in by_blob}
    return {"commit": FORWARD_KL_COMMIT, "files": len(files), "identical": len(same), "matches": same,
            "different": [p for p in files if p not in same]}


def bench(code: types.SimpleNamespace, repeats: int) -> None:
    """Seconds per search step of both codes on the same case (0.92%, seed 0), whole searches interleaved."""
    config = case_config(DENSITIES[0], SEEDS[0])
    rows = {"authors": [], "ctslib": [], "authors_steps_only": []}
    authors_search(code, config, trace=False)  # warm-up of both (traces off: no per-step host reads in theirs)
    cts_search(config)
    for _ in range(repeats):
        theirs = authors_search(code, config, trace=False)
        rows["authors"].append(theirs["seconds"] / theirs["steps"])
        rows["authors_steps_only"].append(sum(theirs["trace"]["seconds"]) / theirs["steps"])
        ours = cts_search(config)
        rows["ctslib"].append(ours.seconds / ours.steps)
    median = {k: statistics.median(v) for k, v in rows.items()}
    result = {"benchmark": "vs_authors_code", "tiny": False,
              "environment": {"device": "cpu", "cpu_count": os.cpu_count(), "threads": torch.get_num_threads(),
                              "torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                              "load_average": list(os.getloadavg()), "time": time.strftime("%Y-%m-%d %H:%M:%S")},
              "command": f"{ENV}=/path/to/TLAB python scripts/authors_code.py --bench --repeats {repeats}",
              "what": "ms per CTS_KL search step (GRADBALANCE), LeNet-300-100 at 0.92% density, batch 128: each "
                      "repeat times one whole 472-step search of each code, interleaved; theirs: their whole "
                      "optimize_mask loop (search/concrete.py, with its progress bar and metrics) and, apart, its "
                      "optimize_step calls alone; ctslib's: its whole cts.run loop",
              "authors_commit": code.commit,
              "searches": [{"repeat": i, "authors_ms_per_step": 1e3 * a, "authors_optimize_step_ms": 1e3 * a_step,
                            "ctslib_ms_per_step": 1e3 * c, "authors_over_ctslib": a / c}
                           for i, (a, a_step, c) in enumerate(zip(rows["authors"], rows["authors_steps_only"],
                                                                  rows["ctslib"]))],
              "median_ms_per_step": {"authors": 1e3 * median["authors"],
                                     "authors_optimize_step_only": 1e3 * median["authors_steps_only"],
                                     "ctslib": 1e3 * median["ctslib"]},
              "ratio_authors_over_ctslib": median["authors"] / median["ctslib"],
              "ratio_authors_steps_only_over_ctslib": median["authors_steps_only"] / median["ctslib"],
              "target": "ctslib not slower: ratio >= 1"}
    BENCH_OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(f"per step: authors {result['median_ms_per_step']['authors']:.2f} ms, ctslib "
          f"{result['median_ms_per_step']['ctslib']:.2f} ms: the authors' code takes "
          f"{result['ratio_authors_over_ctslib']:.2f}x ctslib's time; wrote {BENCH_OUT.relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench", action="store_true", help="time a search step of both codes instead")
    parser.add_argument("--repeats", type=int, default=5, help="--bench: interleaved searches of each code")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as the sweep's workers)")
    args = parser.parse_args(argv)
    if not os.environ.get(ENV):
        raise SystemExit(f"set {ENV} to your clone of https://github.com/tanayarora09/TLAB "
                         f"(git clone https://github.com/tanayarora09/TLAB; {ENV}=$PWD/TLAB python {sys.argv[0]})")
    torch.set_num_threads(args.threads)
    code = load_authors_code(Path(os.environ[ENV]).expanduser().resolve())
    if code.commit != AUTHORS_COMMIT:
        print(f"note: their clone is at {code.commit}; this script was written for {AUTHORS_COMMIT}", flush=True)
    if args.bench:
        bench(code, args.repeats)
    else:
        equivalence(code)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
