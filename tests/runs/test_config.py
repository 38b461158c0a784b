"""A run's identity: every field that decides its outcome, the results version, and nothing that does not apply."""

from ctslib.runs import config as config_module
from ctslib.runs.config import RunConfig, chain_key, rewind_key


def test_a_field_that_does_not_apply_is_not_part_of_the_identity():
    gradbalance = RunConfig(method="cts", step="gradbalance")
    assert gradbalance.with_(lagrange_lr=3.0).run_id == gradbalance.run_id
    assert RunConfig(method="ltr").with_(lagrange_lr=3.0).run_id == RunConfig(method="ltr").run_id
    lagrange = RunConfig(method="cts", step="lagrange")
    assert lagrange.with_(lagrange_lr=3.0).run_id != lagrange.run_id
    assert rewind_key(lagrange.with_(lagrange_lr=3.0)) == rewind_key(lagrange)  # the rewind point is shared


def test_the_results_version_is_part_of_every_key(monkeypatch):
    c = RunConfig(method="cts")
    before = (c.run_id, rewind_key(c), chain_key(c))
    monkeypatch.setattr(config_module, "RESULTS_VERSION", config_module.RESULTS_VERSION + 1)
    after = (c.run_id, rewind_key(c), chain_key(c))
    assert all(a != b for a, b in zip(before, after))  # no record of older code is served as the new code's
