"""The page "What the paper leaves open": one choice changed at a time from the defaults, the defaults shared."""

from dataclasses import fields

from ctslib.report.figures import FIGURES, OPEN_CHOICES, open_variants
from ctslib.runs.config import RunConfig


def test_each_variant_changes_one_choice_from_the_shared_default():
    s = FIGURES["open"].setting(scale="cpu")
    default = {(c.density, c.seed): c for choice, value, c in open_variants(s) if value == OPEN_CHOICES[choice][1][0]}
    assert len({c.run_id for c in default.values()}) == len(s.densities) * len(s.seeds) == 6  # one set of runs
    for choice, value, c in open_variants(s):
        base = default[(c.density, c.seed)]
        changed = [f.name for f in fields(RunConfig) if getattr(c, f.name) != getattr(base, f.name)]
        if value == OPEN_CHOICES[choice][1][0]:
            assert changed == []
        elif choice == "scale of R and L_sparsity":
            assert changed == ["objective_scale", "sparsity_scale"], changed  # both, as the authors' code scales them
        elif choice == "the authors' search, whole":
            assert len(changed) == 6, changed  # every search-side choice of their code (runs.authors_code)
        else:
            assert len(changed) == 1, (choice, value, changed)
    assert len(FIGURES["open"].configs(s)) == 6 * 15  # the default + 14 variants, 2 densities x 3 seeds


def test_the_page_sits_in_the_highly_sparse_regime_at_cpu_scale():
    s = FIGURES["open"].setting(scale="cpu")
    assert s.densities == (0.8 ** 32, 0.8 ** 36) and s.seeds == (0, 1, 2)
    by = {(ch, v): c for ch, v, c in open_variants(s) if c.seed == 0 and c.density == s.densities[0]}
    base = s.base()
    assert by[("search length (× the training epochs)", 1 / 8)].search_epochs == base.epochs / 8  # Quick CTS
    assert by[("rewind point (fraction of training)", 0.0)].rewind_step == 0
    assert by[("rewind point (fraction of training)", 2.0)].rewind_step == 2 * base.rewind_step
    assert by[("Concrete form", "authors_code")].search_settings.concrete_form == "authors_code"
    assert by[("KL's direction", "forward_kl")].objective == "forward_kl"
    from ctslib.runs.authors_code import bundle_of
    assert bundle_of(by[("the authors' search, whole", "authors_code")]) == ("authors_code",)


def test_the_caption_states_the_defaults_and_names_the_variations():
    """The page varies the rewind step and the search length: its caption gives the defaults (the preset's k = 22
    and 4 search epochs at cpu scale, from the runs' own configs) and names the variations as such."""
    from ctslib.report.figures import describe
    fig = FIGURES["open"]
    s = fig.setting(scale="cpu")
    base = s.base()
    text = describe(s, fig.configs(s))
    assert f"k = {base.rewind_step} iterations" in text and f"CTS searches {base.search_epochs:g} epochs" in text
    assert f"some runs at k = {2 * base.rewind_step}" in text and "(some runs 2, 8)" in text
