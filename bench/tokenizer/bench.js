// Hugging Face side of the tokenizer benchmark (npm `tokenizers`, the official binding of the Rust
// library). node bench.js TOKENIZER_JSON NAME CORPUS.jsonl MODE [repeats]
// MODE single: encodeBatch with TOKENIZERS_PARALLELISM=false set by the caller (one thread, no
// per-call binding overhead); MODE batched: encodeBatch on all cores (rayon).
const fs = require('fs');
const path = require('path');
const { Tokenizer } = require(path.join(__dirname, 'node_modules', 'tokenizers'));

async function main() {
  const [file, name, corpus, mode, repeatsArg] = process.argv.slice(2);
  const repeats = parseInt(repeatsArg || '3');
  const tok = Tokenizer.fromFile(file);
  const docs = fs.readFileSync(corpus, 'utf8').split('\n').filter((l) => l.length).map((l) => JSON.parse(l).text);
  const bytes = docs.reduce((n, d) => n + Buffer.byteLength(d, 'utf8'), 0);
  let tokens = 0n, checksum = 0n;
  const mask = (1n << 64n) - 1n;
  for (const e of await tok.encodeBatch(docs)) {
    for (const id of e.getIds()) {
      tokens += 1n;
      checksum = (checksum * 1000003n + BigInt(id)) & mask;
    }
  }
  let best = Infinity;
  for (let r = 0; r < repeats; r++) {
    const t0 = process.hrtime.bigint();
    const out = await tok.encodeBatch(docs);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    if (out.length !== docs.length) throw new Error('short batch');
    best = Math.min(best, s);
  }
  const threads = mode === 'single' ? 1 : parseInt(process.env.RAYON_NUM_THREADS || require('os').cpus().length);
  console.log(JSON.stringify({ lib: 'huggingface', tokenizer: name, mode, threads, docs: docs.length, mb: +(bytes / 1e6).toFixed(3),
    tokens: Number(tokens), checksum: checksum.toString(16).padStart(16, '0'), seconds: +best.toFixed(4),
    mb_per_s: +(bytes / 1e6 / best).toFixed(3), ktokens_per_s: +(Number(tokens) / 1e3 / best).toFixed(1) }));
}
main();
