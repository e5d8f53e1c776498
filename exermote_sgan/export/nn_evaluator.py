"""Run a Core ML neural network (``.mlmodel``, rank-5 layout) in NumPy, to check it on Linux.

Neural networks of specification version 1 keep every blob as (Seq, Batch, C, H, W); an input
declared as a vector of C values and fed as ``[Seq, 1, C]`` is a sequence.  The evaluator
implements the layers an exported Exermote app model consists of, reading weights straight
from the spec, and raises :class:`~exermote_sgan.export.mil_evaluator.UnsupportedOpError`
naming any other layer (or layer setting) instead of skipping it.
"""

from __future__ import annotations

import numpy as np

from .mil_evaluator import UnsupportedOpError


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _weights(params, shape) -> np.ndarray:
    if len(params.floatValue):
        values = np.asarray(params.floatValue, np.float64)
    elif params.float16Value:
        values = np.frombuffer(params.float16Value, np.float16).astype(np.float64)
    else:
        raise UnsupportedOpError("weights", "only float32 or float16 weights")
    return values.reshape(shape)


class NeuralNetworkEvaluator:
    """Evaluate a ``neuralNetwork`` / ``neuralNetworkClassifier`` / ``...Regressor`` spec."""

    def __init__(self, spec):
        kind = spec.WhichOneof("Type")
        if kind not in ("neuralNetwork", "neuralNetworkClassifier", "neuralNetworkRegressor"):
            raise ValueError(f"not a neural network spec but {kind!r}")
        self.spec = spec
        self.layers = list(getattr(spec, kind).layers)
        for layer in self.layers:
            layer_type = layer.WhichOneof("layer")
            if layer_type not in self._KERNELS:
                raise UnsupportedOpError(layer_type, f"layer {layer.name!r}")
        self.optional_inputs = {f.name for f in spec.description.input if f.type.isOptional}

    def evaluate(self, inputs: dict) -> dict:
        """``inputs``: name -> array in Core ML's feed shape (e.g. ``[40, 1, 12]``).

        Vector inputs ``[Seq, B, C]`` or ``[C]`` become rank-5 blobs; absent optional inputs
        are zeros, as Core ML treats missing LSTM states.  Returns each declared output with
        the rank-5 blob's trailing singleton H, W axes (and a singleton Seq) removed.
        """
        blobs = {}
        for feature in self.spec.description.input:
            if feature.name in inputs:
                blobs[feature.name] = self._to_rank5(np.asarray(inputs[feature.name],
                                                                np.float64))
            elif feature.name not in self.optional_inputs:
                raise KeyError(f"missing input {feature.name!r}")
        for layer in self.layers:
            args = [blobs.get(name) for name in layer.input]
            results = self._KERNELS[layer.WhichOneof("layer")](self, layer, *args)
            if not isinstance(results, tuple):
                results = (results,)
            for name, value in zip(layer.output, results):
                blobs[name] = value
        outputs = {}
        for feature in self.spec.description.output:
            blob = blobs[feature.name]
            outputs[feature.name] = blob.reshape(blob.shape[:3]) if blob.shape[0] > 1 \
                else blob.reshape(blob.shape[1:3])
        return outputs

    @staticmethod
    def _to_rank5(x: np.ndarray) -> np.ndarray:
        if x.ndim == 1:
            return x.reshape(1, 1, -1, 1, 1)
        if x.ndim == 3:
            return x.reshape(*x.shape, 1, 1)
        if x.ndim == 5:
            return x
        raise ValueError(f"cannot feed an array of shape {x.shape}: expected [C], [Seq, B, C] "
                         "or rank 5")

    # -- layers ------------------------------------------------------------------------------
    def _permute(self, layer, x):
        axes = list(layer.permute.axis)  # a permutation of (Seq, C, H, W); batch stays put
        if sorted(axes) != [0, 1, 2, 3]:
            raise UnsupportedOpError("permute", f"axis {axes}")
        full = [(0, 2, 3, 4)[a] for a in axes]
        return np.transpose(x, (full[0], 1, full[1], full[2], full[3]))

    def _convolution(self, layer, x):
        p = layer.convolution
        if (p.isDeconvolution or p.nGroups not in (0, 1)
                or p.WhichOneof("ConvolutionPaddingType") != "valid"):
            raise UnsupportedOpError("convolution", "only valid, ungrouped, forward convolution")
        if any(a.startEdgeSize or a.endEdgeSize for a in p.valid.paddingAmounts.borderAmounts):
            raise UnsupportedOpError("convolution", "explicit padding")
        if any(d not in (0, 1) for d in p.dilationFactor):
            raise UnsupportedOpError("convolution", "dilation")
        kh, kw = (list(p.kernelSize) or [3, 3])
        sh, sw = (list(p.stride) or [1, 1])
        w = _weights(p.weights, (p.outputChannels, p.kernelChannels, kh, kw))
        seq, batch, _, height, width = x.shape
        out_h = (height - kh) // sh + 1
        out_w = (width - kw) // sw + 1
        y = np.zeros((seq, batch, p.outputChannels, out_h, out_w))
        for i in range(out_h):
            for j in range(out_w):
                patch = x[:, :, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
                y[:, :, :, i, j] = np.einsum("sbchw,ochw->sbo", patch, w)
        if p.hasBias:
            y += _weights(p.bias, (p.outputChannels,))[None, None, :, None, None]
        return y

    def _activation(self, layer, x):
        kind = layer.activation.WhichOneof("NonlinearityType")
        if kind == "ReLU":
            return np.maximum(x, 0)
        if kind == "sigmoid":
            return _sigmoid(x)
        if kind == "tanh":
            return np.tanh(x)
        raise UnsupportedOpError("activation", f"nonlinearity {kind!r}")

    _GATE_ACTIVATIONS = {"sigmoid": _sigmoid, "tanh": np.tanh}

    def _unidirectional_lstm(self, layer, x, h0=None, c0=None):
        p = layer.uniDirectionalLSTM
        q = p.params
        if p.reverseInput or q.forgetBias or q.hasPeepholeVectors or q.coupledInputAndForgetGate:
            raise UnsupportedOpError("uniDirectionalLSTM", "reverse input, forget bias, "
                                     "peepholes or coupled gates")
        acts = [a.WhichOneof("NonlinearityType") for a in p.activations]
        if any(a not in self._GATE_ACTIVATIONS for a in acts) or len(acts) != 3:
            raise UnsupportedOpError("uniDirectionalLSTM", f"activations {acts}")
        gate, cell_act, out_act = (self._GATE_ACTIVATIONS[a] for a in acts)
        n_in, n_out = p.inputVectorSize, p.outputVectorSize
        wp = p.weightParams
        gates = ("inputGate", "forgetGate", "blockInput", "outputGate")
        w = {g: _weights(getattr(wp, f"{g}WeightMatrix"), (n_out, n_in)) for g in gates}
        r = {g: _weights(getattr(wp, f"{g}RecursionMatrix"), (n_out, n_out)) for g in gates}
        b = {g: (_weights(getattr(wp, f"{g}BiasVector"), (n_out,)) if q.hasBiasVectors
                 else np.zeros(n_out)) for g in gates}
        clip = q.cellClipThreshold or 50000.0
        seq, batch = x.shape[:2]
        xs = x.reshape(seq, batch, n_in)
        h = np.zeros((batch, n_out)) if h0 is None else np.broadcast_to(
            h0.reshape(-1, n_out), (batch, n_out))
        c = np.zeros((batch, n_out)) if c0 is None else np.broadcast_to(
            c0.reshape(-1, n_out), (batch, n_out))
        outputs = []
        for t in range(seq):
            z = {g: xs[t] @ w[g].T + h @ r[g].T + b[g] for g in gates}
            c = gate(z["forgetGate"]) * c + gate(z["inputGate"]) * cell_act(z["blockInput"])
            c = np.clip(c, -clip, clip)
            h = gate(z["outputGate"]) * out_act(c)
            outputs.append(h)
        y = np.stack(outputs) if q.sequenceOutput else h[None]
        return (y.reshape(*y.shape, 1, 1), h.reshape(1, batch, n_out, 1, 1),
                c.reshape(1, batch, n_out, 1, 1))

    def _inner_product(self, layer, x):
        p = layer.innerProduct
        if p.int8DynamicQuantize:
            raise UnsupportedOpError("innerProduct", "int8 dynamic quantisation")
        w = _weights(p.weights, (p.outputChannels, p.inputChannels))
        seq, batch = x.shape[:2]
        y = x.reshape(seq, batch, -1) @ w.T
        if p.hasBias:
            y = y + _weights(p.bias, (p.outputChannels,))
        return y.reshape(seq, batch, p.outputChannels, 1, 1)

    def _softmax(self, layer, x):
        e = np.exp(x - x.max(axis=2, keepdims=True))
        return e / e.sum(axis=2, keepdims=True)

    _KERNELS = {"permute": _permute, "convolution": _convolution, "activation": _activation,
                "uniDirectionalLSTM": _unidirectional_lstm, "innerProduct": _inner_product,
                "softmax": _softmax}
