#!/usr/bin/python3
"""Exports a ModernBERT sequence-classification checkpoint (config.json + model.safetensors, e.g.
`medenc init --arch ModernBertForSequenceClassification --config base`) to ONNX for the peer bench.

The module below is written from ModernBERT's definition (no transformers needed): embeddings + norm,
layers of [norm] -> Wqkv -> rotary -> attention (global, or a sliding window every layer not
global) -> Wo, norm -> Wi -> GeGLU -> Wo, final norm, head dense -> act -> norm, classifier on the
CLS or mean-pooled row. Padded batches (input_ids, attention_mask) in, logits out.

  /usr/bin/python3 bench/peers/export_onnx.py --model DIR --out model.onnx [--check build/medenc]

--check runs `medenc forward` on a few padded inputs and compares its logits and hidden states with
this module's (PyTorch, fp32) before exporting, then compares the exported graph's outputs with the
module's through onnxruntime-node when bench/peers/node_modules is there.
"""
import argparse
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F


def read_safetensors(path):
    """Tensors of a .safetensors file as float32 numpy arrays (F32, F16 and BF16 stored)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = data[begin:end]
        dtype = info["dtype"]
        if dtype == "F32":
            a = np.frombuffer(raw, dtype="<f4")
        elif dtype == "F16":
            a = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif dtype == "BF16":
            a = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise SystemExit(f"{path}: tensor {name} has dtype {dtype}, not a float")
        out[name] = torch.from_numpy(a.reshape(info["shape"]).copy())
    return out


def write_inputs_json(path, ids, mask):
    """inputs.json as `medenc forward --inputs` reads it."""
    with open(path, "w") as f:
        json.dump({"input_ids": ids.tolist(), "attention_mask": mask.tolist()}, f)


class DynamicInt8Linear(torch.autograd.Function):
    """x . W^T as ONNX Runtime's own dynamic quantization writes it (quantize_dynamic, per-channel
    weights): DynamicQuantizeLinear (u8, per tensor) -> MatMulInteger with int8 weights -> Cast ->
    Mul by the scales, which ONNX Runtime fuses into its int8 kernels. In PyTorch (tracing) it is the
    product with the dequantized weights."""

    @staticmethod
    def forward(ctx, x, wq_t, w_scale):
        return torch.matmul(x, wq_t.float() * w_scale)

    @staticmethod
    def symbolic(g, x, wq_t, w_scale):
        xq, xs, xzp = g.op("DynamicQuantizeLinear", x, outputs=3)
        wzp = g.op("Constant", value_t=torch.tensor(0, dtype=torch.int8))
        y = g.op("MatMulInteger", xq, wq_t, xzp, wzp)
        y = g.op("Cast", y, to_i=1)  # float
        return g.op("Mul", y, g.op("Mul", xs, w_scale))


def quantize_per_channel(w):
    """Symmetric int8 per output channel: W[c] ~ q[c] * scale[c]; returned as q^T [in, out], scale [out]."""
    scale = w.abs().amax(dim=1).clamp(min=1e-12) / 127.0
    q = torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8)
    return q.t().contiguous(), scale.contiguous()


class ModernBertClassifier(torch.nn.Module):
    def __init__(self, config, tensors, int8=False):
        super().__init__()
        self.int8 = int8
        c = config
        self.H = c["hidden_size"]
        self.heads = c["num_attention_heads"]
        self.hd = self.H // self.heads
        self.eps = c.get("norm_eps", 1e-5)
        self.half_window = c.get("local_attention", 128) // 2
        self.pooling = c.get("classifier_pooling", "cls")
        if c.get("hidden_activation", "gelu") != "gelu" or c.get("classifier_activation", "gelu") != "gelu":
            raise SystemExit("only gelu activations are written here")
        n = c["num_hidden_layers"]
        if "layer_types" in c:
            self.is_global = [t == "full_attention" for t in c["layer_types"]]
        else:
            every = c.get("global_attn_every_n_layers", 3)
            self.is_global = [i % every == 0 for i in range(n)]
        pre = "model."
        p = lambda name: torch.nn.Parameter(tensors[name], requires_grad=False)
        opt = lambda name: p(name) if name in tensors else None
        # A norm without a bias (ModernBERT's default) gets an explicit zero bias: ONNX Runtime 1.31's
        # SkipLayerNormFusion crashes (segmentation fault) on a LayerNormalization node without one,
        # and adding 0 changes no value, so the peer keeps every fusion of its "all" level.
        zeros = torch.zeros(self.H)
        norm_bias = lambda name: p(name) if name in tensors else torch.nn.Parameter(zeros.clone(), requires_grad=False)
        self.tok = p(pre + "embeddings.tok_embeddings.weight")
        self.emb_norm = (p(pre + "embeddings.norm.weight"), norm_bias(pre + "embeddings.norm.bias"))
        self.layers = []
        for i in range(n):
            lp = f"{pre}layers.{i}."
            layer = {
                "attn_norm": (opt(lp + "attn_norm.weight"), norm_bias(lp + "attn_norm.bias")),
                "wqkv": (p(lp + "attn.Wqkv.weight"), opt(lp + "attn.Wqkv.bias")),
                "wo": (p(lp + "attn.Wo.weight"), opt(lp + "attn.Wo.bias")),
                "mlp_norm": (p(lp + "mlp_norm.weight"), norm_bias(lp + "mlp_norm.bias")),
                "wi": (p(lp + "mlp.Wi.weight"), opt(lp + "mlp.Wi.bias")),
                "wo2": (p(lp + "mlp.Wo.weight"), opt(lp + "mlp.Wo.bias")),
            }
            self.layers.append(layer)
            for k, (w, b) in layer.items():  # registered so that export sees them as initializers
                if w is not None:
                    self.register_parameter(f"l{i}_{k}_w", w)
                if b is not None:
                    self.register_parameter(f"l{i}_{k}_b", b)
            if int8:  # the four linear layers of the layer, quantized once here
                for k in ("wqkv", "wo", "wi", "wo2"):
                    q, scale = quantize_per_channel(layer[k][0].data)
                    self.register_buffer(f"l{i}_{k}_q", q)
                    self.register_buffer(f"l{i}_{k}_s", scale)
                    layer[k + "_q"] = (q, scale)
        self.final_norm = (p(pre + "final_norm.weight"), norm_bias(pre + "final_norm.bias"))
        self.head_dense = (p("head.dense.weight"), opt("head.dense.bias"))
        self.head_norm = (p("head.norm.weight"), norm_bias("head.norm.bias"))
        self.classifier = (p("classifier.weight"), p("classifier.bias"))
        for name, (w, b) in {"emb_norm": self.emb_norm, "final_norm": self.final_norm, "head_dense": self.head_dense,
                             "head_norm": self.head_norm, "classifier": self.classifier}.items():
            self.register_parameter(name + "_w", w)
            if b is not None:
                self.register_parameter(name + "_b", b)
        hd = self.hd
        for name, theta in (("global", c.get("global_rope_theta", 160000.0)), ("local", c.get("local_rope_theta", 10000.0))):
            exponent = torch.arange(0, hd, 2, dtype=torch.int64).float() / hd
            self.register_buffer("inv_freq_" + name, 1.0 / (theta ** exponent), persistent=False)

    def linear(self, x, L, k):
        w, b = L[k]
        if not self.int8:
            return F.linear(x, w, b)
        y = DynamicInt8Linear.apply(x, *L[k + "_q"])
        return y if b is None else y + b

    def norm(self, x, wb):
        return F.layer_norm(x, (self.H,), wb[0], wb[1], self.eps)

    def rotary(self, x, cos, sin):  # x [B, heads, T, hd]: rotate-half
        half = self.hd // 2
        x1, x2 = x[..., :half], x[..., half:]
        return x * cos + torch.cat((-x2, x1), dim=-1) * sin

    def forward(self, input_ids, attention_mask):
        B, T = input_ids.shape[0], input_ids.shape[1]
        x = self.norm(F.embedding(input_ids, self.tok), self.emb_norm)
        positions = torch.arange(T, device=input_ids.device).float()
        keep = attention_mask.bool()[:, None, None, :]  # [B, 1, 1, T] keys
        idx = torch.arange(T, device=input_ids.device)
        band = (idx[None, :] - idx[:, None]).abs() <= self.half_window  # [T, T]
        neg = torch.finfo(torch.float32).min
        global_bias = torch.zeros(B, 1, 1, T).masked_fill(~keep, neg)
        local_bias = torch.zeros(B, 1, T, T).masked_fill(~(keep & band[None, None]), neg)
        angles = {}
        for name in ("global", "local"):
            freqs = positions[:, None] * getattr(self, "inv_freq_" + name)[None, :]
            emb = torch.cat((freqs, freqs), dim=-1)
            angles[name] = (emb.cos()[None, None], emb.sin()[None, None])
        for i, L in enumerate(self.layers):
            a = x if i == 0 else self.norm(x, L["attn_norm"])
            qkv = self.linear(a, L, "wqkv").view(B, T, 3, self.heads, self.hd).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            cos, sin = angles["global" if self.is_global[i] else "local"]
            q, k = self.rotary(q, cos, sin), self.rotary(k, cos, sin)
            scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(self.hd))
            scores = scores + (global_bias if self.is_global[i] else local_bias)
            o = torch.matmul(torch.softmax(scores, dim=-1), v).transpose(1, 2).reshape(B, T, self.H)
            x = x + self.linear(o, L, "wo")
            z = self.linear(self.norm(x, L["mlp_norm"]), L, "wi")
            inp, gate = z.chunk(2, dim=-1)
            x = x + self.linear(F.gelu(inp) * gate, L, "wo2")
        hidden = self.norm(x, self.final_norm)
        if self.pooling == "mean":
            m = attention_mask.to(hidden.dtype)[:, :, None]
            pooled = (hidden * m).sum(dim=1) / m.sum(dim=1)
        else:
            pooled = hidden[:, 0]
        h = self.norm(F.gelu(F.linear(pooled, *self.head_dense)), self.head_norm)
        return F.linear(h, *self.classifier), hidden


def padded(lengths, vocab, seed):
    g = torch.Generator().manual_seed(seed)
    T = max(lengths)
    ids = torch.randint(0, min(vocab, 50000), (len(lengths), T), generator=g)
    mask = torch.zeros(len(lengths), T, dtype=torch.int64)
    for b, n in enumerate(lengths):
        mask[b, :n] = 1
        ids[b, n:] = 0
    return ids, mask


def check_against_medenc(module, model_dir, medenc, vocab):
    """medenc forward's logits and hidden states next to this module's, on padded random inputs."""
    worst = 0.0
    for lengths, seed in (([7, 130, 300], 1), ([1, 64, 65, 200], 2)):  # both sides of the 128 window
        ids, mask = padded(lengths, vocab, seed)
        with torch.no_grad():
            logits, hidden = module(ids, mask)
        with tempfile.TemporaryDirectory() as tmp:
            write_inputs_json(os.path.join(tmp, "inputs.json"), ids, mask)
            subprocess.run([medenc, "forward", "--model", model_dir, "--inputs", os.path.join(tmp, "inputs.json"),
                            "--out", os.path.join(tmp, "out.safetensors"), "--threads", "2"], check=True)
            out = read_safetensors(os.path.join(tmp, "out.safetensors"))
        d_logits = (out["logits"] - logits).abs().max().item()
        m = mask.bool()
        d_hidden = (out["last_hidden_state"][m] - hidden[m]).abs().max().item()
        print(f"lengths {lengths}: max |medenc - torch| logits {d_logits:.2e}, hidden {d_hidden:.2e}")
        worst = max(worst, d_logits, d_hidden)
    if worst > 1e-4:
        raise SystemExit(f"the module differs from medenc by {worst:.2e} (> 1e-4)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="ModernBertForSequenceClassification folder")
    ap.add_argument("--out", required=True, help="output .onnx file")
    ap.add_argument("--check", metavar="MEDENC", help="the medenc binary to compare the module with first")
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--int8", action="store_true",
                    help="also write OUT with .int8.onnx: the layers' linear layers dynamically quantized as "
                         "ONNX Runtime's quantize_dynamic does (int8 weights per channel, u8 inputs per tensor)")
    a = ap.parse_args()
    torch.set_num_threads(2)
    config = json.load(open(os.path.join(a.model, "config.json")))
    arch = config.get("architectures", [""])[0]
    if arch != "ModernBertForSequenceClassification":
        raise SystemExit(f"{a.model}: {arch or 'no architecture'}; the peer bench exports sequence classifiers")
    tensors = read_safetensors(os.path.join(a.model, "model.safetensors"))
    module = ModernBertClassifier(config, tensors).eval()
    if a.check:
        check_against_medenc(module, a.model, a.check, config["vocab_size"])
    ids, mask = padded([5, 9], config["vocab_size"], 3)

    class LogitsOnly(torch.nn.Module):  # what medenc classify computes: no hidden states out
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            return self.inner(input_ids, attention_mask)[0]

    outputs = [(module, a.out)]
    if a.int8:
        outputs.append((ModernBertClassifier(config, tensors, int8=True).eval(), a.out[:-len(".onnx")] + ".int8.onnx"))
    for m, path in outputs:
        torch.onnx.export(LogitsOnly(m), (ids, mask), path, input_names=["input_ids", "attention_mask"],
                          output_names=["logits"],
                          dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                                        "attention_mask": {0: "batch", 1: "sequence"}, "logits": {0: "batch"}},
                          opset_version=a.opset, do_constant_folding=True)
        print(f"wrote {path} ({os.path.getsize(path) / 2**20:.0f} MB)")


if __name__ == "__main__":
    main()
