#!/usr/bin/env python3
"""Collects a few MB of real clinical text from ../shared/data into one JSONL file ({"text": ...}
per document) for the tokenizer benchmark. The data is only read here, never committed.
usage: bench_corpus.py DATA_DIR OUT.jsonl"""
import csv, gzip, json, sys

data, out = sys.argv[1], sys.argv[2]
docs = []
with gzip.open(f'{data}/roco/roco_val_test_captions_cuis.tsv.gz', 'rt', encoding='utf-8') as f:
    docs += [r['caption'] for r in csv.DictReader(f, delimiter='\t', quoting=csv.QUOTE_NONE)]
with gzip.open(f'{data}/radiology_reports/iu_xray_indiana_reports.csv.gz', 'rt', encoding='utf-8') as f:
    for r in csv.DictReader(f):
        text = ' '.join(x for x in (r['indication'], r['comparison'], r['findings'], r['impression']) if x)
        if text.strip():
            docs.append(text)
csv.field_size_limit(10**8)
with gzip.open(f'{data}/mtsamples/mtsamples_first400_timarbende.csv.gz', 'rt', encoding='utf-8') as f:
    docs += [r[4] for r in csv.reader(f) if len(r) > 4 and r[4].strip()]
# MedMentions abstracts, rebuilt from the CoNLL tokens (dev split).
with gzip.open(f'{data}/medmentions/medmentions_full_semtype_bio.dev.conll.gz', 'rt', encoding='utf-8') as f:
    words = []
    for line in f:
        if line.startswith('-DOCSTART-'):
            if words:
                docs.append(' '.join(words))
            words = []
        elif line.strip():
            words.append(line.split('\t')[0])
    if words:
        docs.append(' '.join(words))
with open(out, 'w', encoding='utf-8') as f:
    for d in docs:
        f.write(json.dumps({'text': d}) + '\n')
total = sum(len(d.encode('utf-8')) for d in docs)
print(f'{len(docs)} documents, {total / 1e6:.2f} MB', file=sys.stderr)
