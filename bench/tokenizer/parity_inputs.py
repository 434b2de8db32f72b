#!/usr/bin/env python3
"""Writes parity-check inputs (JSONL {"text": ..., "text_pair": ...}) that no test has seen: real
clinical text from ../shared/data (read only, never committed) plus random Unicode.
usage: parity_inputs.py DATA_DIR OUT.jsonl [--seed N] [--random N]"""
import csv, gzip, io, json, random, sys

def main():
    data, out = sys.argv[1], sys.argv[2]
    seed = int(sys.argv[sys.argv.index('--seed') + 1]) if '--seed' in sys.argv else 1
    n_random = int(sys.argv[sys.argv.index('--random') + 1]) if '--random' in sys.argv else 3000
    rng = random.Random(seed)
    texts = []
    with gzip.open(f'{data}/roco/roco_val_test_captions_cuis.tsv.gz', 'rt', encoding='utf-8') as f:
        rows = list(csv.DictReader(f, delimiter='\t', quoting=csv.QUOTE_NONE))
        texts += [r['caption'] for r in rng.sample(rows, 1500)]
    with gzip.open(f'{data}/radiology_reports/iu_xray_indiana_reports.csv.gz', 'rt', encoding='utf-8') as f:
        rows = list(csv.DictReader(f))
        for r in rng.sample(rows, 800):
            texts.append(' '.join(x for x in (r['indication'], r['findings'], r['impression']) if x))
    csv.field_size_limit(10**8)
    with gzip.open(f'{data}/mtsamples/mtsamples_first400_timarbende.csv.gz', 'rt', encoding='utf-8') as f:
        rows = list(csv.reader(f))
        for r in rng.sample(rows, 150):
            texts.append(r[4])  # whole transcriptions: long notes
            texts.append(r[1])
    with gzip.open(f'{data}/nonmedical/wikitext-2.valid.txt.gz', 'rt', encoding='utf-8') as f:
        lines = [l.rstrip('\n') for l in f if l.strip()]
        texts += rng.sample(lines, 200)
    pairs = []
    with gzip.open(f'{data}/health_claims/healthver_test.csv.gz', 'rt', encoding='utf-8') as f:
        rows = list(csv.DictReader(f))
        pairs += [(r['claim'], r['evidence']) for r in rng.sample(rows, 300)]
    # Random text: mixes of scripts, marks, spaces, controls, emoji, unassigned code points and the
    # added tokens of the tokenizers under test.
    pools = [
        (0x20, 0x7E), (0x20, 0x7E), (0x20, 0x7E), (0xA0, 0x24F), (0x250, 0x36F), (0x370, 0x52F), (0x590, 0x6FF),
        (0x900, 0xDFF), (0xE00, 0xEFF), (0x1100, 0x11FF), (0x1AB0, 0x1DFF), (0x1E00, 0x1FFF), (0x2000, 0x206F),
        (0x2070, 0x2BFF), (0x2E00, 0x2E7F), (0x3000, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3),
        (0xE000, 0xE0FF), (0xF900, 0xFAFF), (0xFB00, 0xFFFF), (0x10000, 0x1FFFF), (0x1F300, 0x1FAFF),
        (0x20000, 0x2FFFF), (0xE0000, 0xE01EF), (0x0, 0x1F), (0x80, 0x9F), (0x0, 0x10FFFF)]
    specials = ['[MASK]', '[CLS]', '[SEP]', '[PAD]', '[UNK]', '<|endoftext|>', '|||EMAIL_ADDRESS|||', '[unused3]',
                '[mask]', '  ', '   ', ' ' * 30, '\t', '\n', '\r\n', '\u00a0', '\u3000', "'s", "'ll", 'e\u0301', 'A\u030a',
                '\u0130', '\u1e9e', 'ß', 'µ', '°', '²', '\ufeff', '\u200b', '\u200d', '\ufffd']
    def rand_char():
        lo, hi = rng.choice(pools)
        c = rng.randint(lo, hi)
        if 0xD800 <= c <= 0xDFFF:
            c = 0x41
        return chr(c)
    def rand_text():
        parts = []
        for _ in range(rng.randint(0, 40)):
            r = rng.random()
            if r < 0.15:
                parts.append(rng.choice(specials))
            elif r < 0.35:
                parts.append(' ' * rng.randint(1, 3))
            elif r < 0.55:
                parts.append(''.join(rng.choice('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:-/()%') for _ in range(rng.randint(1, 12))))
            else:
                parts.append(''.join(rand_char() for _ in range(rng.randint(1, 6))))
        return ''.join(parts)
    rand = [rand_text() for _ in range(n_random)]
    with open(out, 'w', encoding='utf-8') as f:
        for t in texts + rand:
            f.write(json.dumps({'text': t}) + '\n')
        for a, b in pairs:
            f.write(json.dumps({'text': a, 'text_pair': b}) + '\n')
        for _ in range(300):
            f.write(json.dumps({'text': rand_text(), 'text_pair': rand_text()}) + '\n')

main()
