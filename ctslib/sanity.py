"""Sanity checks of Frankle et al. (2021), Section V-D (filled in by the baselines work)."""

from __future__ import annotations


def apply_ablation(name, ticket, model, config, generator):
    raise NotImplementedError(f"ablation {name!r} is not implemented yet")
