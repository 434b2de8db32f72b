// Hugging Face `tokenizers` (official Node binding) side of the parity check: same output format as
// parity.cpp.  node parity.js TOKENIZER_JSON [same options] < inputs.jsonl > out.jsonl
const path = require('path');
const readline = require('readline');
const { Tokenizer } = require(path.join(__dirname, 'node_modules', 'tokenizers'));

function dump(e) {
  const over = e.getOverflowing().map(dump);
  return {
    ids: e.getIds(), tokens: e.getTokens(), offsets: e.getOffsets(), type_ids: e.getTypeIds(),
    special_tokens_mask: e.getSpecialTokensMask(), attention_mask: e.getAttentionMask(),
    word_ids: e.getWordIds().map((x) => (x === undefined ? null : x)),
    sequence_ids: e.getSequenceIds().map((x) => (x === undefined ? null : x)),
    overflowing: over,
  };
}

async function main() {
  const args = process.argv.slice(2);
  const tok = Tokenizer.fromFile(args[0]);
  let maxLength = 0, stride = 0, strategy = 'LongestFirst', direction = 'right', special = true, decode = false;
  for (let i = 1; i < args.length; i++) {
    if (args[i] === '--max-length') maxLength = parseInt(args[++i]);
    else if (args[i] === '--stride') stride = parseInt(args[++i]);
    else if (args[i] === '--strategy') {
      const s = args[++i];
      strategy = s === 'only_first' ? 'OnlyFirst' : s === 'only_second' ? 'OnlySecond' : 'LongestFirst';
    } else if (args[i] === '--left') direction = 'left';
    else if (args[i] === '--no-special') special = false;
    else if (args[i] === '--decode') decode = true;
  }
  if (maxLength > 0) tok.setTruncation(maxLength, { stride, strategy, direction });
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of rl) {
    const inp = JSON.parse(line);
    let out;
    try {
      const e = await tok.encode(inp.text, inp.text_pair === undefined ? null : inp.text_pair, { addSpecialTokens: special });
      out = dump(e);
      if (decode) out.decoded = await tok.decode(e.getIds(), true);
    } catch (err) {
      out = { error: String(err) };
    }
    process.stdout.write(JSON.stringify(out) + '\n');
  }
}
main();
