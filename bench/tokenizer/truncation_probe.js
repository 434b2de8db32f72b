// Probes Hugging Face `tokenizers` (official Node binding, package.json's version) over every pair
// truncation case of a small grid and writes what it returns, one case a line, as the fixture that
// tests/test_tokenizer_truncation.cpp checks (ctest then needs no node):
//   cd bench/tokenizer && npm ci && node truncation_probe.js | gzip -9n > ../../tests/data/tokenizers/fixtures/truncation_probe.jsonl.gz
//
// Grid, for bert-base-uncased (WordPiece, [CLS] A [SEP] B [SEP]) and modernbert-base (byte-level BPE):
// - texts of 0..12 one-token words for each side, max_length 3..12, longest_first, right side,
//   stride 0: every branch of the length rule (neither, one or both sides longer than their share);
// - the same with the left side, and with stride 1 and 2 (overflowing windows);
// - only_first / only_second on a coarser grid;
// - texts whose words have several tokens, so the rule's inputs depend on where words end.
// Each line: tokenizer, text, text_pair, max_length, stride, strategy, side, and either `error` or the
// encoding as {ids, type_ids, overflowing: [same, ...]}.
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { Tokenizer } = require(path.join(__dirname, 'node_modules', 'tokenizers'));

const data = path.join(__dirname, '..', '..', 'tests', 'data', 'tokenizers');
const tokenizers = ['bert-base-uncased', 'modernbert-base'];
const oneTokenWords = 'a b c d e f g h i j k l'.split(' ');
// Words of 1-3 tokens in both vocabularies (checked below against the untruncated encoding).
const longWords = ['unaffable', 'a', 'playing', 'hyperkalemia', 'b', 'tachycardia', 'c', 'd'];

function words(list, n) { return list.slice(0, n).join(' '); }

function dump(e) {
  const out = { ids: e.getIds(), type_ids: e.getTypeIds() };
  const over = e.getOverflowing();
  if (over.length) out.overflowing = over.map(dump);
  return out;
}

// One case: the encoding, or {error} when the library returns an error.
async function probe(tokenizers, c) {
  const tok = tokenizers[c.tokenizer];
  const strategyName = { longest_first: 'LongestFirst', only_first: 'OnlyFirst', only_second: 'OnlySecond' }[c.strategy];
  const out = Object.assign({}, c);
  try {
    tok.setTruncation(c.max_length, { stride: c.stride, strategy: strategyName, direction: c.side });
    Object.assign(out, dump(await tok.encode(c.text, c.text_pair, { addSpecialTokens: true })));
  } catch (err) {
    out.error = 'error';
  }
  return out;
}

function loadTokenizers() {
  const t = {};
  for (const name of tokenizers) t[name] = Tokenizer.fromFile(path.join(data, name, 'tokenizer.json'));
  return t;
}

async function checkGridTexts(t) {
  // The grid's texts must have the token counts it claims.
  for (const name of tokenizers)
    for (let n = 0; n <= 12; n++) {
      const e = await t[name].encode(words(oneTokenWords, n), null);
      if (e.getIds().length !== n + 2) throw new Error(`${name}: "${words(oneTokenWords, n)}" is not ${n} tokens`);
    }
}

