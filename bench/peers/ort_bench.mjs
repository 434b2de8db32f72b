// ONNX Runtime (onnxruntime-node, CPU execution provider, every graph optimisation) on token ids:
// the peer side of bench/peers/peer_bench.py.
//
//   node bench/peers/ort_bench.mjs --model model.onnx --ids ids.jsonl [--threads 2] [--reps 3]
//        [--batches 1,2,4,8,16,32] [--budgets 2048,4096,8192] [--opt all|extended|basic|disabled]
//
// ids.jsonl: one {"ids": [...]} per text (medenc tokenize's output). ONNX Runtime needs padded
// batches, so the texts are sorted by length and cut into batches of similar lengths, each padded to
// its longest: by a fixed number of texts (--batches), or by a budget of padded tokens (--budgets).
// Every arrangement is timed (after a warm-up pass over all its batches) and the fastest is the
// peer's number. Prints one JSON object: tokens, the arrangements' tokens/s, the best, and the
// logits of every text in input order.
import fs from 'node:fs';
import ort from 'onnxruntime-node';

function args() {
  const a = { threads: 2, reps: 3, batches: [1, 2, 4, 8, 16, 32], budgets: [2048, 4096, 8192, 16384], opt: 'all' };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, ''), value = argv[i + 1];
    if (value === undefined) throw new Error(`${argv[i]} needs a value`);
    if (key === 'batches' || key === 'budgets') a[key] = value.split(',').filter(Boolean).map(Number);
    else if (key === 'threads' || key === 'reps') a[key] = Number(value);
    else a[key] = value;
  }
  if (!a.model || !a.ids) throw new Error('usage: ort_bench.mjs --model FILE.onnx --ids ids.jsonl');
  return a;
}

// Batches of text indices: sorted by length, then cut by count or by padded-token budget.
function arrange(lengths, kind, size) {
  const order = lengths.map((_, i) => i).sort((x, y) => lengths[x] - lengths[y]);
  const batches = [];
  let current = [];
  for (const i of order) {
    const next = current.length + 1;
    const padded = next * Math.max(lengths[i], ...current.map((j) => lengths[j]));
    if (current.length && (kind === 'count' ? next > size : padded > size)) {
      batches.push(current);
      current = [];
    }
    current.push(i);
  }
  if (current.length) batches.push(current);
  return batches;
}

function feeds(texts, batch) {
  const T = Math.max(...batch.map((i) => texts[i].length));
  const ids = new BigInt64Array(batch.length * T), mask = new BigInt64Array(batch.length * T);
  batch.forEach((t, b) => texts[t].forEach((id, j) => {
    ids[b * T + j] = BigInt(id);
    mask[b * T + j] = 1n;
  }));
  const dims = [batch.length, T];
  return { input_ids: new ort.Tensor('int64', ids, dims), attention_mask: new ort.Tensor('int64', mask, dims) };
}

async function main() {
  const a = args();
  const texts = fs.readFileSync(a.ids, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l).ids);
  const lengths = texts.map((t) => t.length);
  const tokens = lengths.reduce((s, n) => s + n, 0);
  const session = await ort.InferenceSession.create(a.model, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: a.opt,
    executionMode: 'sequential',
    intraOpNumThreads: a.threads,
    interOpNumThreads: 1,
  });
  const arrangements = [
    ...a.batches.map((n) => ({ name: `${n} texts per batch`, batches: arrange(lengths, 'count', n) })),
    ...a.budgets.map((n) => ({ name: `${n} padded tokens per batch`, batches: arrange(lengths, 'budget', n) })),
  ];
  const logits = new Array(texts.length);
  const results = [];
  for (const arr of arrangements) {
    const prepared = arr.batches.map((b) => ({ batch: b, feeds: feeds(texts, b) }));
    const padded = prepared.reduce((s, p) => s + p.feeds.input_ids.size, 0);
    for (const p of prepared) {  // warm-up: allocations for these shapes; keeps the logits
      const out = await session.run(p.feeds);
      const data = out.logits.data, width = out.logits.dims[1];
      p.batch.forEach((t, b) => { logits[t] = Array.from(data.slice(b * width, (b + 1) * width)); });
    }
    const seconds = [];
    for (let r = 0; r < a.reps; ++r) {
      const t0 = process.hrtime.bigint();
      for (const p of prepared) await session.run(p.feeds);
      seconds.push(Number(process.hrtime.bigint() - t0) / 1e9);
    }
    seconds.sort((x, y) => x - y);
    const median = seconds[Math.floor(seconds.length / 2)];
    results.push({ arrangement: arr.name, batches: arr.batches.length, padded_tokens: padded, seconds: median,
                   tokens_per_s: tokens / median });
    process.stderr.write(`  ORT ${arr.name.padEnd(28)} ${(tokens / median).toFixed(0).padStart(7)} tok/s ` +
                         `(${arr.batches.length} batches, ${(100 * padded / tokens - 100).toFixed(0)}% padding)\n`);
  }
  const best = results.reduce((x, y) => (y.tokens_per_s > x.tokens_per_s ? y : x));
  console.log(JSON.stringify({ texts: texts.length, tokens, threads: a.threads, ort_version: ort.env.versions,
                               graph_optimization: a.opt,
                               arrangements: results, best, logits }));
}

main().catch((e) => {
  console.error(e.message || e);
  process.exit(1);
});
