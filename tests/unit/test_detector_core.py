"""The detector's functional core and file format: operating point, calibration, ECE, features,
and one clear error for every kind of broken model file. No images through torch here."""

from __future__ import annotations

import json
import os
import struct
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genaudit.detector import DetectorFileError, DetectorModel, TrainOptions, fit_detector
from genaudit.detector.features import DIM, MIN_SIDE, TooSmallError, residual_features
from genaudit.detector.probe import (
    expected_calibration_error,
    fit_calibration,
    metrics,
    threshold_for_fpr,
)


@pytest.mark.parametrize("target", [0.001, 0.01, 0.05, 0.2])
def test_operating_point_keeps_the_real_false_positive_rate_at_or_below_target(target: float) -> None:
    rng = np.random.default_rng(1)
    for n in (50, 999, 3000):
        real = np.round(rng.normal(size=n), 2)  # rounded: many ties
        for confidence in (None, 0.9):
            t = threshold_for_fpr(real, target, confidence)
            fpr = float((real >= t).mean())
            assert fpr <= target + 1e-12
        # the plain quantile is the tightest such threshold: every lower score present would exceed the target
        t = threshold_for_fpr(real, target, None)
        below = real[real < t]
        if below.size and target * n >= 1:
            assert float((real >= below.max()).mean()) > target


def test_conservative_operating_point_keeps_the_true_rate_under_target_nine_times_in_ten() -> None:
    """Calibration scores drawn from a known distribution: the true FPR of the chosen threshold
    (normal tail) is at most the target in ~90% of draws with ``confidence=0.9``, in about half
    with the plain empirical quantile."""
    from scipy.stats import norm

    rng = np.random.default_rng(7)
    under = {None: 0, 0.9: 0}
    trials = 300
    for _ in range(trials):
        real = rng.normal(size=1500)
        for confidence in under:
            under[confidence] += norm.sf(threshold_for_fpr(real, 0.01, confidence)) <= 0.01
    assert under[0.9] / trials >= 0.85
    assert 0.3 <= under[None] / trials <= 0.7


def test_operating_point_with_too_few_real_images_calls_nothing_generated() -> None:
    real = np.array([0.1, 0.5, 0.9])
    t = threshold_for_fpr(real, 0.01)
    assert t > 0.9 and not (real >= t).any()
    with pytest.raises(ValueError, match="between 0 and 1"):
        threshold_for_fpr(real, 0.0)


def test_ece_of_known_cases() -> None:
    assert expected_calibration_error(np.full(10, 0.8), np.array([1] * 8 + [0] * 2)) == pytest.approx(0.0)
    assert expected_calibration_error(np.full(10, 0.9), np.array([1] * 5 + [0] * 5)) == pytest.approx(0.4)
    # two bins, each off by 0.1 and 0.3, weighted 1:1
    p = np.r_[np.full(10, 0.2), np.full(10, 0.7)]
    y = np.r_[[1] * 1 + [0] * 9, [1] * 10]
    assert expected_calibration_error(p, y) == pytest.approx((0.1 + 0.3) / 2)


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_calibration_turns_scores_into_frequencies_on_fresh_data(method: str) -> None:
    rng = np.random.default_rng(0)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        s = rng.normal(size=n) * 3
        y = (rng.random(n) < 1 / (1 + np.exp(-(1.7 * s - 0.5)))).astype(int)  # true p is a sigmoid of s
        return s, y

    cal = fit_calibration(*draw(4000), method)
    s, y = draw(20000)
    p = cal(s)
    assert ((p >= 0) & (p <= 1)).all()
    assert (np.diff(cal(np.sort(s))) >= -1e-12).all()  # monotone
    assert expected_calibration_error(p, y) < 0.03
    overconfident = 1 / (1 + np.exp(-5 * s))
    assert expected_calibration_error(overconfident, y) > 0.05  # the metric sees miscalibration