function cases() {
  const out = [];
  const grid = (list, maxN, maxLengths, strides, strategies, sides) => {
    for (const tokenizer of tokenizers)
      for (const strategy of strategies)
        for (const side of sides)
          for (const stride of strides)
            for (const max_length of maxLengths)
              for (let n1 = 0; n1 <= maxN; n1++)
                for (let n2 = 0; n2 <= maxN; n2++)
                  out.push({ tokenizer, text: words(list, n1), text_pair: words(list, n2), max_length, stride, strategy, side });
  };
  const budgets = [3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
  grid(oneTokenWords, 12, budgets, [0], ['longest_first'], ['right', 'left']);
  grid(oneTokenWords, 12, budgets, [1, 2], ['longest_first'], ['right']);
  grid(oneTokenWords, 8, [4, 6, 7, 9], [0, 1], ['only_first', 'only_second'], ['right']);
  grid(longWords, 8, budgets, [0], ['longest_first'], ['right', 'left']);
  return out;
}

// The library aborts the process (a Rust panic, not an error) when a stride does not fit a side's
// share (Encoding::truncate asserts stride < max_len). Cases that may abort are predicted from the
// length rule of truncate_encodings in tokenizers/src/utils/truncation.rs (under both readings of
// which text the early stop applies to) and from setTruncation's stride check (which aborts too),
// and recorded as {error: "panic"} without running them all; a sample of them is run, each in its own process, to check that they do abort. The other
// cases run in a child that writes each result synchronously; should one abort after all, it is
// recorded the same way and the child restarts after it.
function shares(n1, n2, budget, strategy) {
  if (n1 + n2 <= budget) return [n1, n2];
  if (strategy === 'only_first') return [n1 - (n1 + n2 - budget), n2];
  if (strategy === 'only_second') return [n1, n2 - (n1 + n2 - budget)];
  let [a, b] = n1 > n2 ? [n2, n1] : [n1, n2];
  b = a > budget ? a : Math.max(a, budget - a);
  if (a + b > budget) { a = Math.floor(budget / 2); b = a + (budget % 2); }
  return n1 > n2 ? [b, a] : [a, b];
}

function mayPanic(c) {
  if (c.stride === 0) return false;
  if (c.stride > c.max_length - 2) return true;   // setTruncation's own check (one text's 2 added tokens) aborts
  const n1 = c.text ? c.text.split(' ').length : 0, n2 = c.text_pair ? c.text_pair.split(' ').length : 0;
  const budget = c.max_length - 3;
  for (const capFirst of [true, false]) {
    const l1 = capFirst ? Math.min(n1, c.max_length) : n1, l2 = Math.min(n2, c.max_length);
    const [s1, s2] = shares(l1, l2, budget, c.strategy);
    if ((s1 > 0 && s1 <= c.stride && s1 < l1) || (s2 > 0 && s2 <= c.stride && s2 < l2)) return true;
  }
  return false;
}

function runChild(todo) {
  const r = spawnSync(process.execPath, [__filename, '--worker'], {
    input: JSON.stringify(todo), maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'ignore'],
  });
  return { ok: r.status === 0, lines: r.stdout.toString().split('\n').filter((l) => l.length) };
}

async function worker() {
  const t = loadTokenizers();
  const input = JSON.parse(fs.readFileSync(0, 'utf8'));
  for (const c of input) fs.writeSync(1, JSON.stringify(await probe(t, c)) + '\n');
}

async function main() {
  await checkGridTexts(loadTokenizers());
  const all = cases();
  const predicted = all.filter(mayPanic);
  for (let i = 0; i < predicted.length; i += Math.ceil(predicted.length / 24)) {
    const r = runChild([predicted[i]]);
    if (r.ok) throw new Error('predicted to abort but did not: ' + JSON.stringify(predicted[i]) + ' -> ' + r.lines[0]);
  }
  const results = new Map();
  for (const c of predicted) results.set(c, JSON.stringify(Object.assign({}, c, { error: 'panic' })));
  let todo = all.filter((c) => !mayPanic(c));
  while (todo.length) {
    const r = runChild(todo);
    r.lines.forEach((l, i) => results.set(todo[i], l));
    todo = todo.slice(r.lines.length);
    if (r.ok) break;
    if (!todo.length) throw new Error('the worker failed after the last case');
    process.stderr.write('unpredicted abort: ' + JSON.stringify(todo[0]) + '\n');
    results.set(todo[0], JSON.stringify(Object.assign({}, todo[0], { error: 'panic' })));
    todo = todo.slice(1);
  }
  for (const c of all) process.stdout.write(results.get(c) + '\n');
}

if (process.argv.includes('--worker')) worker();
else main();
