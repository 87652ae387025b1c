"""Benchmark: int8 accuracy drop of the local studio's TFLite conversion, before and after, on the same models.

Trains 20 varied small digits models with sweep.local.trainer.train() (dense/conv1d/conv2d, learning
rate, epochs), then converts each trained model (model.keras from the job directory) three ways:
- before: the conversion as it was (convert_before below, a verbatim copy), which printed TFLite's
  "Statistics for quantized inputs were expected, but not specified" warning;
- after: sweep.local.evaluate.convert as it is now;
- SavedModel: model.export() + TFLiteConverter.from_saved_model with the same settings and
  representative rows, an entry point that never prints the warning (a reference, ~0.3 s slower).
Each int8 model is evaluated with evaluate_tflite on the trainer's validation split; the table shows
float32 accuracy, int8 accuracy per conversion, drops (float32 - int8), the int8 input's scale/zero
point beside the ones the representative rows' range implies, whether before/after are the same
bytes, and whether the warning was printed. Summary: mean/median/max drop per conversion.
Digits features lie in [0, 1], so a final check feeds the last model affine-transformed features
(a Rescaling layer in front undoes the transform): the int8 input's range must follow the data.
Usage: .venv/bin/python benchmarks/int8_calibration.py [--trials 20]
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from sweep.local import datasets, evaluate
from sweep.local import trainer as local_trainer
from sweep.studio.models import SetKerasParameterRequest

WARNING_TEXT = "Statistics for quantized inputs were expected"


def convert_before(model: Any, x_train: np.ndarray, seed: int = 0) -> tuple[bytes, bytes]:
    """sweep.local.evaluate.convert before the int8 calibration change (kept verbatim for the comparison)."""
    import tensorflow as tf

    graph = evaluate._frozen_graph(model)
    float_model = tf.lite.TFLiteConverter.from_concrete_functions([graph]).convert()
    rng = np.random.default_rng(seed)
    rep = x_train[rng.permutation(len(x_train))[:evaluate.REPRESENTATIVE_SAMPLES]].astype(np.float32)

    def representative() -> Any:
        for row in rep:
            yield [row[None, :]]

    conv = tf.lite.TFLiteConverter.from_concrete_functions([graph])
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return float_model, conv.convert()


def representative_rows(x_train: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return x_train[rng.permutation(len(x_train))[:evaluate.REPRESENTATIVE_SAMPLES]].astype(np.float32)


def convert_saved_model(model: Any, rep: np.ndarray, workdir: Path) -> bytes:
    """The same int8 settings through a SavedModel on disk (the entry point without the warning)."""
    import tensorflow as tf

    path = workdir / "saved_model"
    model.export(str(path), format="tf_saved_model", verbose=False)
    conv = tf.lite.TFLiteConverter.from_saved_model(str(path))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([row[None, :]] for row in rep)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv.convert()


def warned(fn: Any, *args: Any) -> tuple[Any, bool]:
    """fn(*args) and whether it printed the input-statistics warning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args)
    for w in caught:  # anything else is shown as usual
        if WARNING_TEXT not in str(w.message):
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    return out, any(WARNING_TEXT in str(w.message) for w in caught)


def expected_input_quantization(rep: np.ndarray) -> tuple[float, int]:
    lo, hi = min(float(rep.min()), 0.0), max(float(rep.max()), 0.0)
    scale = (hi - lo) / 255
    return scale, round(-128 - lo / scale)


def D(n: int) -> dict[str, Any]:
    return {"type": "dense", "neurons": n}


def C2(n: int, k: int = 3, stack: int = 1) -> dict[str, Any]:
    return {"type": "conv2d", "neurons": n, "kernelSize": k, "stack": stack}


def C1(n: int, k: int = 3, stack: int = 1) -> dict[str, Any]:
    return {"type": "conv1d", "neurons": n, "kernelSize": k, "stack": stack}


FLAT, BN = {"type": "flatten"}, {"type": "batchNormalization"}


def drop(rate: float) -> dict[str, Any]:
    return {"type": "dropout", "dropoutRate": rate}


