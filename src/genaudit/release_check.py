"""``release-check``: gate a model release on measured audit figures, from ``[tool.genaudit.release]``.

::

    [tool.genaudit.release]
    generator = "gan-fmnist"          # a reference model; or samples = "release/samples/" (a folder)
    n = 100                           # images to sample
    seed = 0
    index = "train.gaidx"             # training-data index, for the memorization gate
    max_memorization_rate = 0.05      # passes when the upper end of its 95% Wilson CI is at most this
    watermark_key_file = "model.key"  # released samples are watermarked with it ...
    min_watermark_tpr = 0.99          # ... and must read back at FPR 1e-6 at least this often
    bias_attributes = "fashion-mnist" # attribute set; the disparity of `bias_attribute` against its target
    bias_attribute = "class"
    max_bias_disparity = 0.1          # total variation, point estimate (CI reported)
    real = "fashion-mnist:test"       # real images for the detector gate (or a folder)
    min_detector_auc = 0.9            # AUC of the shipped (or `detector`) detector, own samples vs real
    signer_cert = "chain.pem"         # released samples are C2PA-signed with this chain and key ...
    signer_key = "signer.key"
    trust_anchors = "root.pem"        # ... and must validate (trusted, when anchors are given)
    require_c2pa = true

Every gate is optional; one that lacks what it needs (an index, a key, a signer) is a configuration
error before anything is sampled. :func:`run_release_check` returns a :class:`ReleaseCheck` whose
``passed`` drives the exit code (0 pass, 1 fail).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from .errors import ConfigError

RELEASE_TABLE = "release"
THRESHOLDS = ("max_memorization_rate", "min_watermark_tpr", "max_bias_disparity", "min_detector_auc")
"""The numeric gates (each a share in [0, 1]); ``require_c2pa`` is the one boolean gate."""


@dataclass(frozen=True)
class ReleaseConfig:
    generator: str | None = None
    samples: str | None = None
    n: int = 100
    seed: int = 0
    index: str | None = None
    max_memorization_rate: float | None = None
    watermark_key_file: str | None = None
    min_watermark_tpr: float | None = None
    watermark_fpr: float = 1e-6
    bias_attributes: str = "fashion-mnist"
    bias_attribute: str = "class"
    max_bias_disparity: float | None = None
    real: str = "fashion-mnist:test"
    detector: str | None = None
    min_detector_auc: float | None = None
    signer_cert: str | None = None
    signer_key: str | None = None
    trust_anchors: str | None = None
    require_c2pa: bool = False
    base_dir: str = field(default=".", repr=False)
    """Relative paths in the table are relative to the pyproject.toml's folder."""

    def __post_init__(self) -> None:
        if (self.generator is None) == (self.samples is None):
            raise ConfigError("[tool.genaudit.release] needs exactly one of generator = MODEL or samples = FOLDER")
        if self.n < 1:
            raise ConfigError(f"[tool.genaudit.release] n must be at least 1, got {self.n}")
        needs = {"max_memorization_rate": ("index", "an index: index = \"train.gaidx\" (genaudit index build)"),
                 "min_watermark_tpr": ("watermark_key_file", "a key: watermark_key_file = \"model.key\""),
                 }
        for gate, (option, how) in needs.items():
            if getattr(self, gate) is not None and getattr(self, option) is None:
                raise ConfigError(f"[tool.genaudit.release] {gate} needs {how}")
        if self.require_c2pa and self.generator is not None and (self.signer_cert is None or self.signer_key is None):
            raise ConfigError("[tool.genaudit.release] require_c2pa with a generator needs signer_cert and signer_key"
                              " (the samples are signed as they are released)")
        for name in THRESHOLDS:
            v = getattr(self, name)
            if v is not None and not 0 <= v <= 1:
                raise ConfigError(f"[tool.genaudit.release] {name} must be between 0 and 1, got {v}")
        if not self.require_c2pa and all(getattr(self, g) is None for g in THRESHOLDS):
            raise ConfigError("[tool.genaudit.release] sets no gate: give at least one of max_memorization_rate,"
                              " min_watermark_tpr, max_bias_disparity, min_detector_auc, require_c2pa")

    def path(self, value: str | None) -> str | None:
        if value is None or value.startswith("fashion-mnist:"):
            return value
        return value if os.path.isabs(value) else os.path.join(self.base_dir, value)

    @classmethod
    def from_pyproject(cls, path: str | os.PathLike[str], **overrides: Any) -> ReleaseConfig:
        from .config import read_genaudit_table

        p = os.fspath(path)
        table = read_genaudit_table(p).get(RELEASE_TABLE)
        if not isinstance(table, Mapping):
            raise ConfigError(f"{p} has no [tool.genaudit.release] table: nothing to check")
        return cls.from_mapping({**table, **{k: v for k, v in overrides.items() if v is not None}},
                                base_dir=os.path.dirname(os.path.abspath(p)), source=p)

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], base_dir: str = ".", source: str = "") -> ReleaseConfig:
        from .suggest import did_you_mean

        names = [f.name for f in fields(cls) if f.name != "base_dir"]
        data = {k.replace("-", "_"): v for k, v in table.items()}
        for k in data:
            if k not in names:
                raise ConfigError(f"unknown key {k!r} in [tool.genaudit.release]{' of ' + source if source else ''}"
                                  f"{did_you_mean(k, names)}")
        types = {f.name: f.type for f in fields(cls)}
        for k, v in data.items():
            want = str(types[k])
            ok = (isinstance(v, bool) if want == "bool" else
                  isinstance(v, int) and not isinstance(v, bool) if want == "int" else
                  isinstance(v, int | float) and not isinstance(v, bool) if "float" in want else
                  isinstance(v, str))
            if not ok:
                raise ConfigError(f"[tool.genaudit.release] {k} must be {want.replace(' | None', '')},"
                                  f" got {v!r}")
        return cls(**data, base_dir=base_dir)


