#!/usr/bin/env python3
"""Copies a Hugging Face model folder with its F32 tensors stored as BF16 (round to nearest, ties to
even: the rounding torch's .to(torch.bfloat16) does). Deterministic: tensors keep their order and the
header is written the same way every time, so the same input gives the same bytes.

Usage: to_bf16.py IN_DIR OUT_DIR   (copies config.json with torch_dtype "bfloat16", and the tokenizer files)
Standard library only.
"""
import array
import json
import os
import shutil
import struct
import sys

COPIED = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def f32_to_bf16(raw):
    """Little-endian F32 bytes -> little-endian BF16 bytes, round to nearest even (NaN kept quiet)."""
    bits = array.array("I")
    bits.frombytes(raw)
    if sys.byteorder != "little":
        bits.byteswap()
    out = array.array("H", bytes(2 * len(bits)))
    for i, x in enumerate(bits):
        if (x & 0x7F800000) == 0x7F800000 and (x & 0x007FFFFF):
            out[i] = (x >> 16) | 0x0040
        else:
            out[i] = ((x + 0x7FFF + ((x >> 16) & 1)) >> 16) & 0xFFFF
    if sys.byteorder != "little":
        out.byteswap()
    return out.tobytes()


def convert(src, dst):
    with open(src, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", None)
    new_header, chunks, offset = {}, [], 0
    if meta is not None:
        new_header["__metadata__"] = meta
    for name, t in header.items():
        begin, end = t["data_offsets"]
        raw = data[begin:end]
        dtype = t["dtype"]
        if dtype == "F32":
            raw, dtype = f32_to_bf16(raw), "BF16"
        new_header[name] = {"dtype": dtype, "shape": t["shape"], "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    head = json.dumps(new_header, separators=(",", ":")).encode("utf-8")
    head += b" " * (-len(head) % 8)  # the data starts 8-byte aligned
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for c in chunks:
            f.write(c)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, dst = sys.argv[1:]
    os.makedirs(dst, exist_ok=True)
    with open(os.path.join(src, "config.json")) as f:
        config = json.load(f)
    config["torch_dtype"] = "bfloat16"
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    convert(os.path.join(src, "model.safetensors"), os.path.join(dst, "model.safetensors"))
    for name in COPIED:
        if os.path.exists(os.path.join(src, name)):
            shutil.copyfile(os.path.join(src, name), os.path.join(dst, name))


if __name__ == "__main__":
    main()