def test_metrics_at_the_operating_point() -> None:
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.9, 0.4, 0.8, 0.95, 0.99])
    m = metrics(s, y, s, threshold=0.85)
    assert m["fpr"] == 0.25 and m["tpr"] == 0.5 and m["accuracy"] == 0.625
    assert m["auc"] == pytest.approx(14 / 16)  # pairs (generated above real): 3 + 3 + 4 + 4


def _toy_model(seed: int = 0, n: int = 200, dim: int = 6, probe: str = "logistic") -> DetectorModel:
    rng = np.random.default_rng(seed)
    real = rng.normal(size=(n, dim))
    fake = rng.normal(size=(n, dim)) + np.r_[1.5, np.zeros(dim - 1)]
    opts = TrainOptions(blocks=("npr-1",), seed=seed, probe=probe, max_iter=20)
    return fit_detector(real.astype(np.float32), fake.astype(np.float32), opts).model


@pytest.mark.parametrize(("probe", "min_auc"), [("logistic", 0.9), ("trees", 0.85)])
def test_training_on_features_separates_and_validates_on_a_held_out_part(probe: str, min_auc: float) -> None:
    result = fit_detector(*(np.random.default_rng(3).normal(size=(2, 300, 4)) + np.array([[[0]], [[1.2]]])
                            ).astype(np.float32), TrainOptions(blocks=("npr-1",), probe=probe))
    v = result.validation
    assert v["n_real"] == 60 and v["n_generated"] == 60  # 20% held out of each class
    assert v["auc"] > min_auc  # four dimensions, each shifted by 1.2 sd: the best possible AUC is 0.955
    assert result.counts["real"] == {"train": 165, "calibration": 75, "validation": 60}
    with pytest.raises(ValueError, match="at least 8 real"):
        fit_detector(np.zeros((5, 4), np.float32), np.ones((50, 4), np.float32), TrainOptions(blocks=("npr-1",)))


@pytest.mark.parametrize("probe", ["logistic", "trees"])
def test_model_file_round_trip_and_operating_point_change(tmp_path: Path, probe: str) -> None:
    model = _toy_model(probe=probe)
    path = tmp_path / "m.gadet"
    model.save(path)
    back = DetectorModel.load(path)
    x = np.random.default_rng(5).normal(size=(50, 6)).astype(np.float32)
    assert np.array_equal(back.probe.score(x), model.probe.score(x))
    assert back.threshold == model.threshold and back.features == ("npr-1",) and len(back.sha256) == 64
    assert back.meta["validation"]["auc"] == model.meta["validation"]["auc"]
    looser = back.with_target_fpr(0.2)
    assert looser.threshold_score < back.threshold_score  # a higher allowed FPR lowers the bar
    with pytest.raises(ValueError, match="below what this detector's"):
        back.with_target_fpr(1e-6)
    with pytest.raises(Exception, match="exists"):
        model.save(path)  # never overwritten silently
    model.save(path, force=True)


def _header(data: bytes) -> tuple[dict, bytes]:
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + n]), data[8 + n:]


def _with_header(header: dict, body: bytes) -> bytes:
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + body