@dataclass(frozen=True)
class Gate:
    name: str
    measured: float | None
    ci: tuple[float, float] | None
    threshold: float
    direction: str
    """``max`` or ``min``."""
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "measured": self.measured, "ci95": list(self.ci) if self.ci else None,
                "threshold": self.threshold, "direction": self.direction, "passed": self.passed,
                "detail": self.detail}


@dataclass(frozen=True)
class ReleaseCheck:
    gates: tuple[Gate, ...]
    source: str
    n: int

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "source": self.source, "n": self.n, "gates": [g.to_dict() for g in self.gates]}

    def table(self) -> str:
        """The pass/fail table a person (or a pre-commit log) reads."""
        head = f"{'gate':<22} {'measured':>9} {'95% CI':>17} {'threshold':>12}  result"
        lines = [f"genaudit release-check: {self.source}, {self.n} samples", head, "-" * len(head)]
        for g in self.gates:
            m = "—" if g.measured is None else f"{g.measured:.4f}"
            ci = "" if g.ci is None else f"[{g.ci[0]:.3f}, {g.ci[1]:.3f}]"
            op = "≤" if g.direction == "max" else "≥"
            lines.append(f"{g.name:<22} {m:>9} {ci:>17} {op + ' ' + format(g.threshold, 'g'):>12}  "
                         f"{'PASS' if g.passed else 'FAIL'}   {g.detail}")
        lines.append(f"release-check {'PASSED' if self.passed else 'FAILED'}"
                     f" ({sum(g.passed for g in self.gates)}/{len(self.gates)} gates)")
        return "\n".join(lines)


def _wilson(k: int, n: int) -> tuple[float, float]:
    from .memorization.stats import wilson_interval

    return wilson_interval(k, n)


def _real_images(spec: str, n: int, seed: int) -> list[Any]:
    if spec.startswith("fashion-mnist:"):
        from .datasets import load_fashion_mnist

        images, _ = load_fashion_mnist(spec.split(":", 1)[1])
        idx = np.random.default_rng(seed).choice(len(images), min(n, len(images)), replace=False)
        return [images[i] for i in idx]
    return _folder_images(spec)[0]


