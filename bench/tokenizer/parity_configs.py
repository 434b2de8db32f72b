#!/usr/bin/env python3
"""Writes tokenizer.json variants that exercise the components real checkpoints use less often
(other pre-tokenizers, normalizers, post-processors, decoders, added-token flags, BPE options), built
from the bundled ModernBERT and BERT files. parity.sh runs medenc and Hugging Face on each.
usage: parity_configs.py TOKENIZERS_DIR OUT_DIR"""
import copy, json, os, random, sys

src, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
modern = json.load(open(f'{src}/modernbert-base/tokenizer.json', encoding='utf-8'))
uncased = json.load(open(f'{src}/bert-base-uncased/tokenizer.json', encoding='utf-8'))
cased = json.load(open(f'{src}/bert-base-cased/tokenizer.json', encoding='utf-8'))

def added(content, id_, **flags):
    t = {'id': id_, 'content': content, 'single_word': False, 'lstrip': False, 'rstrip': False,
         'normalized': True, 'special': False}
    t.update(flags)
    return t

def write(name, j):
    with open(f'{out}/{name}.json', 'w', encoding='utf-8') as f:
        json.dump(j, f, ensure_ascii=False)

gpt2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
llama3 = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
          "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")

# RoBERTa style: prefix space, RobertaProcessing with offset trimming.
j = copy.deepcopy(modern)
j['pre_tokenizer'] = {'type': 'ByteLevel', 'add_prefix_space': True, 'trim_offsets': True, 'use_regex': True}
j['post_processor'] = {'type': 'RobertaProcessing', 'sep': ['[SEP]', 50282], 'cls': ['[CLS]', 50281],
                       'trim_offsets': True, 'add_prefix_space': True}
write('roberta_style', j)

