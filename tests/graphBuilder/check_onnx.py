"""Test-only validator: the official ONNX checker (full check) and ONNX's own shape inference.

For each model file: check_model(full_check=True); then drop our value_info, let ONNX infer every
shape in strict mode, and compare with the shapes our builder declared ("unknown": values whose
shape ONNX leaves open, such as Loop outputs; the callers decide whether that is allowed). Prints one JSON line per
file; exit status 1 if any file fails. The toolkit itself never runs Python.
"""
import json
import sys

import onnx
from onnx import shape_inference


def shapes(values):
    """Declared or inferred shape per value; None where the type carries no shape at all."""
    return {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] if v.type.tensor_type.HasField("shape") else None for v in values}


def check(path):
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    ours = shapes(list(model.graph.value_info) + list(model.graph.output))
    del model.graph.value_info[:]
    inferred = shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    theirs = shapes(list(inferred.graph.value_info) + list(inferred.graph.output))
    missing = sorted(set(ours) - set(theirs))
    # ONNX's Loop inference leaves the shapes of loop-carried outputs open (they may change per iteration).
    unknown = sorted(k for k in ours if k in theirs and theirs[k] is None)
    differ = {k: {"ours": ours[k], "onnx": theirs[k]} for k in ours if k in theirs and theirs[k] is not None and ours[k] != theirs[k]}
    return {"file": path, "ok": not missing and not differ, "values": len(ours), "missing": missing, "unknown": unknown, "differ": differ}


failed = False
for path in sys.argv[1:]:
    try:
        result = check(path)
    except Exception as e:  # checker errors carry the node and the reason
        result = {"file": path, "ok": False, "error": str(e)}
    failed |= not result["ok"]
    print(json.dumps(result))
sys.exit(1 if failed else 0)