def _folder_images(folder: str) -> tuple[list[Any], list[str], list[bytes]]:
    from .io import iter_inputs, open_image, read_file

    images, paths, raw = [], [], []
    for item in iter_inputs([folder]):
        if item.error is not None:
            continue
        try:
            images.append(open_image(item.path).pil)
            raw.append(read_file(item.path))
        except Exception:  # noqa: BLE001 - an unreadable file is not a sample
            continue
        paths.append(item.path)
    if not images:
        raise ConfigError(f"no readable images in {folder}")
    return images, paths, raw


def run_release_check(cfg: ReleaseConfig, progress: Callable[[str], None] | None = None) -> ReleaseCheck:
    """Sample (or read) the release samples, measure every configured gate, and judge it."""
    say = progress or (lambda _msg: None)
    gates: list[Gate] = []
    labels: list[str] | None = None
    released: list[bytes] = []
    if cfg.generator is not None:
        from .models import ModelError, load

        try:
            gen = load(cfg.generator)
        except (ModelError, KeyError) as exc:
            raise ConfigError(str(exc).strip("'\"")) from None
        say(f"sampling {cfg.n} images from {cfg.generator} (seed {cfg.seed})")
        out = gen.sample(cfg.n, seed=cfg.seed)
        raw_images: list[Any] = list(out.images)
        labels = [out.classes[y] if out.classes else str(y) for y in out.labels]
        source = f"{cfg.generator} (seed {cfg.seed})"
        if cfg.min_watermark_tpr is not None or cfg.require_c2pa:
            released = _release(gen, cfg, say)
    else:
        folder = cfg.path(cfg.samples) or ""
        raw_images, _, released = _folder_images(folder)
        raw_images, released = raw_images[:cfg.n], released[:cfg.n]
        source = folder
    n = len(raw_images)
    if cfg.max_memorization_rate is not None:
        gates.append(_memorization(cfg, raw_images, say))
    if cfg.min_watermark_tpr is not None:
        gates.append(_watermark(cfg, released, say))
    if cfg.max_bias_disparity is not None:
        gates.append(_bias(cfg, raw_images, labels, say))
    if cfg.min_detector_auc is not None:
        gates.append(_detector(cfg, raw_images, say))
    if cfg.require_c2pa:
        gates.append(_c2pa(cfg, released, say))
    return ReleaseCheck(tuple(gates), source, n)


def _release(gen: Any, cfg: ReleaseConfig, say: Callable[[str], None]) -> list[bytes]:
    from .provenance.signer import SignerConfig
    from .release import wrap
    from .watermark import load_key

    key = load_key(cfg.path(cfg.watermark_key_file) or "") if cfg.watermark_key_file else None
    signer = (SignerConfig.from_files(cfg.path(cfg.signer_cert) or "", cfg.path(cfg.signer_key) or "")
              if cfg.signer_cert and cfg.signer_key else None)
    say("releasing the samples (watermark, sign)")
    items = wrap(gen, watermark_key=key, signer=signer, checks=(), size=256).sample(cfg.n, seed=cfg.seed)
    return [it.data for it in items]


def _memorization(cfg: ReleaseConfig, images: list[Any], say: Callable[[str], None]) -> Gate:
    from .memorization import NearCopySearch, SearchParams, TrainingIndex

    say(f"memorization: searching {cfg.index}")
    index = TrainingIndex.load(cfg.path(cfg.index) or "")
    from .features.embedding import ImageEmbedder

    search = NearCopySearch(index, SearchParams(), embedder=ImageEmbedder())
    found = search.search(images)
    k = sum(1 for f in found if f.matches)
    lo, hi = _wilson(k, len(images))
    limit = float(cfg.max_memorization_rate or 0)
    return Gate("memorization rate", k / len(images), (lo, hi), limit, "max", hi <= limit,
                f"{k}/{len(images)} near-copies of training data; judged on the CI's upper end")


