#!/usr/bin/env python3
"""Compares parity outputs line by line (medenc vs Hugging Face); prints "k/n match" and the first
differences. usage: parity_compare.py INPUTS.jsonl OURS.jsonl THEIRS.jsonl"""
import json, sys

inputs = [json.loads(l) for l in open(sys.argv[1], encoding='utf-8')]
ours = [json.loads(l) for l in open(sys.argv[2], encoding='utf-8')]
theirs = [json.loads(l) for l in open(sys.argv[3], encoding='utf-8')]
bad = 0
if not len(inputs) == len(ours) == len(theirs):
    print(f'  line counts differ: inputs {len(inputs)}, medenc {len(ours)}, HF {len(theirs)} (HF aborts on some option errors)')
for i, (x, a, b) in enumerate(zip(inputs, ours, theirs)):
    if ('error' in a) != ('error' in b) or ('error' not in a and a != b):
        bad += 1
        if bad <= 3:
            print(f'  line {i + 1}: {json.dumps(x, ensure_ascii=False)[:160]}')
            for k in sorted(set(a) | set(b)):
                if a.get(k) != b.get(k):
                    print(f'    {k}: medenc {json.dumps(a.get(k), ensure_ascii=False)[:200]}')
                    print(f'    {k}: HF     {json.dumps(b.get(k), ensure_ascii=False)[:200]}')
n = min(len(ours), len(theirs))
print(f'{n - bad}/{len(inputs)} match')
sys.exit(0 if bad == 0 and n == len(inputs) else 1)
