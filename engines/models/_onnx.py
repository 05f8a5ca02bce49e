"""Linear models as ONNX graphs, written with the onnx package, and run with onnxruntime.

  signal = ((features - mean) / scale) @ weights + bias      (float32, [n, k] -> [n, 1])

The graph is built node by node (Sub, Div, MatMul, Add): no training framework's converter
and no pickle. `Session` wraps an onnxruntime session built from bytes and warmed up once,
so a session that exists has run: activation never hands out a half-built one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

INPUT, OUTPUT = "features", "signal"


def linear_model(mean: np.ndarray, scale: np.ndarray, weights: np.ndarray, bias: float,
                 doc: str = "") -> bytes:
    """The ONNX bytes of the standardised linear model over len(weights) inputs."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    k = int(weights.shape[0])
    inits = [numpy_helper.from_array(np.asarray(a, np.float32).reshape(shape), name)
             for name, a, shape in (("mean", mean, (1, k)), ("scale", scale, (1, k)),
                                    ("weights", weights, (k, 1)), ("bias", [bias], (1, 1)))]
    nodes = [helper.make_node("Sub", [INPUT, "mean"], ["centred"]),
             helper.make_node("Div", ["centred", "scale"], ["z"]),
             helper.make_node("MatMul", ["z", "weights"], ["raw"]),
             helper.make_node("Add", ["raw", "bias"], [OUTPUT])]
    graph = helper.make_graph(
        nodes, "nautilusd_linear",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["n", k])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["n", 1])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="nautilusd", doc_string=doc)
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


class Session:
    """A ready onnxruntime session of one model version (built from bytes, warmed up)."""

    def __init__(self, model: bytes, version: int, n_inputs: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # one engine, one core
        options.inter_op_num_threads = 1
        self._session: Any = ort.InferenceSession(model, options,
                                                  providers=["CPUExecutionProvider"])
        self.version, self.n_inputs = version, n_inputs
        self.run(np.zeros((1, n_inputs), np.float32))  # warm: first run allocates

    def run(self, features: np.ndarray) -> np.ndarray:
        """Predictions (n,) for a float32 (n, n_inputs) batch."""
        out = self._session.run([OUTPUT], {INPUT: features})[0]
        return np.asarray(out, dtype=np.float32).reshape(-1)
