#!/usr/bin/python3
"""Makes the pytorch_model.bin fixtures of tests/test_torch_checkpoint.cpp from the safetensors
fixtures in tests/data/fixtures, with Debian's python3-torch (torch.save), and the refused files
(hand-written malicious pickles, a truncated and a path-traversing zip).

Run once from the repository root: /usr/bin/python3 tests/data/torch_bin/make_torch_bin.py
The outputs are committed; tests never need torch.
"""
import collections
import io
import json
import os
import pickle
import shutil
import struct
import zipfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "fixtures")
DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def read_safetensors(path):
    """A state dict from a .safetensors file (the format is a JSON header + raw little-endian data)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    body = data[8 + n :]
    out = collections.OrderedDict()
    for name in sorted(k for k in header if k != "__metadata__"):
        info = header[name]
        b, e = info["data_offsets"]
        arr = np.frombuffer(body[b:e], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


def folder(name, source):
    d = os.path.join(HERE, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    shutil.copy(os.path.join(FIXTURES, source, "config.json"), d)
    return d


def strided_views(sd):
    """Same values, stored as views: a transposed (non-contiguous) matrix and an offset slice."""
    out = collections.OrderedDict()
    done_t = done_o = False
    for k, v in sd.items():
        if not done_t and v.dim() == 2 and v.shape[0] != v.shape[1]:
            v = v.t().contiguous().t()  # strides (1, rows)
            assert not v.is_contiguous()
            done_t = True
        elif not done_o and v.dim() == 1 and v.dtype == torch.float32 and v.numel() > 4:
            big = torch.cat([torch.full((3,), 7.0), v, torch.full((2,), -7.0)])
            v = big[3 : 3 + v.numel()]  # storage offset 3 in a larger storage
            done_o = True
        out[k] = v
    assert done_t and done_o
    return out


def main():
    # 1. New zip layout (torch >= 1.6), F32, with a transposed view and an offset slice.
    sd = read_safetensors(os.path.join(FIXTURES, "bert_seqcls_smallvocab", "model.safetensors"))
    d = folder("bert_seqcls_zip", "bert_seqcls_smallvocab")
    torch.save(strided_views(sd), os.path.join(d, "pytorch_model.bin"))

    # 2. Legacy (pre-1.6) stream, F32.
    sd = read_safetensors(os.path.join(FIXTURES, "megatron_base_smallvocab", "model.safetensors"))
    d = folder("megatron_base_legacy", "megatron_base_smallvocab")
    torch.save(sd, os.path.join(d, "pytorch_model.bin"), _use_new_zipfile_serialization=False)

    # 3. Sharded with an index, F16 (the values are the fixture's rounded to half precision).
    sd = read_safetensors(os.path.join(FIXTURES, "bert_tokcls9_smallvocab", "model.safetensors"))
    d = folder("bert_tokcls9_sharded_f16", "bert_tokcls9_smallvocab")
    names = list(sd)
    shards = [names[: len(names) // 2], names[len(names) // 2 :]]
    weight_map = {}
    for i, part in enumerate(shards):
        fname = "pytorch_model-%05d-of-%05d.bin" % (i + 1, len(shards))
        torch.save(collections.OrderedDict((k, sd[k].half()) for k in part), os.path.join(d, fname))
        weight_map.update({k: fname for k in part})
    total = sum(v.numel() * 2 for v in sd.values())
    with open(os.path.join(d, "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)

    # 4. BF16, single file (values: the fixture's rounded to bfloat16).
    sd = read_safetensors(os.path.join(FIXTURES, "bert_base_smallvocab", "model.safetensors"))
    d = folder("bert_base_bf16", "bert_base_smallvocab")
    torch.save(collections.OrderedDict((k, v.bfloat16()) for k, v in sd.items()), os.path.join(d, "pytorch_model.bin"))

    # 5. Refused files: each is a zip with a state-dict-shaped layout around a hostile pickle.
    bad = os.path.join(HERE, "refused")
    shutil.rmtree(bad, ignore_errors=True)
    os.makedirs(bad)

    def zip_with(name, pkl, extra=()):
        with zipfile.ZipFile(os.path.join(bad, name), "w", zipfile.ZIP_STORED) as z:
            z.writestr("archive/data.pkl", pkl)
            z.writestr("archive/version", "3\n")
            for n, b in extra:
                z.writestr(n, b)

    # os.system named as a global and called (never reached: refused when named).
    zip_with("os_system.bin", b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00trueq\x00\x85R.")

    # A real torch.save of a dict whose value defines __reduce__ with an arbitrary callable.
    class Evil:
        def __reduce__(self):
            return (eval, ("__import__('os').system('true')",))

    buf = io.BytesIO()
    torch.save(collections.OrderedDict([("w", torch.zeros(2)), ("x", Evil())]), buf)
    with open(os.path.join(bad, "reduce_eval.bin"), "wb") as f:
        f.write(buf.getvalue())

    # BUILD tricks: an allowed OrderedDict whose BUILD sets __setstate__, and a BUILD on a tensor.
    od = b"ccollections\nOrderedDict\n)R"
    zip_with("build_setstate.bin", b"\x80\x02" + od + b"}X\x0c\x00\x00\x00__setstate__" + od + b"sb.")
    storage = b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x02tQ"
    tensor = b"ctorch._utils\n_rebuild_tensor_v2\n(" + storage + b"K\x00K\x02\x85K\x01\x85\x89" + od + b"tR"
    zip_with("build_on_tensor.bin",
             b"\x80\x02" + od + b"X\x01\x00\x00\x00w" + tensor + b"}X\x04\x00\x00\x00evilK\x01sbs.",
             [("archive/data/0", b"\x00" * 8)])
    # The builtins global inside a nested tuple, reached through STACK_GLOBAL (protocol 4 style).
    zip_with("stack_global_exec.bin",
             b"\x80\x04" + od + b"X\x01\x00\x00\x00w\x8c\x08builtins\x8c\x04exec\x93X\x01\x00\x00\x001\x85Rs.")

    # Truncated zip: the first half of a good checkpoint.
    with open(os.path.join(HERE, "bert_seqcls_zip", "pytorch_model.bin"), "rb") as f:
        good = f.read()
    with open(os.path.join(bad, "truncated.bin"), "wb") as f:
        f.write(good[: len(good) // 2])

    # Path traversal inside the zip.
    zip_with("traversal.bin", b"\x80\x02" + od + b".", [("../../evil.txt", b"x")])


if __name__ == "__main__":
    main()
