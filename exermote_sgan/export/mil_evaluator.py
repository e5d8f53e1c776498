"""Run a Core ML ML Program (``.mlpackage``) in NumPy, so an export can be checked on Linux.

Core ML itself only runs on Apple platforms.  This evaluator reads the MIL program stored in the
package (the very bytes an iPhone would load) and executes it op by op with NumPy, rounding every
result to the op's declared dtype, so an FP16 program is evaluated at FP16 precision (or, with
``exact=True``, in float32 throughout: the program's graph and stored weights without its FP16
arithmetic, which is how a wrong graph is told from rounding, see
:mod:`exermote_sgan.export.verify`).  It knows
the ops an exported classifier consists of and raises :class:`UnsupportedOpError` naming any
other op: an op it does not understand must fail the check, never be skipped.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np


class UnsupportedOpError(NotImplementedError):
    """The program contains an op (or an op setting) the evaluator does not implement."""

    def __init__(self, op_type: str, detail: str = ""):
        self.op_type = op_type
        super().__init__(f"cannot evaluate MIL op {op_type!r}"
                         + (f" ({detail})" if detail else ""))


def load_mil_program(package_path):
    """The MIL program of a saved ``.mlpackage``, its weights read from the package."""
    import coremltools as ct
    from coremltools.converters.mil.frontend.milproto.load import load as milproto_load

    package_path = Path(package_path)
    spec = ct.utils.load_spec(str(package_path))
    if spec.WhichOneof("Type") != "mlProgram":
        raise ValueError(f"{package_path} is not an ML Program but {spec.WhichOneof('Type')}")
    weights_dir = package_path / "Data" / "com.apple.CoreML" / "weights"
    return spec, milproto_load(spec, specification_version=spec.specificationVersion,
                               file_weights_dir=str(weights_dir))


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


_ACTIVATIONS = {"sigmoid": _sigmoid, "tanh": np.tanh, "relu": lambda x: np.maximum(x, 0)}


def _activation(name: str, op_type: str):
    if name not in _ACTIVATIONS:
        raise UnsupportedOpError(op_type, f"activation {name!r}")
    return _ACTIVATIONS[name]


class MILEvaluator:
    """Evaluate the ``main`` function of a MIL program with NumPy.

    ``evaluate({"accelerations": array})`` returns every output of the function by name.
    ``exact=True`` keeps FP16 values in float32 instead of rounding them (casts to FP16
    included); the constants stay as the program stores them.
    """

    def __init__(self, program, *, function: str = "main", exact: bool = False):
        from coremltools.converters.mil.mil import types

        self._types = types
        self.exact = bool(exact)
        self.function = program.functions[function]
        unknown = sorted({op.op_type for op in self._all_ops()
                          if op.op_type not in self._KERNELS and op.op_type != "const"})
        if unknown:
            raise UnsupportedOpError(unknown[0], f"the program also uses {unknown[1:]}"
                                     if len(unknown) > 1 else "")
        for op in self.function.operations:
            if op.op_type != "const":
                accepted = inspect.signature(self._KERNELS[op.op_type]).parameters
                extra = sorted(set(op.inputs) - set(accepted))
                if extra:
                    raise UnsupportedOpError(op.op_type, f"inputs {extra} of op {op.name!r}")

    def _all_ops(self):
        for op in self.function.operations:
            if op.blocks:
                raise UnsupportedOpError(op.op_type, "ops with nested blocks")
            yield op

    @property
    def input_names(self) -> list[str]:
        return list(self.function.inputs)

    @property
    def output_names(self) -> list[str]:
        return [v.name for v in self.function.outputs]

    # -- execution ---------------------------------------------------------------------------
    def evaluate(self, inputs: dict) -> dict:
        env: dict[str, object] = {}
        for name, var in self.function.inputs.items():
            if name not in inputs:
                raise KeyError(f"missing input {name!r}")
            env[name] = self._round(np.asarray(inputs[name]), var)
        for op in self.function.operations:
            if op.op_type == "const":
                env[op.outputs[0].name] = op.outputs[0].val
                continue
            args = {name: self._value(v, env) for name, v in op.inputs.items()}
            results = self._KERNELS[op.op_type](self, op, **args)
            if not isinstance(results, tuple):
                results = (results,)
            for var, value in zip(op.outputs, results):
                self._check_shape(op, var, value)
                env[var.name] = self._round(value, var)
        return {v.name: env[v.name] for v in self.function.outputs}

    def _check_shape(self, op, var, value):
        """A kernel's result must have the shape the program declares (symbolic dims aside)."""
        if not self._types.is_tensor(var.sym_type):
            return
        declared = var.shape
        actual = np.shape(value)
        if len(declared) != len(actual) or any(
                isinstance(d, (int, np.integer)) and int(d) != a
                for d, a in zip(declared, actual)):
            raise RuntimeError(f"MIL op {op.op_type!r} ({op.name}) computed shape {actual}, "
                               f"the program declares {declared}")

    def _value(self, var, env):
        if isinstance(var, (list, tuple)):
            return [self._value(v, env) for v in var]
        if var.name in env:
            return env[var.name]
        if var.val is not None:
            return var.val
        raise KeyError(f"value of {var.name!r} not computed")

    def _round(self, value, var):
        """Store ``value`` in the dtype the program declares for ``var`` (fp16 stays fp16)."""
        types = self._types
        if not (types.is_tensor(var.sym_type) or types.is_scalar(var.sym_type)):
            return value
        if var.dtype == types.str or types.is_dict(var.sym_type):
            return value
        if self.exact and var.dtype == types.fp16:
            return np.asarray(value, np.float32)
        return np.asarray(value).astype(types.nptype_from_builtin(var.dtype))

    # -- kernels (each receives the op and its resolved inputs) --------------------------------
    def _binary(fn):
        def kernel(self, op, x, y):
            x = np.asarray(x, np.float32) if _is_float(x) else np.asarray(x)
            return fn(x, np.asarray(y, x.dtype))
        return kernel

    def _cast(self, op, x, dtype):
        if self.exact and str(dtype) == "fp16":
            return np.asarray(x, np.float32)
        return np.asarray(x).astype(self._types.nptype_from_builtin(
            self._types.string_to_builtin(str(dtype))))

    def _identity(self, op, x):
        return np.asarray(x)

    def _relu(self, op, x):
        return np.maximum(np.asarray(x, np.float32), 0)

    def _sigmoid_op(self, op, x):
        return _sigmoid(np.asarray(x, np.float32))

    def _tanh(self, op, x):
        return np.tanh(np.asarray(x, np.float32))

    def _transpose(self, op, x, perm):
        return np.transpose(x, tuple(int(p) for p in perm))

    def _reshape(self, op, x, shape):
        return np.reshape(x, tuple(int(s) for s in shape))

    def _expand_dims(self, op, x, axes):
        return np.expand_dims(x, tuple(int(a) for a in axes))

    def _squeeze(self, op, x, axes=None):
        return np.squeeze(x, None if axes is None else tuple(int(a) for a in axes))

    def _shape(self, op, x):
        return np.asarray(np.shape(x), np.int32)

    def _fill(self, op, shape, value=0.0):
        return np.full(tuple(int(s) for s in shape), value)

    def _concat(self, op, values, axis, interleave=False):
        if interleave:
            raise UnsupportedOpError(op.op_type, "interleave=True")
        return np.concatenate([np.atleast_1d(v) for v in values], axis=int(axis))

    def _gather(self, op, x, indices, axis=0, batch_dims=0, validate_indices=False):
        if int(batch_dims) != 0:
            raise UnsupportedOpError(op.op_type, "batch_dims != 0")
        return np.take(x, np.asarray(indices).astype(np.int64), axis=int(axis))

    def _slice_by_index(self, op, x, begin, end, stride=None, begin_mask=None, end_mask=None,
                        squeeze_mask=None):
        x = np.asarray(x)
        rank = x.ndim
        stride = [1] * rank if stride is None else [int(s) for s in stride]
        begin_mask = [False] * rank if begin_mask is None else list(begin_mask)
        end_mask = [False] * rank if end_mask is None else list(end_mask)
        squeeze_mask = [False] * rank if squeeze_mask is None else list(squeeze_mask)
        index = []
        for i in range(rank):
            if squeeze_mask[i]:
                index.append(int(begin[i]))
                continue
            b = None if begin_mask[i] else int(begin[i])
            e = None if end_mask[i] else int(end[i])
            index.append(slice(b, e, stride[i]))
        return x[tuple(index)]

    def _softmax(self, op, x, axis=-1):
        x = np.asarray(x, np.float32)
        e = np.exp(x - x.max(axis=int(axis), keepdims=True))
        return e / e.sum(axis=int(axis), keepdims=True)

    def _matmul(self, op, x, y, transpose_x=False, transpose_y=False):
        x = np.asarray(x, np.float32)
        y = np.asarray(y, np.float32)
        if transpose_x:
            x = np.swapaxes(x, -1, -2)
        if transpose_y:
            y = np.swapaxes(y, -1, -2)
        return np.matmul(x, y)

    def _linear(self, op, x, weight, bias=None):
        y = np.asarray(x, np.float32) @ np.asarray(weight, np.float32).T
        return y if bias is None else y + np.asarray(bias, np.float32)

    def _conv(self, op, x, weight, strides=None, pad_type="valid", pad=None, dilations=None,
              groups=1, bias=None):
        x = np.asarray(x, np.float32)
        weight = np.asarray(weight, np.float32)
        if x.ndim != 3 or weight.ndim != 3:
            raise UnsupportedOpError(op.op_type, f"only 1-D convolution, got input rank {x.ndim}")
        if int(groups) != 1 or (dilations is not None and any(int(d) != 1 for d in dilations)):
            raise UnsupportedOpError(op.op_type, "groups or dilations other than 1")
        if str(pad_type) == "custom":
            left, right = (int(p) for p in pad)
            x = np.pad(x, ((0, 0), (0, 0), (left, right)))
        elif str(pad_type) != "valid":
            raise UnsupportedOpError(op.op_type, f"pad_type {pad_type!r}")
        stride = 1 if strides is None else int(strides[0])
        width = weight.shape[2]
        steps = (x.shape[2] - width) // stride + 1
        patches = np.stack([x[:, :, t * stride:t * stride + width] for t in range(steps)], 2)
        y = np.einsum("nctw,ocw->not", patches, weight)
        return y if bias is None else y + np.asarray(bias, np.float32)[None, :, None]

    def _lstm(self, op, x, initial_h, initial_c, weight_ih, weight_hh, bias=None,
              peephole=None, weight_ih_back=None, weight_hh_back=None, bias_back=None,
              peephole_back=None, direction="forward", output_sequence=False,
              recurrent_activation="sigmoid", cell_activation="tanh", activation="tanh",
              clip=None):
        if str(direction) != "forward":
            raise UnsupportedOpError(op.op_type, f"direction {direction!r}")
        if peephole is not None and np.any(np.asarray(peephole) != 0):
            raise UnsupportedOpError(op.op_type, "peephole weights")
        if clip is not None:
            raise UnsupportedOpError(op.op_type, "cell clipping")
        gate = _activation(str(recurrent_activation), op.op_type)
        cell_act = _activation(str(cell_activation), op.op_type)
        out_act = _activation(str(activation), op.op_type)
        x = np.asarray(x, np.float32)  # (T, B, I)
        w_ih = np.asarray(weight_ih, np.float32)  # (4H, I), gates i, f, o, g
        w_hh = np.asarray(weight_hh, np.float32)
        b = np.zeros(w_ih.shape[0], np.float32) if bias is None else np.asarray(bias, np.float32)
        units = w_hh.shape[1]
        h = np.broadcast_to(np.asarray(initial_h, np.float32), (x.shape[1], units))
        c = np.broadcast_to(np.asarray(initial_c, np.float32), (x.shape[1], units))
        outputs = []
        for t in range(x.shape[0]):
            z = x[t] @ w_ih.T + h @ w_hh.T + b
            i, f, o, g = (z[:, k * units:(k + 1) * units] for k in range(4))
            c = gate(f) * c + gate(i) * cell_act(g)
            h = gate(o) * out_act(c)
            outputs.append(h)
        sequence = np.stack(outputs, 0) if bool(output_sequence) else h[None]
        return sequence, h, c

    def _reduce(fn):
        def kernel(self, op, x, axes=None, keep_dims=False):
            axes = None if axes is None else tuple(int(a) for a in np.atleast_1d(axes))
            return fn(np.asarray(x, np.float32), axis=axes, keepdims=bool(keep_dims))
        return kernel

    def _classify(self, op, probabilities, classes):
        probabilities = np.asarray(probabilities)
        labels = list(classes)
        flat = probabilities.reshape(-1, probabilities.shape[-1])
        label = [labels[int(k)] for k in flat.argmax(axis=1)]
        probs = [dict(zip(labels, row.tolist())) for row in flat]
        return (label[0], probs[0]) if len(label) == 1 else (label, probs)

    _KERNELS = {
        "add": _binary(np.add), "sub": _binary(np.subtract), "mul": _binary(np.multiply),
        "real_div": _binary(np.divide), "cast": _cast, "identity": _identity, "relu": _relu,
        "sigmoid": _sigmoid_op, "tanh": _tanh, "transpose": _transpose, "reshape": _reshape,
        "expand_dims": _expand_dims, "squeeze": _squeeze, "shape": _shape, "fill": _fill,
        "concat": _concat, "gather": _gather, "slice_by_index": _slice_by_index,
        "softmax": _softmax, "matmul": _matmul, "linear": _linear, "conv": _conv,
        "lstm": _lstm, "classify": _classify,
        "reduce_mean": _reduce(np.mean), "reduce_max": _reduce(np.max),
    }
    del _binary, _reduce


def _is_float(x) -> bool:
    return np.issubdtype(np.asarray(x).dtype, np.floating)