# (label, visual layers, learning rate, epochs): 20 small digits models, a few seconds each.
CONFIGS: list[tuple[str, list[dict[str, Any]], float, int]] = [
    ("dense32", [D(32)], 0.01, 5),
    ("dense16", [D(16)], 0.005, 8),
    ("dense8", [D(8)], 0.02, 10),
    ("dense64-drop.25", [D(64), drop(0.25)], 0.003, 8),
    ("dense64-dense32", [D(64), D(32)], 0.002, 10),
    ("dense128-drop.4-dense64", [D(128), drop(0.4), D(64)], 0.001, 12),
    ("dense48-24-12", [D(48), D(24), D(12)], 0.005, 12),
    ("dense32-bn", [D(32), BN], 0.01, 6),
    ("dense24 lr.02", [D(24)], 0.02, 3),
    ("conv2d8-dense16", [C2(8), FLAT, D(16)], 0.005, 8),
    ("conv2d16", [C2(16)], 0.01, 5),
    ("conv2d8k5-conv2d16", [C2(8, 5), C2(16)], 0.01, 6),
    ("conv2d8x2", [C2(8, 3, 2)], 0.005, 6),
    ("conv2d16-bn-drop.25", [C2(16), BN, FLAT, drop(0.25)], 0.01, 5),
    ("conv2d32-dense32", [C2(32), FLAT, D(32)], 0.002, 6),
    ("conv2d8-conv2d8-dense64", [C2(8), C2(8), FLAT, D(64)], 0.005, 8),
    ("conv2d24-dense16-drop.2", [C2(24), FLAT, D(16), drop(0.2)], 0.003, 6),
    ("conv1d16", [C1(16)], 0.01, 8),
    ("conv1d8k5-dense16", [C1(8, 5), FLAT, D(16)], 0.005, 10),
    ("conv1d16x2-drop.2", [C1(16, 3, 2), drop(0.2)], 0.003, 10),
]


def trial(index: int, project: datasets.LocalProject, root: Path) -> dict[str, Any]:
    import keras
    from sklearn.model_selection import train_test_split

    label, layers, lr, epochs = CONFIGS[index % len(CONFIGS)]
    seed = index
    request = SetKerasParameterRequest.model_validate({"visualLayers": layers, "learningRate": lr,
                                                       "trainingCycles": epochs, "batchSize": 32,
                                                       "trainTestSplit": 0.2})
    workdir = root / f"trial{index}"
    t = time.perf_counter()
    meta = local_trainer.train(request, project, workdir=workdir, log=lambda _: None, cancelled=lambda: False,
                               seed=seed)
    train_s = time.perf_counter() - t
    x, y = datasets.load_arrays(project)
    x = x.reshape(len(x), math.prod(project.input_shape))
    x_tr, x_val, _, y_val = train_test_split(x, y, test_size=0.2, stratify=y, random_state=seed)  # as train()
    model = keras.saving.load_model(workdir / "model.keras")

    (float_model, int8_before), warn_before = warned(convert_before, model, x_tr, seed)
    (_, int8_after), warn_after = warned(evaluate.convert, model, x_tr, seed)
    rep = representative_rows(x_tr, seed)
    int8_saved = convert_saved_model(model, rep, workdir)

    def acc(m: bytes) -> float:
        return evaluate.evaluate_tflite(m, x_val, y_val, project.labels).accuracy

    f32 = acc(float_model)
    inp = evaluate.make_interpreter(int8_after).get_input_details()[0]["quantization"]
    inp_before = evaluate.make_interpreter(int8_before).get_input_details()[0]["quantization"]
    job_f32, job_i8 = (m.accuracy for m in meta.model_validation_metrics)
    return {"model": model, "split": (x_tr, x_val, y_val, seed), "label": label, "lr": lr, "epochs": epochs,
            "f32": f32, "before": acc(int8_before), "after": acc(int8_after), "saved": acc(int8_saved),
            "scale": inp[0], "zero": inp[1],
            "inp_before": inp_before, "want": expected_input_quantization(rep),
            "rep_range": (float(rep.min()), float(rep.max())), "same_bytes": int8_before == int8_after,
            "warn_before": warn_before, "warn_after": warn_after, "train_s": train_s,
            "job_matches": (job_f32, job_i8) == (f32, acc(int8_after))}