@pytest.mark.parametrize("probe", ["logistic", "trees"])
def test_every_broken_model_file_is_one_clear_error(tmp_path: Path, probe: str) -> None:
    good = _toy_model(probe=probe).to_bytes()
    header, body = _header(good)
    wrong_version = json.loads(json.dumps(header))
    wrong_version["__metadata__"]["version"] = "99"
    other_format = json.loads(json.dumps(header))
    del other_format["__metadata__"]
    cases = {
        "empty": (b"", "the file is empty"),
        "short": (b"\x01\x02", "too short"),
        "truncated": (good[:len(good) // 2], "not a usable genaudit detector"),
        "random": (os.urandom(4096), "not a usable genaudit detector"),
        "text": (b"hello, I am not a model\n" * 10, "not a usable genaudit detector"),
        "version": (_with_header(wrong_version, body), "format version '99'"),
        "checkpoint": (_with_header(other_format, body), "without a genaudit-detector header"),
    }
    for name, (data, needle) in cases.items():
        path = tmp_path / f"{name}.gadet"
        path.write_bytes(data)
        with pytest.raises(DetectorFileError, match=needle) as info:
            DetectorModel.load(path)
        message = str(info.value)
        assert "\n" not in message and str(path) in message, (name, message)
    with pytest.raises(DetectorFileError, match="cannot be read: not_found: no such file"):
        DetectorModel.load(tmp_path / "missing.gadet")
    with pytest.raises(DetectorFileError, match="cannot be read"):
        DetectorModel.load(tmp_path)
    fifo = tmp_path / "fifo.gadet"
    os.mkfifo(fifo)
    with pytest.raises(DetectorFileError, match="cannot be read"):
        DetectorModel.load(fifo)  # refused, not read (a FIFO would block forever)
    altered = tmp_path / "altered.gadet"
    altered.write_bytes(good)
    with pytest.raises(DetectorFileError, match="expected deadbeef"):
        DetectorModel.load(altered, expected_sha256="deadbeef")


def test_model_whose_arrays_do_not_fit_is_refused() -> None:
    model = _toy_model()
    broken = replace(model, probe=replace(model.probe, coef=model.probe.coef[:3]))
    with pytest.raises(DetectorFileError, match="do not fit together"):
        DetectorModel.from_bytes(broken.to_bytes())
    trees = _toy_model(probe="trees")
    t = trees.probe
    inner = int(np.flatnonzero(~t.is_leaf)[0])
    for field, bad, needle in (("left", 10 ** 6, "point outside"), ("feature", 99, "point outside"),
                               ("left", inner, "not trees")):  # a node that is its own child: a loop
        arr = getattr(t, field).copy()
        arr[inner] = bad
        with pytest.raises(DetectorFileError, match=needle):
            DetectorModel.from_bytes(replace(trees, probe=replace(t, **{field: arr})).to_bytes())


def test_tree_probe_scores_as_the_fitted_scikit_learn_model_does() -> None:
    """The trees copied out into arrays give exactly the boosted model's decision function."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from genaudit.detector.probe import fit_tree_probe

    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 12))
    y = ((x[:, 0] + x[:, 7] ** 2 + 0.5 * rng.normal(size=500)) > 1).astype(int)
    x[rng.random(x.shape) < 0.02] = np.nan  # missing values take the learned side
    x[:, 4:] = np.nan_to_num(x[:, 4:])  # (the embedding part, projected, must be finite)
    probe = fit_tree_probe(x, y, keep=4, n_components=5, max_iter=40, seed=3)
    z = probe.transform(x)
    assert z.shape == (500, 9)
    ref = HistGradientBoostingClassifier(max_iter=40, learning_rate=0.1, class_weight="balanced",
                                         early_stopping=False, random_state=3).fit(z, y)
    x_new = rng.normal(size=(200, 12))
    x_new[:50, :4] = np.nan
    assert np.allclose(probe.score(x_new), ref.decision_function(probe.transform(x_new)), atol=1e-9)


def test_residual_features_size_policy_and_modes() -> None:
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (MIN_SIDE, 40), dtype=np.uint8)
    f = residual_features(grey)
    assert f.shape == (DIM,) and np.isfinite(f).all()
    assert np.array_equal(f, residual_features(grey.copy()))  # deterministic
    with pytest.raises(TooSmallError, match="7×40 is too small"):
        residual_features(rng.integers(0, 256, (40, 7), dtype=np.uint8))
    big = rng.integers(0, 256, (600, 900, 3), dtype=np.uint8)
    centre = big[172:428, 322:578]
    assert np.array_equal(residual_features(big), residual_features(centre))  # large: the central 256² crop
    for mode in ("RGBA", "P", "I;16", "1", "LA", "CMYK"):
        assert residual_features(Image.new(mode, (20, 12))).shape == (DIM,)
    # colour spread is a feature of its own: zero for grey, not for colour
    col = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert residual_features(col)[-3:].sum() > 0 and residual_features(col[:, :, 0])[-3:].sum() == 0
