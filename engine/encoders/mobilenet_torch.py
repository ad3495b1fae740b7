"""MobileNetV2 in eager PyTorch, with the weights read from the shipped ONNX file.

The default frame encoder runs on ONNX Runtime; this twin runs the same graph op by op in torch
(Conv, BatchNormalization, Relu, Add, GlobalAveragePool, Reshape: all the graph uses), for the
torch backend, for parity tests against ONNX Runtime, and for the naive reference pipeline of
`cleverward bench`. BatchNorm is folded into the preceding convolution at load time (inference
only), which is what ORT does too.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from cleverward.engine.encoders.mobilenet import INPUT_NAME, POOL_OUTPUT, mobilenet_onnx_path

LOGITS_OUTPUT = "mobilenetv20_output_flatten0_reshape0"


def _attrs(node) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


class OnnxMobileNet(nn.Module):
    """Executes the MobileNetV2 ONNX graph with torch ops. forward(x (F,3,224,224)) ->
    (logits (F, 1000), pooled (F, 1280))."""

    def __init__(self, path: str | Path | None = None) -> None:
        import onnx
        from onnx import numpy_helper

        super().__init__()
        model = onnx.load(str(path or mobilenet_onnx_path()))
        weights = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy())
                   for i in model.graph.initializer}
        self.steps: list[tuple[str, list[str], str, dict]] = []
        self.params = nn.ParameterDict()
        nodes = list(model.graph.node)
        folded: set[str] = set()
        for i, node in enumerate(nodes):
            if node.name in folded:
                continue
            nxt = nodes[i + 1] if i + 1 < len(nodes) else None
            if node.op_type == "Conv" and nxt is not None and nxt.op_type == "BatchNormalization" \
                    and nxt.input[0] == node.output[0]:
                w, b = self._fold(weights, node, nxt)
                folded.add(nxt.name)
                out = nxt.output[0]
            elif node.op_type == "Conv":
                w = weights[node.input[1]]
                b = weights[node.input[2]] if len(node.input) > 2 else torch.zeros(w.shape[0])
                out = node.output[0]
            else:
                self.steps.append((node.op_type, list(node.input), node.output[0], _attrs(node)))
                if node.op_type == "Reshape":
                    self.register_buffer(f"shape{i}", weights[node.input[1]], persistent=False)
                    self.steps[-1][3]["shape_buffer"] = f"shape{i}"
                continue
            key = f"conv{i}"
            self.params[key + "_w"] = nn.Parameter(w, requires_grad=False)
            self.params[key + "_b"] = nn.Parameter(b, requires_grad=False)
            self.steps.append(("ConvFolded", [node.input[0]], out, {**_attrs(node), "key": key}))

    @staticmethod
    def _fold(weights, conv, bn) -> tuple[torch.Tensor, torch.Tensor]:
        """Conv then BN -> one conv.

        w' = w * g / sqrt(v + eps),  b' = (b - m) * g / sqrt(v + eps) + beta.
        """
        w = weights[conv.input[1]]
        b = weights[conv.input[2]] if len(conv.input) > 2 else torch.zeros(w.shape[0])
        gamma, beta, mean, var = (weights[n] for n in bn.input[1:5])
        scale = gamma / torch.sqrt(var + _attrs(bn).get("epsilon", 1e-5))
        return w * scale[:, None, None, None], (b - mean) * scale + beta

    def _conv(self, x: torch.Tensor, a: dict) -> torch.Tensor:
        pads = a.get("pads", [0, 0, 0, 0])
        if pads[:2] != pads[2:]:
            x = F.pad(x, (pads[1], pads[3], pads[0], pads[2]))
            pads = [0, 0]
        return F.conv2d(x, self.params[a["key"] + "_w"], self.params[a["key"] + "_b"],
                        stride=a.get("strides", 1), padding=pads[:2],
                        dilation=a.get("dilations", 1), groups=a.get("group", 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        env = {INPUT_NAME: x}
        for op, inputs, out, a in self.steps:
            if op == "ConvFolded":
                env[out] = self._conv(env[inputs[0]], a)
            elif op == "Relu":
                env[out] = F.relu(env[inputs[0]])
            elif op == "Add":
                env[out] = env[inputs[0]] + env[inputs[1]]
            elif op == "GlobalAveragePool":
                env[out] = env[inputs[0]].mean(dim=(2, 3), keepdim=True)  # (F, C, 1, 1)
            elif op == "Reshape":
                shape = getattr(self, a["shape_buffer"]).tolist()
                src = env[inputs[0]]
                env[out] = src.reshape([src.shape[j] if s == 0 else s for j, s in enumerate(shape)])
            else:
                raise NotImplementedError(f"ONNX op {op} is not supported by OnnxMobileNet")
        return env[LOGITS_OUTPUT], env[POOL_OUTPUT].flatten(1)  # (F, 1000), (F, 1280)