# Llama-3 style: Split regex then ByteLevel without its regex; ByteLevel + template post-processing.
j = copy.deepcopy(modern)
j['pre_tokenizer'] = {'type': 'Sequence', 'pretokenizers': [
    {'type': 'Split', 'pattern': {'Regex': llama3}, 'behavior': 'Isolated', 'invert': False},
    {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': True, 'use_regex': False}]}
j['post_processor'] = {'type': 'Sequence', 'processors': [
    {'type': 'ByteLevel', 'add_prefix_space': True, 'trim_offsets': False, 'use_regex': True}, modern['post_processor']]}
j['normalizer'] = None
write('llama3_style', j)

# GPT-2 regex given as a Split pattern (scanner path), ByteLevel post-processor trimming offsets.
j = copy.deepcopy(modern)
j['pre_tokenizer'] = {'type': 'Sequence', 'pretokenizers': [
    {'type': 'Split', 'pattern': {'Regex': gpt2}, 'behavior': 'Removed', 'invert': True},
    {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': True, 'use_regex': False}]}
j['post_processor'] = {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': True, 'use_regex': True}
j['normalizer'] = {'type': 'NFKC'}
j['added_tokens'] = modern['added_tokens'] + [
    added(' dose', 50368, lstrip=True), added('mg', 50369, single_word=True), added('<EOS>', 50370, rstrip=True, normalized=False, special=True)]
write('split_gpt2_nfkc', j)

# BERT with an unusual normalizer chain, Whitespace pre-tokenizer, BertProcessing and added-token flags.
j = copy.deepcopy(uncased)
j['normalizer'] = {'type': 'Sequence', 'normalizers': [
    {'type': 'Replace', 'pattern': {'String': '``'}, 'content': '"'},
    {'type': 'Replace', 'pattern': {'Regex': '[0-9]+'}, 'content': '#'},
    {'type': 'NFKD'}, {'type': 'Lowercase'}, {'type': 'StripAccents'}, {'type': 'Strip', 'strip_left': True, 'strip_right': True}]}
j['pre_tokenizer'] = {'type': 'Whitespace'}
j['post_processor'] = {'type': 'BertProcessing', 'sep': ['[SEP]', 102], 'cls': ['[CLS]', 101]}
j['added_tokens'] = uncased['added_tokens'] + [
    added('[MASK]', 103, lstrip=True, rstrip=True, normalized=False, special=True),
    added('covid', 30522, single_word=True), added('MG', 30523, normalized=False, rstrip=True),
    added('q.i.d.', 30524, normalized=True)]
write('bert_whitespace_bertproc', j)

# Cased BERT with WhitespaceSplit, Punctuation (merged with previous), individual digits, Prepend,
# and a decoder chain.
j = copy.deepcopy(cased)
j['normalizer'] = {'type': 'Sequence', 'normalizers': [{'type': 'NFC'}, {'type': 'Prepend', 'prepend': '##'}]}
j['pre_tokenizer'] = {'type': 'Sequence', 'pretokenizers': [
    {'type': 'WhitespaceSplit'}, {'type': 'Punctuation', 'behavior': 'MergedWithPrevious'}, {'type': 'Digits', 'individual_digits': True},
    {'type': 'Split', 'pattern': {'String': '-'}, 'behavior': 'MergedWithNext', 'invert': False}]}
j['decoder'] = {'type': 'Sequence', 'decoders': [
    {'type': 'Replace', 'pattern': {'String': '##'}, 'content': ''}, {'type': 'Strip', 'content': ' ', 'start': 1, 'stop': 0}]}
write('bert_splits_decoders', j)

# Another pre-tokenizer mix: Contiguous split on a regex, Digits grouped.
j = copy.deepcopy(cased)
j['pre_tokenizer'] = {'type': 'Sequence', 'pretokenizers': [
    {'type': 'Split', 'pattern': {'Regex': '\\s+|[.,;:]'}, 'behavior': 'Contiguous', 'invert': False},
    {'type': 'Digits', 'individual_digits': False}, {'type': 'Punctuation', 'behavior': 'Removed'}]}
write('bert_contiguous', j)

# SentencePiece-style BPE: Metaspace, byte fallback, unk, ByteFallback/Fuse/Strip decoders.
vocab = {}
for tok, i in modern['model']['vocab'].items():
    vocab[tok.replace('\u0120', '\u2581')] = i
n = len(modern['model']['vocab'])
vocab['<unk>'] = n
for b in range(256):
    vocab['<0x%02X>' % b] = n + 1 + b
merges = []
for m in modern['model']['merges']:
    a, b = m.split(' ', 1) if isinstance(m, str) else m
    merges.append(a.replace('\u0120', '\u2581') + ' ' + b.replace('\u0120', '\u2581'))
sp = {'version': '1.0', 'truncation': None, 'padding': None,
      'added_tokens': [added('<unk>', n, normalized=False, special=True)],
      'normalizer': {'type': 'NFC'},
      'pre_tokenizer': {'type': 'Metaspace', 'replacement': '\u2581', 'prepend_scheme': 'first', 'split': True},
      'post_processor': modern['post_processor'],
      'decoder': {'type': 'Sequence', 'decoders': [
          {'type': 'Replace', 'pattern': {'String': '\u2581'}, 'content': ' '}, {'type': 'ByteFallback'}, {'type': 'Fuse'},
          {'type': 'Strip', 'content': ' ', 'start': 1, 'stop': 0}]},
      'model': {'type': 'BPE', 'dropout': None, 'unk_token': '<unk>', 'continuing_subword_prefix': None,
                'end_of_word_suffix': None, 'fuse_unk': True, 'byte_fallback': True, 'ignore_merges': False,
                'vocab': vocab, 'merges': merges}}
write('metaspace_bytefallback', sp)
j = copy.deepcopy(sp)
j['pre_tokenizer'] = {'type': 'Metaspace', 'replacement': '\u2581', 'prepend_scheme': 'always', 'split': False}
j['model']['byte_fallback'] = False
j['model']['fuse_unk'] = False
j['model']['ignore_merges'] = True
j['decoder'] = {'type': 'Metaspace', 'replacement': '\u2581', 'prepend_scheme': 'always', 'split': False}
write('metaspace_unk', j)

# A small random BPE with a continuing-subword prefix, an end-of-word suffix and an unk token.
rng = random.Random(5)
alphabet = list('abcdefghijklmnopqrstuvwxyz0123456789.,-')
toks = set(alphabet) | {'##' + c for c in alphabet} | {c + '</w>' for c in alphabet} | {'##' + c + '</w>' for c in alphabet}
merges = []
pool = sorted(toks)
for _ in range(400):
    a = rng.choice(pool)
    b = rng.choice([t for t in pool if t.startswith('##')])
    if a.endswith('</w>'):
        continue
    new = a + b[2:]
    if new in toks:
        continue
    toks.add(new)
    pool.append(new)
    merges.append([a, b])
v = {t: i for i, t in enumerate(sorted(toks))}
v['[UNK]'] = len(v)
bpe = {'version': '1.0', 'truncation': None, 'padding': None, 'added_tokens': [added('[UNK]', v['[UNK]'], normalized=False, special=True)],
       'normalizer': {'type': 'Lowercase'}, 'pre_tokenizer': {'type': 'Whitespace'}, 'post_processor': None,
       'decoder': {'type': 'BPEDecoder', 'suffix': '</w>'},
       'model': {'type': 'BPE', 'dropout': None, 'unk_token': '[UNK]', 'continuing_subword_prefix': '##',
                 'end_of_word_suffix': '</w>', 'fuse_unk': False, 'byte_fallback': False, 'vocab': v, 'merges': merges}}
write('bpe_prefix_suffix', bpe)

# WordLevel.
wl = {'version': '1.0', 'truncation': None, 'padding': None, 'added_tokens': [], 'normalizer': {'type': 'Lowercase'},
      'pre_tokenizer': {'type': 'Whitespace'}, 'post_processor': None, 'decoder': None,
      'model': {'type': 'WordLevel', 'vocab': {t: i for t, i in uncased['model']['vocab'].items() if not t.startswith('##')},
                'unk_token': '[UNK]'}}
write('wordlevel', wl)
print('\n'.join(sorted(os.listdir(out))))
