"""The run plan: what the driver works out once (slices, scales, starting prior, the run's null, a held
sigma) and ships to every worker, a typed contract saved as JSON in the run directory (``plan.json``).

    plan, split = train.plan.make_plan(cfg, ds, traits)      # computed once by the driver
    RunPlan.from_json(plan.to_json()) == plan                 # what workers, evaluate and resume read
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..credentials import redact


@dataclass
class RunPlan:
    """What the driver works out once and ships to every worker (all plain data)."""

    data_url: str
    storage_options: dict
    traits: list[str]
    train_keys: list[tuple[int, int]]
    train_costs: list[float]
    train_ncore: list[int]
    heldout_keys: list[tuple[int, int]]
    heldout_costs: list[float]
    log_N: list[float]
    init_log_f: list[float]
    n_features: int
    tracks_shape: tuple[int, int] | None
    init_log_sigma: list[float] | None = None   # starting log sigma per trait (None: 0)
    init_log_lambda: list[float] | None = None  # starting log lambda per trait (None: no mismatch term)
    # The run's null prior (evaluate.heldout.fit_run_null), the one baseline of every "vs null" figure:
    null_log_sigma: list[float] | None = None            # with the run's lambda (if any)
    null_log_lambda: list[float] | None = None           # None: no mismatch term
    null_log_sigma_no_lambda: list[float] | None = None  # for a prior scored without lambda
    run_dir_local: str | None = None      # for the failure-injection marker (tests)
    run_url: str | None = None            # where rank 0 writes TensorBoard events (None: nowhere)
    buffer_keys: list[tuple[int, int]] = field(default_factory=list)   # neither trained on nor scored
    h2_moment: list[float] | None = None  # LDSC-style moment estimate of h2 per trait (guard rails)
    # --sigma ldsc or VALUE: log sigma per trait, held fixed in training and every refit (None: learned)
    fixed_log_sigma: list[float] | None = None
    sigma_ldsc: dict | None = None        # --sigma ldsc: the intercept fit (evaluate.intercept.Intercept)
    history: list[dict] = field(default_factory=list)
    # --val-chroms: scored every epoch to pick the epoch, never trained on (train/holdout.py)
    val_keys: list[tuple[int, int]] = field(default_factory=list)
    val_costs: list[float] = field(default_factory=list)

    @property
    def all_keys(self) -> list[tuple[int, int]]:
        """Every slice of the run's dataset: training, held-out, buffer and validation ones."""
        return self.train_keys + self.heldout_keys + self.buffer_keys + self.val_keys

    def to_json(self) -> dict:
        """Plain JSON (slice keys as [chrom, slice] lists), credentials redacted: what the run directory's
        ``plan.json``, Ray's worker config and Tune's persisted params hold."""
        return {**asdict(self), "storage_options": redact(self.storage_options)}

    @classmethod
    def from_json(cls, d: dict) -> "RunPlan":
        """The plan of :meth:`to_json` (keys back to tuples); storage credentials as the caller restores them."""
        keys = ("train_keys", "heldout_keys", "buffer_keys", "val_keys")
        out = {k: [tuple(int(x) for x in key) for key in d[k]] if k in keys else v for k, v in d.items()}
        if out.get("tracks_shape") is not None:
            out["tracks_shape"] = tuple(out["tracks_shape"])
        return cls(**out)


#: The run plan in a run directory (written once by the driver; evaluate and resume read it back).
PLAN_FILE = "plan.json"