def _watermark(cfg: ReleaseConfig, released: list[bytes], say: Callable[[str], None]) -> Gate:
    from .io import load_any
    from .watermark import load_key, verify

    say("watermark: reading back the released samples")
    key = load_key(cfg.path(cfg.watermark_key_file) or "")
    hits = sum(1 for data in released if verify(load_any(data), key, fpr=cfg.watermark_fpr).detected)
    n = max(len(released), 1)
    lo, hi = _wilson(hits, n)
    limit = float(cfg.min_watermark_tpr or 0)
    return Gate("watermark TPR", hits / n, (lo, hi), limit, "min", hits / n >= limit,
                f"{hits}/{len(released)} detected at FPR {cfg.watermark_fpr:g}")


def _bias(cfg: ReleaseConfig, images: list[Any], labels: list[str] | None, say: Callable[[str], None]) -> Gate:
    from .bias import BiasOptions, ClipEmbedder, audit_bias, load_attribute_set

    say(f"bias: labelling with the {cfg.bias_attributes} attribute set")
    aset = load_attribute_set(cfg.bias_attributes)
    attr = aset.attribute(cfg.bias_attribute)
    if attr.target is None:
        raise ConfigError(f"max_bias_disparity: attribute {attr.name!r} of {aset.name!r} has no target distribution")
    report = audit_bias(images, None, aset, ClipEmbedder.default(), BiasOptions(seed=cfg.seed, attributes=(attr.name,)))
    d = report.results[attr.name].disparity["(all)"].total_variation
    limit = float(cfg.max_bias_disparity or 0)
    return Gate("bias disparity (TV)", d.value, (d.ci_low, d.ci_high), limit, "max", d.value <= limit,
                f"{attr.name} vs its target; {report.results[attr.name].overall.abstained} abstained")


def _detector(cfg: ReleaseConfig, images: list[Any], say: Callable[[str], None]) -> Gate:
    from sklearn.metrics import roc_auc_score

    from .detector import Detector

    say("detector: own samples vs real images")
    det = Detector(cfg.path(cfg.detector))
    real = _real_images(cfg.path(cfg.real) or "", len(images), cfg.seed)
    p_fake = np.array([p.p_generated if p.p_generated is not None else np.nan for p in det.predict(images)])
    p_real = np.array([p.p_generated if p.p_generated is not None else np.nan for p in det.predict(real)])
    p_fake, p_real = p_fake[np.isfinite(p_fake)], p_real[np.isfinite(p_real)]
    y = np.r_[np.ones(len(p_fake)), np.zeros(len(p_real))]
    s = np.r_[p_fake, p_real]
    auc = float(roc_auc_score(y, s))
    rng = np.random.default_rng(cfg.seed)
    boots = []
    for _ in range(500):
        a, b = rng.integers(0, len(p_fake), len(p_fake)), rng.integers(0, len(p_real), len(p_real))
        boots.append(roc_auc_score(y, np.r_[p_fake[a], p_real[b]]))
    lo, hi = (float(x) for x in np.quantile(boots, [0.025, 0.975]))
    limit = float(cfg.min_detector_auc or 0)
    return Gate("detector AUC", auc, (lo, hi), limit, "min", auc >= limit,
                f"{len(p_fake)} own samples vs {len(p_real)} real images ({cfg.real})")


def _c2pa(cfg: ReleaseConfig, released: list[bytes], say: Callable[[str], None]) -> Gate:
    from .provenance.c2pa import read_manifest

    say("C2PA: validating the released samples' manifests")
    anchors = None
    if cfg.trust_anchors:
        with open(cfg.path(cfg.trust_anchors) or "", encoding="utf-8") as fh:
            anchors = fh.read()
    states = [read_manifest(data, trust_anchors=anchors).status for data in released]
    ok_states = ("valid_trusted",) if anchors else ("valid_trusted", "valid_untrusted")
    good = sum(1 for s in states if s in ok_states)
    n = max(len(states), 1)
    bad = sorted({s for s in states if s not in ok_states})
    return Gate("C2PA valid", good / n, None, 1.0, "min", good == len(states) and len(states) > 0,
                f"{good}/{len(states)} {' or '.join(ok_states)}" + (f"; others: {', '.join(bad)}" if bad else ""))
