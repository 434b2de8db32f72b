// Hugging Face side of unicode_probe.cpp (same probes, same output format).
const path = require('path');
const t = require(path.join(__dirname, 'node_modules', 'tokenizers'));
const clean = t.bertNormalizer({ cleanText: true, handleChineseChars: false, stripAccents: false, lowercase: false });
const strip = t.bertNormalizer({ cleanText: false, handleChineseChars: false, stripAccents: true, lowercase: false });
const lower = t.lowercase(), nfc = t.nfcNormalizer(), nfd = t.nfdNormalizer(), nfkc = t.nfkcNormalizer(), nfkd = t.nfkdNormalizer();
const accents = t.stripAccentsNormalizer();
const bert = t.bertPreTokenizer(), bytelevel = t.byteLevelPreTokenizer(false, true), ws = t.whitespacePreTokenizer();
const pieces = (p, s) => p.preTokenizeString(s).map((x) => x[0]);
// ByteLevel pieces come back byte-mapped; map them back to text for the comparison.
const alphabet = (() => {
  const m = new Map(); let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    m.set(String.fromCodePoint(printable ? b : 256 + n++), b);
  }
  return m;
})();
const unmap = (s) => Buffer.from([...s].map((ch) => alphabet.get(ch))).toString('utf8');
const out = [];
const flush = () => { process.stdout.write(out.join('\n') + '\n'); out.length = 0; };
for (let c = 0; c < 0x110000; c++) {
  if (c >= 0xd800 && c <= 0xdfff) continue;
  if (c >= 0x40000 && c < 0xe0000) continue;
  if (c >= 0xf0000 && (c & 0xfff) !== 0 && (c & 0xffff) < 0xfffd) continue;
  const ch = String.fromCodePoint(c);
  out.push(JSON.stringify([c, clean.normalizeString('a' + ch + 'b'), strip.normalizeString('a' + ch), lower.normalizeString(ch),
    nfc.normalizeString('a' + ch), nfd.normalizeString(ch), nfkc.normalizeString(ch), nfkd.normalizeString(ch),
    accents.normalizeString('a' + ch), pieces(bert, 'a' + ch + 'b'), pieces(bytelevel, 'a' + ch).map(unmap),
    pieces(bytelevel, '1' + ch).map(unmap), pieces(bytelevel, ch + ch + 'a').map(unmap), pieces(ws, 'a' + ch + 'b'),
    nfd.normalizeString('a' + ch + '\u0334'), nfd.normalizeString('a\u0301' + ch)]));
  if (out.length >= 10000) flush();
}
flush();