def affine_check(project: datasets.LocalProject, row: dict[str, Any]) -> None:
    """A trial's model on a * x + b features (Rescaling undoes it): the int8 input range follows the data."""
    import keras

    x_tr, x_val, y_val, seed = row["split"]
    print("\ninput calibration on features a*x+b (last model, a Rescaling layer in front undoes the transform):")
    print(f"{'a, b':>10} {'rep range':>13} {'want scale/zp':>16} {'before scale/zp':>16} {'after scale/zp':>16} "
          f"{'f32':>6} {'i8 bef':>6} {'i8 aft':>6}")
    for a, b in ((5.0, -2.0), (0.25, 0.0), (40.0, 10.0)):
        model = keras.Sequential([keras.Input((x_tr.shape[1],)), keras.layers.Rescaling(1 / a, offset=-b / a),
                                  *row["model"].layers])
        feats_tr, feats_val = a * x_tr + b, a * x_val + b
        (float_model, before), _ = warned(convert_before, model, feats_tr, seed)
        (_, after), _ = warned(evaluate.convert, model, feats_tr, seed)
        rep = representative_rows(feats_tr, seed)
        want = expected_input_quantization(rep)
        q_b = evaluate.make_interpreter(before).get_input_details()[0]["quantization"]
        q_a = evaluate.make_interpreter(after).get_input_details()[0]["quantization"]

        def acc(m: bytes, feats_val: np.ndarray = feats_val) -> float:
            return evaluate.evaluate_tflite(m, feats_val, y_val, project.labels).accuracy

        print(f"{f'{a:g}, {b:g}':>10} {f'{rep.min():.2f}..{rep.max():.2f}':>13} {want[0]:11.6f}/{want[1]:<4} "
              f"{q_b[0]:11.6f}/{q_b[1]:<4} {q_a[0]:11.6f}/{q_a[1]:<4} {acc(float_model):6.4f} {acc(before):6.4f} "
              f"{acc(after):6.4f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="sweep-int8-bench-"))
    datasets.ensure_default_projects(root / "data")
    project = datasets.get_project(root / "data", datasets.DIGITS_ID)
    print(f"digits: {evaluate.REPRESENTATIVE_SAMPLES} representative rows per conversion; "
          f"validation split 0.2 (360 samples); acc = validation accuracy, drop = float32 - int8")
    head = (f"{'#':>2} {'model':24} {'lr':>6} {'ep':>3} {'f32':>6} {'i8 bef':>6} {'i8 aft':>6} {'i8 SM':>6} "
            f"{'drop bef':>8} {'drop aft':>8} {'drop SM':>7} {'in scale':>9} {'in zp':>5} {'want':>15} "
            f"{'rep range':>10} {'same':>4} {'warn b/a':>8} {'train':>6}")
    print(head)
    rows = []
    for i in range(args.trials):
        r = trial(i, project, root)
        rows.append(r)
        if i < args.trials - 1:
            r["model"] = r["split"] = None  # only the last model is kept (for the affine check)
        want = f"{r['want'][0]:.6f}/{r['want'][1]}"
        print(f"{i + 1:>2} {r['label']:24} {r['lr']:>6g} {r['epochs']:>3} {r['f32']:6.4f} {r['before']:6.4f} "
              f"{r['after']:6.4f} {r['saved']:6.4f} {r['f32'] - r['before']:+8.4f} {r['f32'] - r['after']:+8.4f} "
              f"{r['f32'] - r['saved']:+7.4f} {r['scale']:9.6f} {r['zero']:>5} {want:>15} "
              f"{r['rep_range'][0]:4.2f}-{r['rep_range'][1]:4.2f} {'yes' if r['same_bytes'] else 'NO':>4} "
              f"{'yes' if r['warn_before'] else 'no':>4}/{'yes' if r['warn_after'] else 'no':<3} "
              f"{r['train_s']:5.1f}s", flush=True)
    print()
    for name, key in (("before (old convert)", "before"), ("after (evaluate.convert)", "after"),
                      ("SavedModel reference", "saved")):
        drops = [r["f32"] - r[key] for r in rows]
        print(f"int8 drop {name:25}: mean {statistics.mean(drops):+.4f}  median {statistics.median(drops):+.4f}  "
              f"max {max(drops):+.4f}  min {min(drops):+.4f}")
    n = len(rows)
    calibrated = sum(abs(r["scale"] - r["want"][0]) <= 1e-5 * r["want"][0] and abs(r["zero"] - r["want"][1]) <= 1
                     for r in rows)
    print(f"int8 input scale/zero point == representative range: {calibrated}/{n} after, "
          f"{sum(r['inp_before'] == (r['scale'], r['zero']) for r in rows)}/{n} identical before")
    print(f"before/after int8 models byte-identical: {sum(r['same_bytes'] for r in rows)}/{n}; "
          f"warning printed before: {sum(r['warn_before'] for r in rows)}/{n}, after: "
          f"{sum(r['warn_after'] for r in rows)}/{n}")
    print(f"trainer's own reported float32/int8 accuracy == recomputed: {sum(r['job_matches'] for r in rows)}/{n}")
    affine_check(project, rows[-1])


if __name__ == "__main__":
    main()
